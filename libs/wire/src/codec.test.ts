import { describe, expect, it } from 'vitest'
import {
  decodeAgentStatus,
  decodeEntryBatch,
  encodeAgentStatus,
  encodeEntryBatch,
  formatEntryId,
  parseEntryId,
  subjects,
  toNodeToken,
  WireDecodeError,
} from './index.js'

describe('EntryBatch codec', () => {
  it('round-trips entries with 64-bit ids as plain numbers', () => {
    const bytes = encodeEntryBatch({
      node: 'n1',
      seq: 7,
      entries: [
        {
          id: 'n1/9007199254740/3',
          flowId: 9007199254740,
          index: 3,
          ts: 1769998106100.25,
          proto: 'http',
          method: 'GET',
          status: 200,
          reqHeaders: [
            { name: 'Accept', value: 'a' },
            { name: 'accept', value: 'b' },
          ],
          attrs: [{ name: 'grpc_status', num: 0 }, { name: 'dns_questions', list: { values: ['x.'] } }],
        },
      ],
    })
    const batch = decodeEntryBatch(bytes)
    expect(batch.seq).toBe(7)
    const e = batch.entries[0]!
    expect(e.flowId).toBe(9007199254740)
    expect(typeof e.flowId).toBe('number')
    expect(e.ts).toBe(1769998106100.25)
    expect(e.reqHeaders!.map((h) => h.value)).toEqual(['a', 'b'])
    expect(e.attrs![1]!.list!.values).toEqual(['x.'])
    expect(e.attrs![0]!.value).toBe('num')
  })

  it('rejects garbage with a stable code', () => {
    expect(() => decodeEntryBatch(new Uint8Array([0x0a, 0xff, 0xff, 0xff]))).toThrow(WireDecodeError)
    try {
      decodeAgentStatus(new Uint8Array([0x0a, 0x05, 0x01]))
    } catch (e) {
      expect((e as WireDecodeError).code).toBe('WIRE_DECODE_FAILED')
    }
  })

  it('keeps the heartbeat stats', () => {
    const s = decodeAgentStatus(
      encodeAgentStatus({ node: 'a', stats: { packetsSeen: 12345678901, queueDrops: 2 } })
    )
    expect(s.stats?.packetsSeen).toBe(12345678901)
    expect(s.stats?.queueDrops).toBe(2)
  })
})

describe('subjects and ids', () => {
  it('builds subjects only from safe node tokens', () => {
    expect(subjects.entries('worker-1')).toBe('tapwire.entries.worker-1')
    expect(() => subjects.entries('a.b')).toThrow(/subject token/)
    expect(() => subjects.agentVerb('*', 'details')).toThrow()
    expect(toNodeToken('ip-10-0-1-5.ec2.internal')).toBe('ip-10-0-1-5-ec2-internal')
  })

  it('parses both id forms of the spec', () => {
    expect(parseEntryId(formatEntryId('node1', 204, 0))).toEqual({ node: 'node1', flowId: 204, index: 0 })
    expect(parseEntryId('/170710/0', 'worker-1')).toEqual({ node: 'worker-1', flowId: 170710, index: 0 })
    expect(parseEntryId('/170710/0')).toBeUndefined()
    expect(parseEntryId('../etc/passwd')).toBeUndefined()
    expect(parseEntryId('n/1/x')).toBeUndefined()
  })
})
