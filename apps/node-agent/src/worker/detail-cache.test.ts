import { describe, expect, it } from 'vitest'
import { DetailCache } from './detail-cache.js'

const detail = (reqBody: Uint8Array, respBody = new Uint8Array(0)) => ({
  connId: 1,
  flowId: 1,
  reqBody,
  respBody,
  reqTruncated: false,
  respTruncated: false,
})

describe('DetailCache', () => {
  it('counts each call with its overhead, so small calls are bounded in number too', () => {
    const cache = new DetailCache(64 * 1024)
    for (let i = 0; i < 10_000; i++) cache.put(`n/${i}/0`, detail(Uint8Array.of(1, 2)))
    // ~600 bytes of overhead per call: about a hundred fit in 64 KiB, not 10,000.
    expect(cache.size).toBeLessThan(110)
    expect(cache.size).toBeGreaterThan(90)
    expect(cache.bytes).toBeLessThanOrEqual(64 * 1024)
    expect(cache.evicted).toBe(10_000 - cache.size)
    expect(cache.get('n/9999/0')).toBeDefined()
    expect(cache.get('n/0/0')).toBeUndefined()
  })

  it('keeps its own copy of a body that views a larger buffer, never the buffer', () => {
    const cache = new DetailCache(1 << 20)
    const batch = new Uint8Array(1 << 20).fill(7)
    cache.put('n/1/0', detail(batch.subarray(100, 110), batch.subarray(0, 0)))
    const got = cache.get('n/1/0')!
    expect([...got.reqBody]).toEqual(new Array(10).fill(7))
    expect(got.reqBody.buffer.byteLength).toBe(10)
    expect(got.respBody.length).toBe(0)
  })
})
