/** Byte helpers shared by dissectors (no Node Buffer: these libs run in workers and the hub alike). */

// The WHATWG 'latin1' label is windows-1252: it differs from ISO-8859-1 only in 0x80-0x9F,
// which header values essentially never contain, and it decodes natively (much faster than
// building the string in JS on the hot path).
const latin1Decoder = new TextDecoder('latin1')

/** Latin-1 decoding: one char per byte, which is what HTTP/1 header octets are (RFC 9110 §5.5). */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  return latin1Decoder.decode(bytes.subarray(start, end))
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

/** Index just after `\r\n\r\n` (or a bare `\n\n`) at or after `from`, or -1. */
export function findHeadEnd(b: Uint8Array, from: number, end: number): number {
  // Jump from line feed to line feed with the native indexOf rather than testing every byte.
  for (let i = b.indexOf(0x0a, Math.max(0, from)); i >= 0 && i < end; i = b.indexOf(0x0a, i + 1)) {
    if (i + 1 < end && b[i + 1] === 0x0a) return i + 2
    if (i + 2 < end && b[i + 1] === 0x0d && b[i + 2] === 0x0a) return i + 3
  }
  return -1
}

/** Index of the next `\n` at or after `from`, or -1. */
export function indexOfLf(b: Uint8Array, from: number, end = b.length): number {
  const i = b.indexOf(0x0a, from)
  return i >= 0 && i < end ? i : -1
}

/** A bounded byte collector: keeps the first `limit` bytes, counts all of them. */
export class BoundedBytes {
  #parts: Uint8Array[] = []
  #kept = 0
  total = 0
  readonly limit: number

  constructor(limit: number) {
    this.limit = limit
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length
    if (this.#kept >= this.limit) return
    const take = chunk.subarray(0, this.limit - this.#kept)
    this.#parts.push(take.slice())
    this.#kept += take.length
  }

  /** Counts bytes that were lost (a capture gap) without keeping any. */
  skip(length: number): void {
    this.total += length
  }

  get truncated(): boolean {
    return this.total > this.#kept
  }

  bytes(): Uint8Array {
    if (this.#parts.length === 1) return this.#parts[0]!
    const out = new Uint8Array(this.#kept)
    let o = 0
    for (const p of this.#parts) {
      out.set(p, o)
      o += p.length
    }
    this.#parts = out.length > 0 ? [out] : []
    return out
  }
}
