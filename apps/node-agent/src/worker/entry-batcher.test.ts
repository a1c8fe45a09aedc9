import { describe, expect, it } from 'vitest'
import { decodeEntryBatch } from '@tapwire/wire'
import type { Entry } from '@tapwire/wire'
import { EntryBatcher } from './entry-batcher.js'
import type { EntryBatchMessage } from './protocol.js'

const entry = (i: number, body = ''): Entry => ({
  id: `n1/${i}/0`,
  node: 'n1',
  flowId: i,
  index: 0,
  ts: 1_700_000_000_000 + ((i * 7) % 13),
  proto: 'http',
  method: 'GET',
  path: `/p/${i}`,
  status: 200,
  reqHeaders: [{ name: 'Host', value: 'x' }],
  respBody: body,
})

function collect(opts: { maxEntries?: number; maxBytes?: number }) {
  const sent: EntryBatchMessage[] = []
  const b = new EntryBatcher({ node: 'n1', bootId: 'b', ...opts, send: (m) => void sent.push(m) })
  return { b, sent }
}

describe('EntryBatcher', () => {
  it('seals at maxEntries; each message decodes to its entries, in order, with its seq and time span', () => {
    const { b, sent } = collect({ maxEntries: 4 })
    for (let i = 1; i <= 10; i++) b.add(entry(i))
    expect(sent).toHaveLength(2)
    expect(b.pending).toBe(2)
    b.flush()
    expect(sent.map((m) => m.count)).toEqual([4, 4, 2])
    expect(sent.map((m) => m.msgId)).toEqual(['n1-b-1', 'n1-b-2', 'n1-b-3'])
    let i = 1
    for (const m of sent) {
      const batch = decodeEntryBatch(m.bytes)
      expect(batch.node).toBe('n1')
      expect(Number(batch.seq)).toBe(Number(m.msgId.split('-').pop()))
      const ts = batch.entries.map((e) => e.ts!)
      expect(m.oldestTs).toBe(Math.min(...ts))
      expect(m.newestTs).toBe(Math.max(...ts))
      for (const e of batch.entries) {
        expect(e.id).toBe(`n1/${i}/0`)
        expect(e.path).toBe(`/p/${i}`)
        i++
      }
    }
    b.flush()
    expect(sent).toHaveLength(3)
  })

  it('seals once the encoded entries reach maxBytes', () => {
    const { b, sent } = collect({ maxBytes: 10_000 })
    for (let i = 1; i <= 10; i++) b.add(entry(i, 'x'.repeat(3000)))
    b.flush()
    // Three 3 KB entries reach 10 KB at the fourth: messages of 4, 4 and 2 entries, each under 16 KB.
    expect(sent.map((m) => m.count)).toEqual([4, 4, 2])
    for (const m of sent) expect(m.bytes.length).toBeLessThan(16_000)
    expect(sent.flatMap((m) => decodeEntryBatch(m.bytes).entries.map((e) => e.respBody))).toEqual(
      Array.from({ length: 10 }, () => 'x'.repeat(3000))
    )
  })
})
