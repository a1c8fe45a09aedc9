import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BatchBuilder } from '@tapwire/packet'
import { capinfosCount, epochOf, makeTempDir, run, tsharkEpochLens } from '../test-support.js'
import { PcapRing } from './ring.js'
import { PcapRingError } from './errors.js'
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
import type { Pkt } from './test-helpers.js'

let tmp: ReturnType<typeof makeTempDir>
beforeEach(() => {
  tmp = makeTempDir()
})
afterEach(() => tmp.remove())

const B = BASE_SEC * 1000

function expectSame(
  got: { tsSec: number; tsNsec: number; data: Uint8Array }[],
  want: readonly Pkt[]
): void {
  expect(got.map(idOf)).toEqual(want.map(idOf))
  for (let i = 0; i < want.length; i++) {
    expect([got[i]!.tsSec, got[i]!.tsNsec]).toEqual([want[i]!.tsSec, want[i]!.tsNsec])
    expect(Buffer.from(got[i]!.data).equals(Buffer.from(want[i]!.data))).toBe(true)
  }
}

async function filled(
  pkts: Pkt[],
  opts: { segmentBytes?: number; indexEvery?: number; maxBytes?: number } = {}
): Promise<PcapRing> {
  const ring = await PcapRing.open(tmp.path('ring'), {
    maxBytes: opts.maxBytes ?? 64 << 20,
    segmentBytes: opts.segmentBytes ?? 64 << 10,
    indexEvery: opts.indexEvery ?? 16,
    linkType: ETHERNET,
  })
  for (const b of toBatches(pkts, 100)) ring.append(b)
  await ring.flush()
  return ring
}

describe('PcapRing slices', () => {
  it('returns exactly the packets of each window, in order, across segments', async () => {
    const pkts = makePackets(5000) // 1 ms apart: 5 s of capture, ~1.6 MB, ~25 segments
    const ring = await filled(pkts)
    const s = ring.stats()
    expect(s.packets).toBe(5000)
    expect(s.segments).toBeGreaterThan(10)
    expect(s.oldestTs).toBe(B)
    expect(s.newestTs).toBe(B + 4999)
    expect(s.bytes).toBe(dirBytes(tmp.path('ring')))
    const windows: [number, number][] = [
      [B - 10_000, B + 10_000], // everything
      [B, B + 99], // start
      [B + 2000.5, B + 3000], // middle, fractional start
      [B + 4900, B + 4999], // end
      [B + 4999, B + 9999], // last packet only
      [B + 1234, B + 1234], // one packet, start == end
    ]
    for (const [a, z] of windows) {
      const want = pkts.filter((p) => msOf(p) >= a && msOf(p) <= z)
      expectSame(await collect(ring.slice(a, z)), want)
    }
    // Across every segment boundary: a window around each segment's first packet.
    for (const f of segmentFiles(tmp.path('ring')).slice(1)) {
      const first =
        Number(/-(\d{20})\.pcap$/.exec(f)![1]!.slice(0, 11)) * 1000 +
        Number(/-(\d{20})\.pcap$/.exec(f)![1]!.slice(11)) / 1e6
      const want = pkts.filter((p) => msOf(p) >= first - 3 && msOf(p) <= first + 3)
      expect(want.length).toBe(7)
      expectSame(await collect(ring.slice(first - 3, first + 3)), want)
    }
    // Empty windows: before, after, between two packets, inverted.
    for (const [a, z] of [
      [B - 5000, B - 1],
      [B + 5000, B + 6000],
      [B + 10.2, B + 10.8],
      [B + 20, B + 10],
    ] as const) {
      expect(await collect(ring.slice(a, z))).toEqual([])
    }
    await ring.close()
  })

  it('applies a record predicate', async () => {
    const pkts = makePackets(1000)
    const ring = await filled(pkts)
    const got = await collect(ring.slice(B, B + 1e6, (r) => idOf(r) % 7 === 0))
    expectSame(
      got,
      pkts.filter((p) => idOf(p) % 7 === 0)
    )
    await ring.close()
  })

  it('finds every packet of a window when timestamps jitter (index by block min/max)', async () => {
    // ±3 ms of jitter on 1 ms spacing: neighbours are out of order, as with several capture CPUs.
    const jitter = (i: number): number => (((i * 7919) % 7) - 3) * 1_000_000
    const pkts = makePackets(4000, { jitterNs: jitter, first: 10 })
    const ring = await filled(pkts, { indexEvery: 8 })
    for (const [a, z] of [
      [B + 500, B + 700],
      [B + 1999.5, B + 2000.5],
      [B + 13, B + 14],
      [B, B + 99_999],
    ] as const) {
      const want = pkts.filter((p) => msOf(p) >= a && msOf(p) <= z) // append order
      expect(want.length).toBeGreaterThan(0)
      expectSame(await collect(ring.slice(a, z)), want)
    }
    await ring.close()
  })

  it('writeSlice output agrees with capinfos and tshark, and its size and hash are right', async () => {
    const pkts = makePackets(3000)
    const ring = await filled(pkts)
    const file = tmp.path('slice.pcap')
    const fd = openSync(file, 'w')
    const res = await ring.writeSlice(B + 500, B + 2499, fd)
    closeSync(fd)
    const want = pkts.filter((p) => msOf(p) >= B + 500 && msOf(p) <= B + 2499)
    expect(res.packets).toBe(2000)
    const bytes = readFileSync(file)
    expect(res.bytes).toBe(bytes.length)
    expect(res.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect(capinfosCount(file)).toBe(2000)
    expect(tsharkEpochLens(file)).toEqual(want.map((p) => `${epochOf(p)}\t${p.data.length}`))
    // An empty window is a valid pcap with no packets.
    const empty = tmp.path('empty.pcap')
    const fd2 = openSync(empty, 'w')
    const r2 = await ring.writeSlice(B - 100, B - 1, fd2)
    closeSync(fd2)
    expect(r2).toMatchObject({ packets: 0, bytes: 24 })
    expect(capinfosCount(empty)).toBe(0)
    await ring.close()
  })

  it('slices while appending; a segment evicted mid-read does not break the reader', async () => {
    const dir = tmp.path('ring')
    const ring = await PcapRing.open(dir, {
      maxBytes: 256 << 10,
      segmentBytes: 32 << 10,
      indexEvery: 4,
      linkType: ETHERNET,
    })
    const first = makePackets(600)
    for (const b of toBatches(first, 50)) ring.append(b)
    await ring.flush()
    const oldest = ring.stats().oldestTs!
    const it = ring.sliceBatches(oldest, B + 1e9)[Symbol.asyncIterator]()
    const r1 = await it.next()
    expect(r1.done).toBe(false)
    const got = [...r1.value!]
    // Push enough to evict everything the reader planned.
    let next = 600
    while (ring.stats().oldestTs! <= msOf(first[first.length - 1]!)) {
      for (const b of toBatches(makePackets(200, { first: next }), 50)) ring.append(b)
      next += 200
      await ring.flush()
    }
    for (;;) {
      const r = await it.next()
      if (r.done === true) break
      got.push(...r.value)
    }
    // What was read is a correct, in-order prefix-free run of the original packets.
    const ids = got.map(idOf)
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1]!)
    for (const r of got) expect(r.data.length).toBe(60 + ((idOf(r) * 37) % 540))
    await ring.close()
  })
})

describe('PcapRing size bound', () => {
  it('never exceeds maxBytes under sustained appends; oldest go first', async () => {
    const dir = tmp.path('ring')
    const maxBytes = 300_000
    const ring = await PcapRing.open(dir, {
      maxBytes,
      segmentBytes: 40_000,
      indexEvery: 8,
      linkType: ETHERNET,
    })
    let lastOldest = -Infinity
    let n = 0
    for (let round = 0; round < 60; round++) {
      for (const b of toBatches(makePackets(150, { first: n }), 30)) ring.append(b)
      n += 150
      if (round % 2 === 0) await new Promise((r) => setImmediate(r))
      else await ring.flush()
      // Observed from outside, at arbitrary points of the write-behind.
      expect(dirBytes(dir)).toBeLessThanOrEqual(maxBytes)
      const s = ring.stats()
      expect(s.bytes).toBeLessThanOrEqual(maxBytes)
      if (s.oldestTs !== undefined) {
        expect(s.oldestTs).toBeGreaterThanOrEqual(lastOldest)
        lastOldest = s.oldestTs
      }
    }
    await ring.flush()
    const s = ring.stats()
    expect(s.evictedSegments).toBeGreaterThan(0)
    expect(s.bytes).toBe(dirBytes(dir))
    expect(s.droppedPackets).toBe(0)
    expect(s.newestTs).toBe(B + n - 1)
    // What is left is the newest packets, contiguous.
    const got = await collect(ring.slice(0, B + 1e9))
    expect(got.length).toBe(s.packets)
    expect(idOf(got[got.length - 1]!)).toBe(n - 1)
    expect(idOf(got[0]!)).toBe(n - got.length)
    expect(s.oldestTs).toBe(msOf(got[0]!))
    await ring.close()
    expect(dirBytes(dir)).toBeLessThanOrEqual(maxBytes)
  })

  it('drops and counts when the write-behind queue is full, without blocking', async () => {
    const ring = await PcapRing.open(tmp.path('ring'), {
      maxBytes: 64 << 20,
      linkType: ETHERNET,
      maxQueueBytes: 100_000,
    })
    const batches = toBatches(makePackets(3000), 100)
    for (const b of batches) ring.append(b)
    const s0 = ring.stats()
    expect(s0.droppedBatches).toBeGreaterThan(0)
    await ring.flush()
    const s = ring.stats()
    expect(s.appendedPackets).toBe(3000)
    expect(s.writtenPackets + s.droppedPackets).toBe(3000)
    expect(s.packets).toBe(s.writtenPackets)
    await ring.close()
  })

  it('rejects bad options, other link types and appends after close with stable codes', async () => {
    await expect(
      PcapRing.open(tmp.path('r'), { maxBytes: 100, linkType: 1 })
    ).rejects.toMatchObject({ code: 'PCAP_RING_OPTIONS' })
    await expect(
      PcapRing.open(tmp.path('r'), { maxBytes: 1 << 20, segmentBytes: 2 << 20, linkType: 1 })
    ).rejects.toBeInstanceOf(PcapRingError)
    const ring = await PcapRing.open(tmp.path('r'), { maxBytes: 1 << 20, linkType: ETHERNET })
    const other = new BatchBuilder(101)
    other.append(BASE_SEC, 0, new Uint8Array(40))
    expect(() => ring.append(other.finish())).toThrow(
      expect.objectContaining({ code: 'PCAP_RING_LINK_TYPE' })
    )
    await ring.close()
    expect(() => ring.append(toBatches(makePackets(1), 1)[0]!)).toThrow(
      expect.objectContaining({ code: 'PCAP_RING_CLOSED' })
    )
  })

  it('rotates by capture time when segmentMs is set', async () => {
    const dir = tmp.path('ring')
    const ring = await PcapRing.open(dir, {
      maxBytes: 64 << 20,
      segmentMs: 1000,
      linkType: ETHERNET,
    })
    for (const b of toBatches(makePackets(5000), 100)) ring.append(b)
    await ring.close()
    expect(readdirSync(dir).filter((n) => n.endsWith('.pcap')).length).toBe(5)
    for (const f of segmentFiles(dir)) expect(capinfosCount(f)).toBe(1000)
    expect(
      run('tshark', [
        '-r',
        segmentFiles(dir)[4]!,
        '-c',
        '1',
        '-T',
        'fields',
        '-e',
        'frame.time_epoch',
      ]).trim()
    ).toBe(`${BASE_SEC + 4}.000000000`)
  })
})
