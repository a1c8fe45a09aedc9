import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DecodeStatus, decodePacket, newDecodedPacket, payloadOf } from './decode.js'
import { FragmentReassembler } from './ip-fragments.js'
import type { FragmentLimits } from './ip-fragments.js'
import { splitIpPacket } from './ip-fragments-split.js'
import { LinkType } from './link-type.js'
import { be16, cat, docV6 } from './test-support.js'

// FUZZ_RUNS=n or FUZZ_SECONDS=s (npm run fuzz) make the properties run longer.
const RUNS = Number(process.env['FUZZ_RUNS'] ?? (process.env['FUZZ_SECONDS'] ? 1e9 : 300))
const LIMIT_MS = process.env['FUZZ_SECONDS']
  ? Number(process.env['FUZZ_SECONDS']) * 1000
  : undefined
const params = { numRuns: RUNS, ...(LIMIT_MS ? { interruptAfterTimeLimit: LIMIT_MS } : {}) }

const bytes = (n: number, seed = 1): Uint8Array =>
  new Uint8Array(n).map((_, i) => (i * 31 + seed * 7) & 0xff)

function checksum(h: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < h.length; i += 2) sum += (h[i]! << 8) | h[i + 1]!
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** An IPv4 UDP packet (RFC 791, RFC 768) with a valid header checksum; `opts` padded to 4. */
function ipv4Udp(payload: Uint8Array, opts: number[] = [], src = 10, id = 0x1234): Uint8Array {
  const udp = cat(be16(40000), be16(53), be16(8 + payload.length), [0, 0], payload)
  const ihl = 20 + opts.length
  const h = cat(
    [0x40 | (ihl / 4), 0],
    be16(ihl + udp.length),
    be16(id),
    [0, 0, 64, 17, 0, 0],
    [10, 0, 0, src],
    [10, 0, 0, 2],
    opts
  )
  const sum = checksum(h)
  h[10] = sum >> 8
  h[11] = sum & 0xff
  return cat(h, udp)
}

/** An IPv6 UDP packet (RFC 8200) with a hop-by-hop header, which stays in the unfragmentable part. */
function ipv6Udp(payload: Uint8Array, src = 1): Uint8Array {
  const udp = cat(be16(40000), be16(53), be16(8 + payload.length), [0, 0], payload)
  const hbh = [17, 0, 1, 4, 0, 0, 0, 0]
  const a = docV6
  return cat([0x60, 0, 0, 0], be16(hbh.length + udp.length), [0, 64], a(src), a(2), hbh, udp)
}

/** A hand-made IPv4 fragment: `offset` in bytes. */
function v4frag(id: number, offset: number, more: boolean, data: Uint8Array, src = 10): Uint8Array {
  const h = cat(
    [0x45, 0],
    be16(20 + data.length),
    be16(id),
    be16((more ? 0x2000 : 0) | (offset >> 3)),
    [64, 17, 0, 0],
    [10, 0, 0, src],
    [10, 0, 0, 2]
  )
  return cat(h, data)
}

/** A hand-made IPv6 fragment (no other extension headers). */
function v6frag(id: number, offset: number, more: boolean, data: Uint8Array): Uint8Array {
  const a = docV6
  const fh = [17, 0, ...be16(offset | (more ? 1 : 0)), ...be16(id >>> 16), ...be16(id & 0xffff)]
  return cat([0x60, 0, 0, 0], be16(8 + data.length), [44, 64], a(1), a(2), fh, data)
}

const udpPayload = (packet: Uint8Array): Uint8Array => {
  const d = newDecodedPacket()
  expect(decodePacket(LinkType.RAW, packet, d)).toBe(DecodeStatus.OK)
  expect(d.fragmented).toBe(false)
  return payloadOf(d).slice()
}

/** Pushes every fragment at `ts`; returns the datagrams that came out. */
function pushAll(r: FragmentReassembler, frags: Uint8Array[], ts = 1000): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const f of frags) {
    const got = r.push(f, 0, ts)
    if (got) out.push(got)
  }
  return out
}

/** Deterministic shuffle (mulberry32) so a failing order can be replayed. */
function shuffle<T>(items: T[], seed: number): T[] {
  const a = items.slice()
  let s = seed >>> 0
  const rnd = (): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

describe('FragmentReassembler, IPv4 (RFC 791 §3.2)', () => {
  // Record route (7, not copied) and a copied option (0x94 router alert): fragments after the
  // first carry fewer header bytes, the datagram gets the first fragment's header back.
  const original = ipv4Udp(bytes(3000), [0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 1])
  const frags = splitIpPacket(original, 1000)

  it('splits with the options RFC 791 copies', () => {
    expect(frags.length).toBe(4)
    expect(frags[0]![0]! & 0x0f).toBe(8)
    expect(frags[1]![0]! & 0x0f).toBe(6)
  })

  for (const [name, order] of [
    ['in order', frags],
    ['reversed', frags.slice().reverse()],
    ['shuffled', shuffle(frags, 7)],
    ['duplicated', [frags[2]!, frags[0]!, frags[2]!, frags[0]!, frags[1]!, frags[1]!, frags[3]!]],
  ] as const) {
    it(`reassembles fragments ${name} into the original packet, byte for byte`, () => {
      const r = new FragmentReassembler()
      const out = pushAll(r, [...order])
      expect(out).toHaveLength(1)
      expect(out[0]).toEqual(original)
      const s = r.stats
      expect(s.reassembled).toBe(1)
      expect(s.fragments).toBe(order.length)
      expect(s.duplicates).toBe(order.length - frags.length)
      expect(s.inProgress).toBe(0)
      expect(s.bufferedBytes).toBe(0)
    })
  }

  it('keeps datagrams apart by source, protocol and id', () => {
    const r = new FragmentReassembler()
    const a = splitIpPacket(ipv4Udp(bytes(100, 1), [], 10, 5), 48)
    const b = splitIpPacket(ipv4Udp(bytes(100, 2), [], 11, 5), 48)
    const c = splitIpPacket(ipv4Udp(bytes(100, 3), [], 10, 6), 48)
    const out = pushAll(r, [a[0]!, b[0]!, c[0]!, a[1]!, b[1]!, c[1]!, c[2]!, b[2]!, a[2]!])
    expect(out.map(udpPayload)).toEqual([bytes(100, 3), bytes(100, 2), bytes(100, 1)])
  })

  it('first wins on overlaps, like Linux before 4.19 and tshark', () => {
    const r = new FragmentReassembler()
    const A = new Uint8Array(16).fill(0xaa)
    const B = new Uint8Array(24).fill(0xbb)
    const C = new Uint8Array(8).fill(0xcc)
    // B overlaps A's second half and fills 16..32; C (last) ends the datagram at 40.
    const out = pushAll(r, [v4frag(9, 0, true, A), v4frag(9, 8, true, B), v4frag(9, 32, false, C)])
    expect(out).toHaveLength(1)
    const payload = out[0]!.subarray(20)
    expect([...payload]).toEqual([...A, ...new Uint8Array(16).fill(0xbb), ...C])
    expect(r.stats.overlaps).toBe(1)
    expect(out[0]![3]).toBe(60) // total length fixed: 20 + 40
    expect((out[0]![6]! << 8) | out[0]![7]!).toBe(0) // MF and offset cleared
  })

  it("drops the datagram on overlap with ipv4Overlap 'drop', and its later fragments", () => {
    const r = new FragmentReassembler({ ipv4Overlap: 'drop' })
    const out = pushAll(r, [
      v4frag(9, 0, true, bytes(16)),
      v4frag(9, 8, true, bytes(16)),
      v4frag(9, 24, false, bytes(8)),
    ])
    expect(out).toHaveLength(0)
    expect(r.stats).toMatchObject({ overlaps: 1, discarded: 1, reassembled: 0, bufferedBytes: 0 })
  })

  it('times out a datagram with a missing fragment after 30 s of packet time', () => {
    const r = new FragmentReassembler()
    expect(r.push(frags[0]!, 0, 1000)).toBeUndefined()
    expect(r.push(frags[1]!, 0, 2000)).toBeUndefined()
    expect(r.push(frags[3]!, 0, 3000)).toBeUndefined()
    expect(r.stats.inProgress).toBe(1)
    expect(r.stats.bufferedBytes).toBeGreaterThan(2000)
    r.expire(30_999)
    expect(r.stats.timedOut).toBe(0)
    r.expire(31_000)
    expect(r.stats).toMatchObject({ timedOut: 1, inProgress: 0, bufferedBytes: 0 })
    // The missing fragment alone, late, does not complete anything.
    expect(r.push(frags[2]!, 0, 31_001)).toBeUndefined()
    expect(r.stats.inProgress).toBe(1)
  })

  it('times out on the next fragment too, without a tick', () => {
    const r = new FragmentReassembler({ timeoutMs: 100 })
    r.push(frags[0]!, 0, 0)
    r.push(frags[1]!, 0, 100) // same datagram, too late: the old one is dropped, this starts anew
    expect(r.stats).toMatchObject({ timedOut: 1, inProgress: 1 })
    r.push(v4frag(1, 0, true, bytes(8)), 0, 250) // another datagram: the head of the table expires
    expect(r.stats).toMatchObject({ timedOut: 2, inProgress: 1 })
  })

  it('evicts the oldest datagram past maxDatagrams', () => {
    const r = new FragmentReassembler({ maxDatagrams: 4 })
    const sets = [1, 2, 3, 4, 5, 6].map((id) =>
      splitIpPacket(ipv4Udp(bytes(64, id), [], 10, id), 40)
    )
    for (const s of sets) r.push(s[0]!, 0, 1000)
    expect(r.stats).toMatchObject({ evicted: 2, inProgress: 4 })
    // The newest four complete; the first two lost their first fragment.
    expect(sets.slice(2).map((s) => pushAll(r, s.slice(1)).length)).toEqual([1, 1, 1, 1])
    expect(sets.slice(0, 2).map((s) => pushAll(r, s.slice(1)).length)).toEqual([0, 0])
    expect(r.stats).toMatchObject({ evicted: 2, reassembled: 4, inProgress: 2 })
  })

  it('evicts the oldest datagrams past maxBufferedBytes, never holding more', () => {
    const r = new FragmentReassembler({ maxBufferedBytes: 2500 })
    const sets = [1, 2, 3].map((id) => splitIpPacket(ipv4Udp(bytes(3000, id), [], 10, id), 1000))
    for (const s of sets) {
      r.push(s[0]!, 0, 1000)
      expect(r.stats.bufferedBytes).toBeLessThanOrEqual(2500)
    }
    for (const s of sets) {
      r.push(s[1]!, 0, 1000)
      expect(r.stats.bufferedBytes).toBeLessThanOrEqual(2500)
    }
    expect(r.stats.evicted).toBeGreaterThanOrEqual(2)
    expect(r.stats.inProgress).toBeLessThanOrEqual(2)
    // A datagram bigger than the whole budget never completes.
    expect(pushAll(r, sets[2]!)).toHaveLength(0)
    expect(r.stats.bufferedBytes).toBeLessThanOrEqual(2500)
  })

  it('rejects a datagram past 65,535 bytes (ping of death) and past maxDatagramBytes', () => {
    const r = new FragmentReassembler()
    expect(r.push(v4frag(3, 0, true, bytes(64)), 0, 1)).toBeUndefined()
    expect(r.push(v4frag(3, 8191 * 8, false, bytes(100)), 0, 1)).toBeUndefined()
    expect(r.stats).toMatchObject({ tooLarge: 1, bufferedBytes: 0, inProgress: 0 })
    const small = new FragmentReassembler({ maxDatagramBytes: 1500 })
    expect(pushAll(small, frags)).toHaveLength(0)
    expect(small.stats.tooLarge).toBe(1)
  })

  it('drops a non-last fragment whose length is not a multiple of 8, and conflicting ends', () => {
    const r = new FragmentReassembler()
    expect(r.push(v4frag(4, 0, true, bytes(12)), 0, 1)).toBeUndefined()
    expect(r.stats.invalid).toBe(1)
    r.push(v4frag(5, 16, false, bytes(8)), 0, 1)
    r.push(v4frag(5, 32, false, bytes(8)), 0, 1) // a second last fragment, elsewhere
    expect(r.stats).toMatchObject({ invalid: 2, bufferedBytes: 0 })
  })
})

describe('FragmentReassembler, IPv6 (RFC 8200 §4.5, RFC 5722)', () => {
  const original = ipv6Udp(bytes(2500))
  const frags = splitIpPacket(original, 1000, 0xdeadbeef)

  it('reassembles shuffled fragments behind a hop-by-hop header into the original packet', () => {
    expect(frags.length).toBe(3)
    const r = new FragmentReassembler()
    const out = pushAll(r, shuffle(frags, 3))
    expect(out).toHaveLength(1)
    expect(out[0]).toEqual(original)
    expect(r.stats).toMatchObject({ reassembled: 1, inProgress: 0, bufferedBytes: 0 })
  })

  it('tolerates exact duplicates', () => {
    const r = new FragmentReassembler()
    expect(pushAll(r, [frags[1]!, frags[1]!, frags[0]!, frags[2]!, frags[0]!])).toEqual([original])
    expect(r.stats.duplicates).toBe(1)
  })

  it('drops the whole datagram on an overlap, including fragments still to come', () => {
    const r = new FragmentReassembler()
    const out = pushAll(r, [
      v6frag(7, 0, true, bytes(16)),
      v6frag(7, 8, true, bytes(16)),
      v6frag(7, 24, false, bytes(8)),
      v6frag(7, 16, true, bytes(8)),
    ])
    expect(out).toHaveLength(0)
    expect(r.stats).toMatchObject({
      overlaps: 1,
      discarded: 2,
      reassembled: 0,
      bufferedBytes: 0,
      inProgress: 0,
    })
  })

  it('returns an atomic fragment (RFC 6946) at once, apart from any reassembly', () => {
    const r = new FragmentReassembler()
    r.push(v6frag(8, 0, true, bytes(16)), 0, 1)
    const [atomic] = splitIpPacket(ipv6Udp(bytes(40)), 1000, 8)
    expect(r.push(atomic!, 0, 2)).toEqual(ipv6Udp(bytes(40)))
    expect(r.stats.inProgress).toBe(1)
  })

  it('rejects a fragment whose reassembled payload would pass 65,535 bytes', () => {
    const r = new FragmentReassembler()
    expect(r.push(v6frag(9, 65528, false, bytes(16)), 0, 1)).toBeUndefined()
    expect(r.stats.tooLarge).toBe(1)
  })

  it('times out like IPv4', () => {
    const r = new FragmentReassembler()
    pushAll(r, frags.slice(0, 2), 5000)
    r.expire(35_000)
    expect(r.stats).toMatchObject({ timedOut: 1, bufferedBytes: 0 })
  })
})

describe('FragmentReassembler properties', () => {
  it('any order and duplication of a fragment set gives back the exact packet', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uint8Array({ maxLength: 4000 }),
        fc.integer({ min: 8, max: 1500 }),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 10 }),
        (v6, payload, size, seed, dups) => {
          const original = v6 ? ipv6Udp(payload) : ipv4Udp(payload)
          const frags = splitIpPacket(original, size, v6 ? seed : undefined)
          const order = shuffle([...frags, ...dups.map((i) => frags[i % frags.length]!)], seed)
          const r = new FragmentReassembler()
          const out = pushAll(r, order)
          expect(out.length).toBeGreaterThanOrEqual(1)
          for (const o of out) expect(o).toEqual(original)
          expect(udpPayload(out[0]!)).toEqual(payload)
        }
      ),
      params
    )
  })

  const limits: Partial<FragmentLimits> = {
    maxBufferedBytes: 3000,
    maxDatagrams: 4,
    timeoutMs: 500,
  }
  const fragment = fc.oneof(
    fc
      .record({
        v6: fc.boolean(),
        id: fc.integer({ min: 0, max: 3 }),
        offset: fc.integer({ min: 0, max: 8191 }),
        more: fc.boolean(),
        data: fc.uint8Array({ maxLength: 1200 }),
      })
      .map((f) =>
        f.v6
          ? v6frag(f.id, f.offset * 8, f.more, f.data)
          : v4frag(f.id, f.offset * 8, f.more, f.data)
      ),
    fc.uint8Array({ maxLength: 200 }).map((b) => (b.length > 0 ? b : new Uint8Array([0x45])))
  )

  it('random fragments never throw, never pass the caps, and leave nothing behind', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fragment, fc.integer({ min: 0, max: 200 })), { maxLength: 60 }),
        (items) => {
          const r = new FragmentReassembler(limits)
          const d = newDecodedPacket()
          let ts = 0
          for (const [f, step] of items) {
            ts += step
            const out = r.push(f, 0, ts)
            const s = r.stats
            expect(s.bufferedBytes).toBeGreaterThanOrEqual(0)
            expect(s.bufferedBytes).toBeLessThanOrEqual(3000)
            expect(s.inProgress).toBeLessThanOrEqual(4)
            if (out) {
              expect(out.length).toBeLessThanOrEqual(65_535 + 40)
              decodePacket(LinkType.RAW, out, d)
            }
          }
          r.expire(ts + 500)
          expect(r.stats).toMatchObject({ bufferedBytes: 0, inProgress: 0 })
        }
      ),
      params
    )
  })
})
