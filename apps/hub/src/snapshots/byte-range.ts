/**
 * HTTP range requests (RFC 9110 §14) for a representation whose length is known before it is
 * produced — the merged export of whole node files. One byte range is served; a request the hub
 * does not serve as a range gets the whole representation, which §14.2 allows ("a server MAY
 * ignore the Range header field"): several ranges (they would need multipart/byteranges, and the
 * CLI's resume never asks for them), a malformed specifier, another unit, or an If-Range validator
 * that does not match.
 */

export type RangeAnswer =
  /** Send the whole representation (200). */
  | { kind: 'full' }
  /** Send bytes [start, end] (inclusive, as Content-Range writes them) with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** 416 with `Content-Range: bytes *\/length` (§15.5.17). */
  | { kind: 'unsatisfiable' }

const FULL: RangeAnswer = { kind: 'full' }

/** §14.1.2: `first-last`, `first-` or `-suffix`, digits only. */
const RANGE_SPEC = /^(?:(\d+)-(\d*)|-(\d+))$/

/**
 * What to send for a `Range` header (and the request's `If-Range`) against a representation of
 * `length` bytes whose strong entity tag is `etag`.
 */
export function resolveRange(
  range: string | undefined,
  length: number,
  etag: string,
  ifRange?: string
): RangeAnswer {
  if (range === undefined) return FULL
  // §13.1.5: a range is only applied if the validator matches; a date validator is not compared
  // (the hub sends no Last-Modified), so it falls back to the whole representation too.
  if (ifRange !== undefined && ifRange.trim() !== etag) return FULL
  const eq = range.indexOf('=')
  // §14.1: the range unit is case-insensitive.
  if (eq < 0 || range.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL
  const specs = range
    .slice(eq + 1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  if (specs.length !== 1) return FULL
  const m = RANGE_SPEC.exec(specs[0]!)
  if (m === null) return FULL
  if (m[3] !== undefined) {
    // A suffix: the last N bytes (all of them when N exceeds the length); N = 0 selects nothing.
    const n = Number(m[3])
    if (n === 0 || length === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, length - n), end: length - 1 }
  }
  const first = Number(m[1])
  const last = m[2] === '' ? Infinity : Number(m[2])
  // §14.1.1: a last position below the first makes the specifier invalid (ignored, not 416).
  if (last < first) return FULL
  if (first >= length) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start: first, end: Math.min(last, length - 1) }
}
