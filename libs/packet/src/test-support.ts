/** Byte helpers for hand-built packets in this lib's tests (test support, not the lib's surface). */

/** The parts, concatenated. */
export const cat = (...parts: ArrayLike<number>[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** A 16-bit value in network byte order. */
export const be16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff]

/** 2001:db8::<last> (RFC 3849 documentation prefix). */
export const docV6 = (last: number): number[] => [
  0x20,
  0x01,
  0x0d,
  0xb8,
  ...new Array<number>(11).fill(0),
  last,
]
