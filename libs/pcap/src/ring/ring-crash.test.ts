import {
  cpSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
  existsSync,
} from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { capinfosCount, makeTempDir, run } from '../test-support.js'
import { PcapRing } from './ring.js'
import {
  BASE_SEC,
  ETHERNET,
  collect,
  dirBytes,
  idOf,
  makePackets,
  msOf,
  segmentFiles,
  toBatches,
} from './test-helpers.js'

let tmp: ReturnType<typeof makeTempDir>
beforeEach(() => {
  tmp = makeTempDir()
})
afterEach(() => tmp.remove())

const B = BASE_SEC * 1000
const OPTS = { maxBytes: 64 << 20, segmentBytes: 64 << 10, indexEvery: 16, linkType: ETHERNET }

/** End offsets of the complete records of a pcap file. */
function recordEnds(file: string): number[] {
  const b = readFileSync(file)
  const ends: number[] = []
  let o = 24
  while (o + 16 <= b.length) {
    const cap = b.readUInt32LE(o + 8)
    if (o + 16 + cap > b.length) break
    o += 16 + cap
    ends.push(o)
  }
  return ends
}

/** tshark reads every segment without a warning about the file. */
function tsharkClean(dir: string): void {
  for (const f of segmentFiles(dir)) {
    const out = run('tshark', ['-r', f, '-T', 'fields', '-e', 'frame.number'])
    expect(out.trim().split('\n').length).toBe(capinfosCount(f))
  }
}

/**
 * A crash: the ring is left live (never closed, live index not finalised) and its files are copied
 * as they are on disk at that moment; the copy is then damaged as a crash or power loss would.
 */
async function crashedCopy(
  n: number
): Promise<{ live: PcapRing; dir: string; last: string; before: number }> {
  const live = await PcapRing.open(tmp.path('live'), OPTS)
  for (const b of toBatches(makePackets(n), 100)) live.append(b)
  await live.flush()
  const dir = tmp.path('crashed')
  cpSync(tmp.path('live'), dir, { recursive: true })
  const segs = segmentFiles(dir)
  const last = segs[segs.length - 1]!
  const before = segs.slice(0, -1).reduce((t, f) => t + capinfosCount(f), 0)
  return { live, dir, last, before }
}

describe('PcapRing crash recovery', () => {
  it('cuts a tear in the middle of record data, rebuilds a deleted index, and goes on', async () => {
    const { live, dir, last, before } = await crashedCopy(2000)
    const ends = recordEnds(last)
    expect(ends.length).toBeGreaterThan(20)
    truncateSync(last, ends[9]! + 16 + 5) // record 11: header and 5 data bytes
    rmSync(last.replace(/\.pcap$/, '.idx'))
    const ring = await PcapRing.open(dir, OPTS)
    expect(ring.recovery.truncatedBytes).toBe(21)
    expect(ring.recovery.rebuiltIndexes).toBe(1)
    const want = before + 10
    expect(ring.stats().packets).toBe(want)
    const got = await collect(ring.slice(0, B * 2))
    expect(got.map(idOf)).toEqual([...Array(want).keys()])
    expect(readFileSync(last).length).toBe(ends[9])
    // Appends go on, in a new segment, and are sliceable with the old data.
    for (const b of toBatches(makePackets(300, { first: 5000 }), 100)) ring.append(b)
    await ring.close()
    const again = await PcapRing.open(dir, OPTS)
    expect(again.recovery.rebuiltIndexes).toBe(0)
    expect(again.stats().packets).toBe(want + 300)
    expect((await collect(again.slice(B + 4000, B + 6000))).map(idOf)).toEqual(
      [...Array(300).keys()].map((i) => 5000 + i)
    )
    await again.close()
    tsharkClean(dir)
    await live.close()
  })

  it('cuts a tear inside a record header and ignores a corrupt index', async () => {
    const { live, dir, last, before } = await crashedCopy(1500)
    const ends = recordEnds(last)
    truncateSync(last, ends[4]! + 7)
    const idx = last.replace(/\.pcap$/, '.idx')
    const junk = Buffer.alloc(200, 0xa5)
    writeFileSync(idx, junk)
    const ring = await PcapRing.open(dir, OPTS)
    expect(ring.stats().packets).toBe(before + 5)
    expect(ring.recovery.truncatedBytes).toBe(7)
    expect((await collect(ring.slice(0, B * 2))).length).toBe(before + 5)
    await ring.close()
    tsharkClean(dir)
    await live.close()
  })

  it('cuts a zero-filled tail (power loss) instead of serving empty 1970 records', async () => {
    const { live, dir, last, before } = await crashedCopy(1200)
    const n = recordEnds(last).length
    appendFileSync(last, Buffer.alloc(4096))
    const ring = await PcapRing.open(dir, OPTS)
    expect(ring.recovery.truncatedBytes).toBe(4096)
    const got = await collect(ring.slice(0, B * 2))
    expect(got.length).toBe(before + n)
    expect(got.every((r) => r.tsSec >= BASE_SEC)).toBe(true)
    await ring.close()
    tsharkClean(dir)
    await live.close()
  })

  it('rebuilds a finalised index that no longer matches its segment', async () => {
    const ring0 = await PcapRing.open(tmp.path('r'), OPTS)
    for (const b of toBatches(makePackets(1000), 100)) ring0.append(b)
    await ring0.close()
    const segs = segmentFiles(tmp.path('r'))
    const mid = segs[1]!
    const ends = recordEnds(mid)
    truncateSync(mid, ends[ends.length - 3]! + 1)
    const ring = await PcapRing.open(tmp.path('r'), OPTS)
    expect(ring.recovery.rebuiltIndexes).toBe(1)
    expect(ring.stats().packets).toBe(998)
    await ring.close()
  })

  it('drops unreadable segments and orphan indexes', async () => {
    const ring0 = await PcapRing.open(tmp.path('r'), OPTS)
    for (const b of toBatches(makePackets(600), 100)) ring0.append(b)
    await ring0.close()
    const segs = segmentFiles(tmp.path('r'))
    truncateSync(segs[segs.length - 1]!, 10) // header torn: nothing to keep
    writeFileSync(tmp.path('r/seg-0000000099-01700000000000000000.idx'), 'x')
    const ring = await PcapRing.open(tmp.path('r'), OPTS)
    expect(ring.recovery.removed.length).toBe(2)
    expect(existsSync(segs[segs.length - 1]!)).toBe(false)
    expect(ring.stats().bytes).toBe(dirBytes(tmp.path('r')))
    await ring.close()
  })
})

describe('PcapRing restart', () => {
  it('keeps data, boundaries and stats across close/open and goes on appending', async () => {
    const dir = tmp.path('r')
    const pkts = makePackets(2500)
    const a = await PcapRing.open(dir, OPTS)
    for (const b of toBatches(pkts, 100)) a.append(b)
    await a.close()
    const files = segmentFiles(dir)
    const sa = a.stats()
    const b = await PcapRing.open(dir, OPTS)
    expect(b.recovery).toMatchObject({ rebuiltIndexes: 0, truncatedBytes: 0, removed: [] })
    const sb = b.stats()
    for (const k of ['oldestTs', 'newestTs', 'bytes', 'packets', 'segments'] as const)
      expect(sb[k]).toBe(sa[k])
    expect(segmentFiles(dir)).toEqual(files)
    expect((await collect(b.slice(B + 100, B + 200))).map(idOf)).toEqual(
      pkts.slice(100, 201).map(idOf)
    )
    for (const x of toBatches(makePackets(100, { first: 2500 }), 50)) b.append(x)
    await b.flush()
    expect(segmentFiles(dir).length).toBe(files.length + 1)
    expect(b.stats().newestTs).toBe(msOf(makePackets(1, { first: 2599 })[0]!))
    expect((await collect(b.slice(B + 2490, B + 2510))).map(idOf)).toEqual(
      [...Array(21).keys()].map((i) => 2490 + i)
    )
    await b.close()
    // A smaller bound on restart trims the oldest segments at once.
    const c = await PcapRing.open(dir, { ...OPTS, maxBytes: 200_000 })
    expect(c.stats().bytes).toBeLessThanOrEqual(200_000)
    expect(c.stats().newestTs).toBe(B + 2599)
    expect(dirBytes(dir)).toBe(c.stats().bytes)
    await c.close()
    tsharkClean(dir)
  })
})
