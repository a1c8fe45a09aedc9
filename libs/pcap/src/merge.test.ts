import { readFileSync, writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { mergeByTime, mergeByTimeTagged } from './merge.js'
import { openCapture } from './open-capture.js'
import { parseCapture } from './parse-capture.js'
import { PcapWriter, encodePcap } from './pcap-writer.js'
import { asFrames, makeTempDir, pseudoBytes, run } from './test-support.js'
import type { CaptureRecord, TimedRecord } from './types.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const i of items) {
    await Promise.resolve()
    yield i
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

interface Tagged extends TimedRecord {
  tag: string
}

const t = (tsSec: number, tsNsec: number, tag: string): Tagged => ({ tsSec, tsNsec, tag })

describe('mergeByTime', () => {
  it('orders by (sec, nsec) and breaks ties by source index, keeping each source in order', async () => {
    const a = [t(1, 0, 'a1'), t(2, 5, 'a2'), t(2, 5, 'a3'), t(9, 0, 'a4')]
    const b = [t(0, 999999999, 'b1'), t(2, 5, 'b2'), t(3, 0, 'b3')]
    const c = [t(2, 4, 'c1'), t(2, 5, 'c2')]
    const merged = await collect(mergeByTime([from(a), from(b), from(c)]))
    expect(merged.map((r) => r.tag)).toEqual(['b1', 'a1', 'c1', 'a2', 'a3', 'b2', 'c2', 'b3', 'a4'])
    const tagged = await collect(mergeByTimeTagged([from(a), from([]), from(c)]))
    expect(tagged.map((m) => `${m.source}:${m.record.tag}`)).toEqual([
      '0:a1',
      '2:c1',
      '0:a2',
      '0:a3',
      '2:c2',
      '0:a4',
    ])
    expect(await collect(mergeByTime<Tagged>([]))).toEqual([])
  })

  it('equals a stable sort for random sorted inputs', async () => {
    for (let round = 0; round < 20; round++) {
      const k = 1 + (round % 7)
      let seed = round + 1
      const rnd = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      }
      const sources: Tagged[][] = []
      for (let s = 0; s < k; s++) {
        const list: Tagged[] = []
        let sec = rnd(3)
        let ns = 0
        for (let i = rnd(30); i > 0; i--) {
          if (rnd(2)) sec += rnd(2)
          ns = rnd(2) ? ns : rnd(3)
          list.push(t(sec, ns, `${s}.${i}`))
          list.sort((x, y) => x.tsSec - y.tsSec || x.tsNsec - y.tsNsec)
        }
        sources.push(list)
      }
      const expected = sources
        .flatMap((l, s) => l.map((r, i) => ({ r, s, i })))
        .sort((x, y) => x.r.tsSec - y.r.tsSec || x.r.tsNsec - y.r.tsNsec || x.s - y.s || x.i - y.i)
        .map((x) => x.r.tag)
      const merged = await collect(mergeByTime(sources.map((l) => from(l))))
      expect(merged.map((r) => r.tag)).toEqual(expected)
    }
  })

  it('closes the remaining sources when the consumer stops early', async () => {
    const closed: number[] = []
    async function* src(i: number): AsyncGenerator<Tagged> {
      try {
        for (let n = 0; n < 100; n++) {
          await Promise.resolve()
          yield t(n, i, `${i}`)
        }
      } finally {
        closed.push(i)
      }
    }
    let seen = 0
    for await (const _r of mergeByTime([src(0), src(1), src(2)])) if (++seen === 5) break
    expect(closed.sort()).toEqual([0, 1, 2])
  })

  it('matches mergecap -F pcap on three interleaved files, packet by packet', async () => {
    const files: string[] = []
    for (let f = 0; f < 3; f++) {
      const recs = []
      for (let i = 0; i < 200; i++) {
        // Interleaved times with deliberate cross-file ties (same µs) to check tie order.
        const tsNsec = ((i * 3 + f) % 5) * 1000 + (i % 4 === 0 ? 0 : f * 1000)
        recs.push({
          tsSec: 1700000000 + Math.floor(i / 2),
          tsNsec: (i % 2) * 500_000_000 + tsNsec,
          data: pseudoBytes(40 + ((i + f) % 60), f * 1000 + i),
        })
      }
      recs.sort((x, y) => x.tsSec - y.tsSec || x.tsNsec - y.tsNsec)
      const file = tmp.path(`in${f}.pcap`)
      writeFileSync(file, encodePcap(recs, { linkType: 1, resolution: 'us' }))
      files.push(file)
    }
    const expectedFile = tmp.path('mergecap.pcap')
    run('mergecap', ['-F', 'pcap', '-w', expectedFile, ...files])
    const expected = parseCapture(readFileSync(expectedFile)).records

    const readers = await Promise.all(files.map((f) => openCapture(f)))
    const outFile = tmp.path('ours.pcap')
    const parts: Uint8Array[] = []
    const w = new PcapWriter({ write: (c: Uint8Array) => void parts.push(c) }, { linkType: 1 })
    const merged: CaptureRecord[] = []
    for await (const r of mergeByTime(readers)) {
      merged.push(r)
      await w.write(r)
    }
    await w.close()
    writeFileSync(outFile, Buffer.concat(parts))
    expect(merged).toHaveLength(600)
    expect(asFrames(merged)).toEqual(asFrames(expected))
    // And the file we wrote from the merge is the same bytes as mergecap's records.
    expect(asFrames(parseCapture(readFileSync(outFile)).records)).toEqual(asFrames(expected))
  })
})
