/** TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4). */

/** Signed distance from `b` to `a`: positive when `a` is after `b`. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0
