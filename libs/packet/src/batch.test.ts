import { describe, expect, it } from 'vitest'
import { BatchBuilder, forEachPacket, readBatchInfo } from './batch.js'
import { LinkType } from './link-type.js'

const packet = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

/** Every packet of a batch as [tsSec, tsNsec, origLen, bytes]. */
function read(batch: ArrayBuffer): [number, number, number, number[]][] {
  const out: [number, number, number, number[]][] = []
  forEachPacket(batch, (p) => out.push([p.tsSec, p.tsNsec, p.origLen, [...p.data]]))
  return out
}

describe('BatchBuilder', () => {
  it('finish() hands out a batch the builder no longer writes to', () => {
    const b = new BatchBuilder(LinkType.ETHERNET, 64)
    b.append(1, 2, packet(5, 0xaa), 60)
    b.append(3, 4, packet(70, 0xbb)) // grows the buffer
    const first = b.finish()
    b.append(5, 6, packet(3, 0xcc))
    expect(readBatchInfo(first)).toEqual({ linkType: LinkType.ETHERNET, count: 2 })
    expect(read(first)).toEqual([
      [1, 2, 60, [...packet(5, 0xaa)]],
      [3, 4, 70, [...packet(70, 0xbb)]],
    ])
  })

  it('finishInPlace() reuses one buffer: each batch is right until the next append', () => {
    const b = new BatchBuilder(LinkType.RAW, 1024)
    b.append(1, 0, packet(10, 1))
    b.append(2, 0, packet(11, 2))
    const first = b.finishInPlace()
    expect(read(first)).toEqual([
      [1, 0, 10, [...packet(10, 1)]],
      [2, 0, 11, [...packet(11, 2)]],
    ])
    expect(b.count).toBe(0)
    b.append(3, 0, packet(7, 3))
    const second = b.finishInPlace()
    expect(second).toBe(first)
    expect(readBatchInfo(second)).toEqual({ linkType: LinkType.RAW, count: 1 })
    expect(read(second)).toEqual([[3, 0, 7, [...packet(7, 3)]]])
  })
})
