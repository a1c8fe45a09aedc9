/** PcapMerge against Wireshark's mergecap, tshark and our own reader, on files read in small pieces. */
import { readFileSync, writeFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { fileChunks, streamChunks } from './byte-chunks.js'
import type { ByteChunks } from './byte-chunks.js'
import { PcapBadBlockError, PcapBadMagicError, PcapBadRecordError } from './errors.js'
import { parseCapture } from './parse-capture.js'
import { PcapMerge } from './pcap-merge.js'
import type { PcapMergeOptions } from './pcap-merge.js'
import { encodePcap } from './pcap-writer.js'
import {
  asFrames,
  capinfosCount,
  concat,
  makeTempDir,
  pcapHeader,
  pcapRecord,
  pseudoBytes,
  run,
  tsharkFrames,
} from './test-support.js'
import type { WritableRecord } from './types.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

const T = 1_700_000_000

async function mergeToBuffer(sources: ByteChunks[], options: PcapMergeOptions = {}): Promise<Buffer> {
  const parts: Uint8Array[] = []
  const m = new PcapMerge(sources, options)
  for await (const p of m) parts.push(p.slice())
  const out = Buffer.concat(parts)
  expect(m.bytes).toBe(out.length)
  return out
}

/** Pieces of `size` bytes of an in-memory file (a stream source). */
function pieces(buf: Uint8Array, size: number): ByteChunks {
  const parts: Uint8Array[] = []
  for (let o = 0; o < buf.length; o += size) parts.push(buf.subarray(o, o + size))
  return streamChunks(Readable.from(parts))
}

/**
 * Three node files, ns resolution, interleaved times with cross-file ties; packet sizes from 14
 * bytes to 9000 (larger than the read pieces below, so records straddle several pieces).
 */
function nodeFiles(): string[] {
  return [0, 1, 2].map((f) => {
    const recs: WritableRecord[] = []
    for (let i = 0; i < 400; i++) {
      const ns = i * 1000 + (i % 5 === 0 ? 0 : f * 333)
      const size = i % 97 === 0 ? 9000 : 14 + ((i * 37 + f * 11) % 1500)
      recs.push({ tsSec: T + Math.floor(ns / 1e5), tsNsec: (ns % 1e5) * 1000, data: pseudoBytes(size, f * 1000 + i) })
    }
    const file = tmp.path(`node${f}.pcap`)
    writeFileSync(file, encodePcap(recs, { linkType: 1, resolution: 'ns' }))
    return file
  })
}

describe('PcapMerge', () => {
  const files = nodeFiles()

  it('writes the same bytes as mergecap -F nsecpcap, whatever the read piece size', async () => {
    const expectedFile = tmp.path('mc.pcap')
    run('mergecap', ['-F', 'nsecpcap', '-w', expectedFile, ...files])
    const expected = readFileSync(expectedFile)
    for (const chunk of [4096, 4099, 1 << 20]) {
      const out = await mergeToBuffer(
        files.map((f) => fileChunks(f, chunk)),
        { ties: 'last' }
      )
      expect(out.length).toBe(expected.length)
      expect(Buffer.compare(out, expected)).toBe(0)
    }
    // Also from 1000-byte stream pieces (a child's stdout), through small output pieces.
    const streamed = await mergeToBuffer(
      files.map((f) => pieces(readFileSync(f), 1000)),
      { ties: 'last', pieceBytes: 1 }
    )
    expect(Buffer.compare(streamed, expected)).toBe(0)
    expect(capinfosCount(expectedFile)).toBe(1200)
  })

  it('breaks timestamp ties by source order: first (stable) or last (mergecap 4.0)', async () => {
    const one = (tag: number, ns: number): Uint8Array =>
      encodePcap([{ tsSec: T, tsNsec: ns, data: Uint8Array.of(tag) }], { linkType: 1, resolution: 'ns' })
    const srcs = (): ByteChunks[] => [one(0, 5), one(1, 5), one(2, 4)].map((b) => pieces(b, 64))
    const tags = (b: Buffer): number[] => parseCapture(b).records.map((r) => r.data[0]!)
    expect(tags(await mergeToBuffer(srcs()))).toEqual([2, 0, 1])
    expect(tags(await mergeToBuffer(srcs(), { ties: 'last' }))).toEqual([2, 1, 0])
  })

  it('rewrites headers of big-endian and µs inputs; µs output truncates as mergecap -F pcap', async () => {
    // A big-endian µs file and a little-endian ns file.
    const be = tmp.path('be-us.pcap')
    writeFileSync(
      be,
      concat(
        pcapHeader(false, false, 1),
        ...[0, 2, 4].map((i) => pcapRecord(false, T, i * 10 + 7, pseudoBytes(60 + i, i), 1500))
      )
    )
    const le = tmp.path('le-ns.pcap')
    writeFileSync(
      le,
      encodePcap(
        [1, 3, 5].map((i) => ({ tsSec: T, tsNsec: (i * 10 + 7) * 1000 + 999, data: pseudoBytes(60 + i, i) })),
        { linkType: 1, resolution: 'ns' }
      )
    )
    for (const [resolution, format] of [
      ['ns', 'nsecpcap'],
      ['us', 'pcap'],
    ] as const) {
      const out = await mergeToBuffer([fileChunks(be), fileChunks(le)], { resolution, ties: 'last' })
      const mine = tmp.path(`conv-${resolution}.pcap`)
      writeFileSync(mine, out)
      const theirs = tmp.path(`conv-mc-${resolution}.pcap`)
      run('mergecap', ['-F', format, '-w', theirs, be, le])
      expect(tsharkFrames(mine)).toEqual(tsharkFrames(theirs))
      expect(parseCapture(out).records.map((r) => r.origLen)).toEqual([1500, 61, 1500, 63, 1500, 65])
    }
  })

  it('filters by time (inclusive bounds) and by a packet predicate, across piece boundaries', async () => {
    const all = parseCapture(await mergeToBuffer(files.map((f) => fileChunks(f, 4096)))).records
    const lo = T * 1000 + 1
    const hi = T * 1000 + 2.5
    const ms = (r: { tsSec: number; tsNsec: number }): number => r.tsSec * 1000 + r.tsNsec / 1e6
    const windowed = parseCapture(
      await mergeToBuffer(
        files.map((f) => fileChunks(f, 4096)),
        { startMs: lo, endMs: hi }
      )
    ).records
    expect(asFrames(windowed)).toEqual(asFrames(all.filter((r) => ms(r) >= lo && ms(r) <= hi)))
    expect(windowed.length).toBeGreaterThan(0)
    const seen: number[] = []
    const odd = parseCapture(
      await mergeToBuffer(
        files.map((f) => fileChunks(f, 4096)),
        {
          keep: (data, src) => {
            seen.push(src)
            return data.length % 2 === 1
          },
        }
      )
    ).records
    expect(asFrames(odd)).toEqual(asFrames(all.filter((r) => r.data.length % 2 === 1)))
    expect(seen.length).toBe(all.length)
  })

  it('writes pcapng with one interface per source that tshark reads like mergecap', async () => {
    const out = await mergeToBuffer(
      files.map((f) => fileChunks(f, 4096)),
      {
        format: 'pcapng',
        ties: 'last',
        interfaces: files.map((_, i) => ({ name: `node-${i}`, description: `node-${i}:eth0` })),
      }
    )
    const mine = tmp.path('merged.pcapng')
    writeFileSync(mine, out)
    const theirs = tmp.path('mc.pcapng')
    run('mergecap', ['-w', theirs, ...files])
    const parsed = parseCapture(out)
    expect(parsed.info.interfaces.map((i) => [i.name, i.description])).toEqual(
      files.map((_, i) => [`node-${i}`, `node-${i}:eth0`])
    )
    // Same frames in the same order (mergecap folds identical interfaces into one, so the
    // interface ids are compared separately: each packet is on the interface of its node).
    const noIf = (f: { ifId: number }): unknown => ({ ...f, ifId: 0 })
    expect(tsharkFrames(mine).map(noIf)).toEqual(tsharkFrames(theirs).map(noIf))
    const nodeOf = new Map<string, number>()
    files.forEach((f, i) => {
      for (const r of parseCapture(readFileSync(f)).records) nodeOf.set(Buffer.from(r.data).toString('hex'), i)
    })
    expect(parsed.records.map((r) => r.ifIndex)).toEqual(
      parsed.records.map((r) => nodeOf.get(Buffer.from(r.data).toString('hex')))
    )
  })

  it('refuses bad inputs with stable errors; a torn last record is dropped and counted', async () => {
    await expect(mergeToBuffer([pieces(new Uint8Array(32).fill(7), 32)])).rejects.toBeInstanceOf(
      PcapBadMagicError
    )
    const huge = concat(pcapHeader(true, true, 1), pcapRecord(true, T, 0, new Uint8Array(8)))
    new DataView(huge.buffer).setUint32(24 + 8, 1 << 30, true)
    await expect(mergeToBuffer([pieces(huge, 16)])).rejects.toBeInstanceOf(PcapBadBlockError)
    const raw = encodePcap([{ tsSec: T, tsNsec: 0, data: new Uint8Array(4) }], { linkType: 101 })
    const eth = encodePcap([{ tsSec: T, tsNsec: 0, data: new Uint8Array(4) }], { linkType: 1 })
    await expect(mergeToBuffer([pieces(raw, 99), pieces(eth, 99)])).rejects.toBeInstanceOf(
      PcapBadRecordError
    )
    // Link types may differ in pcapng, one interface each.
    expect(parseCapture(await mergeToBuffer([pieces(raw, 9), pieces(eth, 9)], { format: 'pcapng' })).records).toHaveLength(2)
    const whole = readFileSync(files[0]!)
    const torn = whole.subarray(0, whole.length - 5)
    const m = new PcapMerge([pieces(torn, 777)])
    let n = 0
    for await (const p of m) n += p.length
    expect(m.packets).toBe(399)
    expect(m.truncatedBytes).toBeGreaterThan(0)
    expect(n).toBe(whole.length - m.truncatedBytes - 5)
  })

  it('reuses a piece only once it is released; pieces kept are never written again', async () => {
    const m = new PcapMerge(
      files.map((f) => fileChunks(f, 4096)),
      { pieceBytes: 1, reusedPieces: 2 }
    )
    // Pieces share the merge's arena: the same memory is the same buffer at the same offset.
    const at = (p: Uint8Array): string =>
      `${p.buffer === m.memory ? 'arena' : 'fresh'}@${p.byteOffset}`
    const kept = (await m.read())!
    const copy = kept.slice()
    const second = (await m.read())!
    expect(at(second)).not.toBe(at(kept))
    m.release(second)
    m.release(second)
    const third = (await m.read())!
    expect(at(third)).toBe(at(second))
    // A stale release (the same memory went out again as `third`) is ignored: with both slots out,
    // the fourth piece is fresh memory, and the kept one is untouched.
    m.release(second)
    const fourth = (await m.read())!
    expect(fourth.buffer).not.toBe(m.memory)
    expect(Buffer.compare(kept, copy)).toBe(0)
    await m.close()
  })

  it('stops early: close() releases every source', async () => {
    let closed = 0
    const tracked = files.map((f) => {
      const c = fileChunks(f, 4096)
      return { next: () => c.next(), close: async () => (closed++, c.close()) }
    })
    const m = new PcapMerge(tracked, { pieceBytes: 1 })
    expect((await m.read())!.length).toBeGreaterThan(24)
    await m.close()
    expect(closed).toBe(3)
    expect(await m.read()).toBeNull()
  })
})
