/**
 * PcapMerge's fast paths against a plain reference merge, byte for byte: run copying (a source's
 * consecutive records that still sort first go out as one copy), file buffers in the merge's
 * arena, the WebAssembly merge kernel (file sources copied as they are), records that straddle
 * read pieces, output pieces that end inside a run, ties, filters (which turn run copying off)
 * and sources that need their headers rewritten (big-endian, µs).
 */
import { writeFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { newArena } from './arena.js'
import { fileChunks, streamChunks } from './byte-chunks.js'
import type { ByteChunks } from './byte-chunks.js'
import { PcapBadBlockError } from './errors.js'
import { MAX_CAPLEN } from './limits.js'
import { MergeKernel } from './merge-kernel.js'
import { parseCapture } from './parse-capture.js'
import { PcapMerge } from './pcap-merge.js'
import type { PcapMergeOptions } from './pcap-merge.js'
import { encodePcapHeader } from './pcap-writer.js'
import { concat, makeTempDir, pcapHeader, pcapRecord, pseudoBytes } from './test-support.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

const T = 1_700_000_000

interface Rec {
  sec: number
  /** The fraction as stored (ns or µs, per the source). */
  frac: number
  data: Uint8Array
  origLen: number
}
interface Source {
  le: boolean
  ns: boolean
  recs: Rec[]
}

const bytesOf = (s: Source): Uint8Array =>
  concat(
    pcapHeader(s.le, s.ns, 1),
    ...s.recs.map((r) => pcapRecord(s.le, r.sec, r.frac, r.data, r.origLen))
  )

/** In-memory pieces of `size` bytes (a stream source: the merge cannot adopt its buffers). */
function pieces(buf: Uint8Array, size: number): ByteChunks {
  const parts: Uint8Array[] = []
  for (let o = 0; o < buf.length; o += size) parts.push(buf.subarray(o, o + size))
  return streamChunks(Readable.from(parts))
}

const nsOf = (s: Source, r: Rec): number => r.frac * (s.ns ? 1 : 1000)

/**
 * The merge as specified, the slow way: filter each source, then repeatedly take the earliest
 * head (a tie to the first or the last source), and encode each record as classic pcap: as it is
 * when the source is little-endian in the output's unit, else with a rewritten header.
 */
function reference(sources: Source[], o: PcapMergeOptions): Uint8Array {
  const outNs = (o.resolution ?? 'ns') === 'ns'
  const kept = sources.map((s, i) =>
    s.recs.filter((r) => {
      const ms = r.sec * 1000 + nsOf(s, r) / 1e6
      if (o.startMs !== undefined && ms < o.startMs) return false
      if (o.endMs !== undefined && ms > o.endMs) return false
      return o.keep === undefined || o.keep(r.data, i)
    })
  )
  const at = kept.map(() => 0)
  const header = new Uint8Array(24)
  encodePcapHeader(new DataView(header.buffer), 0, 1, outNs ? 'ns' : 'us', 262144)
  const parts: Uint8Array[] = [header]
  for (;;) {
    let best = -1
    for (let i = 0; i < kept.length; i++) {
      if (at[i]! >= kept[i]!.length) continue
      if (best < 0) {
        best = i
        continue
      }
      const a = kept[i]![at[i]!]!
      const b = kept[best]![at[best]!]!
      const d = a.sec - b.sec || nsOf(sources[i]!, a) - nsOf(sources[best]!, b)
      if (d < 0 || (d === 0 && o.ties === 'last')) best = i
    }
    if (best < 0) break
    const s = sources[best]!
    const r = kept[best]![at[best]!++]!
    const ns = nsOf(s, r)
    parts.push(
      s.le && s.ns === outNs
        ? pcapRecord(true, r.sec, r.frac, r.data, r.origLen)
        : pcapRecord(true, r.sec, outNs ? ns : Math.floor(ns / 1000), r.data, r.origLen)
    )
  }
  return concat(...parts)
}

/**
 * Reads the whole merge, holding the last `hold` pieces out (as a socket holds them) before giving
 * the oldest back: a piece that overflowed its slot would show in the next one. Holding more
 * pieces than the merge reuses (4) makes it hand out fresh memory in between.
 */
async function merged(sources: ByteChunks[], o: PcapMergeOptions, hold = 1): Promise<Buffer> {
  const m = new PcapMerge(sources, o)
  const parts: Buffer[] = []
  const limit = Math.max(o.pieceBytes ?? 512 << 10, 262144 + 64)
  const held: { piece: Uint8Array; copy: Buffer }[] = []
  for (let p = await m.read(); p !== null; p = await m.read()) {
    expect(p.length).toBeLessThanOrEqual(limit)
    const copy = Buffer.from(p)
    parts.push(copy)
    for (const x of held) expect(Buffer.compare(x.piece, x.copy)).toBe(0)
    held.push({ piece: p, copy })
    if (held.length > hold) m.release(held.shift()!.piece)
  }
  const out = Buffer.concat(parts)
  expect(m.bytes).toBe(out.length)
  return out
}

/**
 * Sources as captures of bursty traffic: a global clock (steps of 0-3 µs, so cross-source ties
 * are common) hands bursts of 1-12 packets to one source at a time, so runs are long; a few
 * packets are larger than the read pieces.
 */
const sourcesArb = fc
  .record({
    k: fc.integer({ min: 1, max: 4 }),
    bursts: fc.array(
      fc.record({
        src: fc.nat(),
        len: fc.integer({ min: 1, max: 12 }),
        step: fc.integer({ min: 0, max: 3 }),
        size: fc.integer({ min: 0, max: 400 }),
        big: fc.boolean(),
      }),
      { maxLength: 40 }
    ),
    le: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    ns: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  })
  .map(({ k, bursts, le, ns }) => {
    const sources: Source[] = Array.from({ length: k }, (_, i) => ({
      le: le[i]!,
      ns: ns[i]!,
      recs: [],
    }))
    let us = 0
    let n = 0
    for (const b of bursts) {
      const s = sources[b.src % k]!
      for (let j = 0; j < b.len; j++) {
        us += j === 0 ? b.step : b.step % 2
        const size = b.big && j === 0 ? 3000 + b.size : b.size + j
        s.recs.push({
          sec: T + Math.floor(us / 1e6),
          frac: s.ns ? (us % 1e6) * 1000 : us % 1e6,
          data: pseudoBytes(size, n++),
          origLen: size + (n % 3 === 0 ? 100 : 0),
        })
      }
    }
    return sources
  })

describe('PcapMerge run copying and arena', () => {
  it('writes what the reference merge writes, byte for byte (pieces, ties, filters, units)', async () => {
    await fc.assert(
      fc.asyncProperty(
        sourcesArb,
        fc.integer({ min: 7, max: 2000 }),
        fc.constantFrom<'first' | 'last'>('first', 'last'),
        fc.constantFrom<'ns' | 'us'>('ns', 'us'),
        fc.constantFrom('none', 'window', 'keep'),
        async (sources, pieceSize, ties, resolution, filter) => {
          const o: PcapMergeOptions = { ties, resolution }
          if (filter === 'window') {
            o.startMs = T * 1000 + 0.02
            o.endMs = T * 1000 + 0.06
          } else if (filter === 'keep') o.keep = (data) => data.length % 3 !== 0
          const want = reference(sources, o)
          const got = await merged(
            sources.map((s) => pieces(bytesOf(s), pieceSize)),
            o
          )
          expect(Buffer.compare(got, want)).toBe(0)
        }
      ),
      { numRuns: 300 }
    )
  })

  it('stops a run where the output piece ends, and reads file buffers placed in the arena', async () => {
    // ~2.6 MB over 3 files in long bursts: runs cross the 256 KiB output pieces and the 4 or
    // 64 KiB read pieces (records straddle those); ties between bursts. The files' read buffers
    // are in the arena, so records move with the arena's copy.
    const sources: Source[] = [0, 1, 2].map(() => ({ le: true, ns: true, recs: [] }))
    let us = 0
    for (let b = 0; b < 600; b++) {
      const s = sources[(b * 7) % 3]!
      for (let j = 0; j < 1 + (b % 9); j++) {
        us += j === 0 ? b % 2 : 1
        s.recs.push({
          sec: T + Math.floor(us / 1e6),
          frac: (us % 1e6) * 1000,
          data: pseudoBytes(100 + ((b * 131 + j * 17) % 1400), b * 16 + j),
          origLen: 1514,
        })
      }
    }
    const files = sources.map((s, i) => {
      const f = tmp.path(`runs-${i}.pcap`)
      writeFileSync(f, bytesOf(s))
      return f
    })
    for (const ties of ['first', 'last'] as const) {
      const want = reference(sources, { ties })
      for (const readBytes of [4096, 65536]) {
        // Holding 6 pieces out: some pieces are fresh memory, merged without the kernel.
        for (const hold of [1, 6]) {
          const got = await merged(
            files.map((f) => fileChunks(f, readBytes)),
            { ties, pieceBytes: 1 },
            hold
          )
          expect(got.length).toBe(want.length)
          expect(Buffer.compare(got, want)).toBe(0)
        }
      }
    }
    expect(parseCapture(reference(sources, {})).records.length).toBe(
      sources.reduce((n, s) => n + s.recs.length, 0)
    )
  })

  it('orders a fraction of a second or more by its carry, and copies the record as it is', async () => {
    // ns source: the second record claims 1.5e9 ns (a broken writer): it sorts at T+1.5 s, after
    // the other source's T+1.2 s record, and ends the first source's run.
    const a: Source = {
      le: true,
      ns: true,
      recs: [
        { sec: T, frac: 1, data: Uint8Array.of(1), origLen: 1 },
        { sec: T, frac: 1_500_000_000, data: Uint8Array.of(2), origLen: 1 },
      ],
    }
    const b: Source = {
      le: true,
      ns: true,
      recs: [{ sec: T + 1, frac: 200_000_000, data: Uint8Array.of(3), origLen: 1 }],
    }
    const out = await merged([pieces(bytesOf(a), 999), pieces(bytesOf(b), 999)], {})
    expect([...out.subarray(24)].filter((_, i) => i % 17 === 16)).toEqual([1, 3, 2])
    expect(
      Buffer.compare(
        out.subarray(24 + 17 * 2),
        Buffer.from(pcapRecord(true, T, 1_500_000_000, Uint8Array.of(2)))
      )
    ).toBe(0)
  })

  it('hands out fresh memory for every piece when no piece is to be reused', async () => {
    const src: Source = {
      le: true,
      ns: true,
      recs: [{ sec: T, frac: 0, data: new Uint8Array(200_000), origLen: 1 }],
    }
    const two: Source = { ...src, recs: [...src.recs, ...src.recs] }
    const m = new PcapMerge([pieces(bytesOf(two), 65536)], { reusedPieces: 0, pieceBytes: 1 })
    const a = (await m.read())!
    m.release(a)
    const b = (await m.read())!
    expect(a.buffer).not.toBe(m.memory)
    expect(b.buffer).not.toBe(a.buffer)
    expect(await m.read()).toBeNull()
  })

  it('copies within the arena like memmove', () => {
    const a = newArena(70_000)
    expect(a.bytes.length).toBeGreaterThanOrEqual(70_000)
    a.bytes.set([1, 2, 3, 4, 5], 65_530)
    a.copy(3, 65_530, 5)
    expect([...a.bytes.subarray(3, 8)]).toEqual([1, 2, 3, 4, 5])
    // Overlapping, forward by one.
    a.copy(4, 3, 5)
    expect([...a.bytes.subarray(3, 9)]).toEqual([1, 1, 2, 3, 4, 5])
    // Out of bounds traps instead of writing past the memory.
    expect(() => a.copy(a.bytes.length - 2, 0, 5)).toThrow()
  })
})

describe('PcapMerge through the WebAssembly merge kernel', () => {
  afterEach(() => vi.restoreAllMocks())
  let fileNo = 0
  const filesOf = (sources: Source[]): string[] =>
    sources.map((s) => {
      const f = tmp.path(`kernel-${fileNo++}.pcap`)
      writeFileSync(f, bytesOf(s))
      return f
    })

  it('writes what the reference merge writes, byte for byte (read pieces, output pieces, ties, units)', async () => {
    const runs = vi.spyOn(MergeKernel.prototype, 'run')
    await fc.assert(
      fc.asyncProperty(
        sourcesArb,
        fc.integer({ min: 4096, max: 20_000 }),
        fc.constantFrom<'first' | 'last'>('first', 'last'),
        fc.constantFrom<'ns' | 'us'>('ns', 'us'),
        fc.boolean(),
        fc.constantFrom(1, 6),
        async (drawn, readBytes, ties, resolution, smallPieces, hold) => {
          // Little-endian sources in the output's unit: what the kernel takes.
          const sources = drawn.map((s) => ({
            le: true,
            ns: resolution === 'ns',
            recs: s.recs.map((r) => ({
              ...r,
              frac: s.ns === (resolution === 'ns') ? r.frac : s.ns ? r.frac / 1000 : r.frac * 1000,
            })),
          }))
          const o: PcapMergeOptions = {
            ties,
            resolution,
            ...(smallPieces ? { pieceBytes: 1 } : {}),
          }
          const want = reference(sources, o)
          const got = await merged(
            filesOf(sources).map((f) => fileChunks(f, readBytes)),
            o,
            hold
          )
          expect(Buffer.compare(got, want)).toBe(0)
        }
      ),
      { numRuns: 150 }
    )
    expect(runs).toHaveBeenCalled()
  })

  it('orders a fraction of a second or more by its carry, as the JavaScript path does', async () => {
    const runs = vi.spyOn(MergeKernel.prototype, 'run')
    const a: Source = {
      le: true,
      ns: true,
      recs: [
        { sec: T, frac: 1, data: Uint8Array.of(1), origLen: 1 },
        { sec: T, frac: 1_500_000_000, data: Uint8Array.of(2), origLen: 1 },
        { sec: T + 2, frac: 0, data: Uint8Array.of(4), origLen: 1 },
      ],
    }
    const b: Source = {
      le: true,
      ns: true,
      recs: [
        { sec: T, frac: 2, data: Uint8Array.of(5), origLen: 1 },
        { sec: T + 1, frac: 200_000_000, data: Uint8Array.of(3), origLen: 1 },
      ],
    }
    const out = await merged(
      filesOf([a, b]).map((f) => fileChunks(f)),
      {}
    )
    expect(runs).toHaveBeenCalled()
    expect([...out.subarray(24)].filter((_, i) => i % 17 === 16)).toEqual([1, 5, 3, 2, 4])
  })

  it('leaves an impossible captured length to the JavaScript path, which reports where it is', async () => {
    const runs = vi.spyOn(MergeKernel.prototype, 'run')
    const good = (n: number) => pcapRecord(true, T, n, new Uint8Array(100))
    // The largest record allowed goes through; one byte more is corruption.
    const ok = concat(
      pcapHeader(true, true, 1),
      good(1),
      pcapRecord(true, T, 2, new Uint8Array(MAX_CAPLEN)),
      good(3)
    )
    // Whole in the read piece, so only the length check can stop it.
    const bad = concat(
      pcapHeader(true, true, 1),
      good(1),
      pcapRecord(true, T, 2, new Uint8Array(MAX_CAPLEN + 1)),
      good(3)
    )
    const okFile = tmp.path('kernel-ok.pcap')
    const badFile = tmp.path('kernel-bad.pcap')
    const other = tmp.path('kernel-other.pcap')
    writeFileSync(okFile, ok)
    writeFileSync(badFile, bad)
    writeFileSync(other, concat(pcapHeader(true, true, 1), good(0)))
    const out = await merged([fileChunks(okFile), fileChunks(other)], {})
    expect(parseCapture(out).records.map((r) => r.data.length)).toEqual([100, 100, MAX_CAPLEN, 100])
    expect(runs).toHaveBeenCalled()
    const m = new PcapMerge([fileChunks(badFile), fileChunks(other)])
    const err = await (async () => {
      try {
        for (let p = await m.read(); p !== null; p = await m.read()) m.release(p)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(PcapBadBlockError)
    expect((err as PcapBadBlockError).offset).toBe(24 + 116)
    await m.close()
  })
})
