import { describe, expect, it } from 'vitest'
import { forEachPacket, readBatchInfo } from './batch.js'
import { BatchPacker } from './batch-packer.js'
import { LinkType } from './link-type.js'

/** Every packet of a batch as [tsSec, tsNsec, origLen, ifIndex, bytes]. */
function read(batch: ArrayBuffer): [number, number, number, number, number[]][] {
  const out: [number, number, number, number, number[]][] = []
  forEachPacket(batch, (p) => out.push([p.tsSec, p.tsNsec, p.origLen, p.ifIndex, [...p.data]]))
  return out
}

/** A record's bytes inside a larger buffer, as a capture reader hands them over. */
function recordIn(n: number, fill: number): { buf: Uint8Array; start: number } {
  const buf = new Uint8Array(n + 20).fill(0xee)
  buf.fill(fill, 7, 7 + n)
  return { buf, start: 7 }
}

describe('BatchPacker', () => {
  it('packs records into batches of at most maxPackets, one link type each, in order', () => {
    const p = new BatchPacker({ maxPackets: 3, bufferBytes: 4096 })
    const sizes = [1, 60, 64, 65, 1514, 9000, 3]
    sizes.forEach((n, i) => {
      const { buf, start } = recordIn(n, i + 1)
      // The link type changes before the last packet: it starts a batch of its own.
      p.record(i === 6 ? LinkType.RAW : LinkType.ETHERNET, i, 100 + i, i, buf, start, n, n + 10)
      buf.fill(0) // the packer copied what it needs: the reader may reuse its buffer now
    })
    p.flush()
    const batches: ArrayBuffer[] = []
    for (let b = p.take(); b !== undefined; b = p.take()) batches.push(b)
    expect(batches.map((b) => readBatchInfo(b))).toEqual([
      { linkType: LinkType.ETHERNET, count: 3 },
      { linkType: LinkType.ETHERNET, count: 3 },
      { linkType: LinkType.RAW, count: 1 },
    ])
    const packets = batches.flatMap(read)
    expect(packets).toEqual(sizes.map((n, i) => [100 + i, i, n + 10, i, Array(n).fill(i + 1)]))
    expect(p.packets).toBe(7)
    expect(p.bytes).toBe(sizes.reduce((a, n) => a + n + 10, 0))
    expect(p.firstLinkType).toBe(LinkType.ETHERNET)
  })

  it('once batches are given back, recycles their buffers (never one still held)', () => {
    const p = new BatchPacker({ maxPackets: 2, bufferBytes: 1024 })
    const add = (i: number): void => {
      const { buf, start } = recordIn(10, i)
      p.record(LinkType.ETHERNET, 0, i, 0, buf, start, 10, 10)
    }
    const batch = (a: number, b: number): ArrayBuffer => {
      add(a)
      add(b)
      return p.take()!
    }
    // Nothing given back yet: a batch under half full is trimmed to its bytes, as for live capture.
    const trimmed = batch(1, 2)
    expect(trimmed.byteLength).toBeLessThan(1024)
    p.release(trimmed) // too small to take a batch: not kept, but recycling starts
    const a = batch(3, 4)
    const b = batch(5, 6)
    expect(a.byteLength).toBe(1024)
    expect(b).not.toBe(a)
    p.release(a)
    const c = batch(7, 8)
    const d = batch(9, 10)
    // `a` was given back: the builder took it for the batch after `b`... and `a` is handed out
    // again only after it was released; `b` (still held) never comes back.
    expect([c, d]).toContain(a)
    expect([c, d]).not.toContain(b)
    expect(read(b).map((x) => x[0])).toEqual([5, 6])
    expect(read(c).map((x) => x[0])).toEqual([7, 8])
    expect(read(d).map((x) => x[0])).toEqual([9, 10])
    // A transferred (detached) buffer is not taken back.
    const moved = structuredClone(b, { transfer: [b] })
    expect(b.byteLength).toBe(0)
    p.release(b)
    expect(read(moved).map((x) => x[0])).toEqual([5, 6])
    expect(read(batch(11, 12)).map((x) => x[0])).toEqual([11, 12])
  })
})
