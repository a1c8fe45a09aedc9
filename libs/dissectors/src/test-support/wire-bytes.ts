/** Byte helpers for hand-built protocol messages in tests (test support only). */
export const le32 = (n: number): number[] => [
  n & 0xff,
  (n >> 8) & 0xff,
  (n >> 16) & 0xff,
  (n >>> 24) & 0xff,
]
export const be32 = (n: number): number[] => [
  (n >>> 24) & 0xff,
  (n >> 16) & 0xff,
  (n >> 8) & 0xff,
  n & 0xff,
]
export const te = (s: string): number[] => [...new TextEncoder().encode(s)]
export const bytes = (b: number[]): Uint8Array => Uint8Array.from(b)

/** The parts, one after the other. */
export function concatBytes(...parts: readonly ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
