/** Byte helpers shared by dissectors (no Node Buffer: these libs run in workers and the hub alike). */

// The WHATWG 'latin1' label is windows-1252: it differs from ISO-8859-1 only in 0x80-0x9F,
// which header values essentially never contain, and it decodes natively (much faster than
// building the string in JS on the hot path).
const latin1Decoder = new TextDecoder('latin1')

/**
 * Short ASCII strings are built char by char: a TextDecoder call costs more than a dozen chars,
 * and below 13 chars V8 makes flat strings of the concatenations (no cons strings).
 */
const SHORT_STRING = 12

/** Latin-1 decoding: one char per byte, which is what HTTP/1 header octets are (RFC 9110 §5.5). */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end - start <= SHORT_STRING && start >= 0 && end <= bytes.length) {
    let s = ''
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      // Above 0x7f the label's mapping matters (WHATWG says windows-1252, Node's decoder gives
      // ISO-8859-1): those bytes are left to the decoder, whatever it does.
      if (c > 0x7f) return latin1Decoder.decode(bytes.subarray(start, end))
      s += String.fromCharCode(c)
    }
    return s
  }
  return latin1Decoder.decode(bytes.subarray(start, end))
}

/**
 * `s.toLowerCase() === lower` without making the lower-case copy when `s` is ASCII (header names
 * are): a header lookup compares every name of a message.
 */
export function equalsLowerCase(s: string, lower: string): boolean {
  const n = s.length
  if (n === lower.length) {
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i)
      if (c > 0x7f) return s.toLowerCase() === lower
      if (c >= 0x41 && c <= 0x5a) c |= 0x20
      // An ASCII char lower-cases in place, whatever follows: a mismatch here is final.
      if (c !== lower.charCodeAt(i)) return false
    }
    return true
  }
  // Different lengths can still match only through a non-ASCII char (U+0130 lower-cases to two).
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return s.toLowerCase() === lower
  return false
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

const utf8Encoder = new TextEncoder()

/**
 * `new TextEncoder().encode(s)`. A short ASCII string (a gRPC preview line) is copied char by
 * char into a small array V8 keeps on its heap, which costs far less than the native call and
 * its separately allocated buffer.
 */
export function utf8Bytes(s: string): Uint8Array {
  const n = s.length
  if (n <= 64) {
    const out = new Uint8Array(n)
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) break
      out[i] = c
    }
    if (i === n) return out
  }
  return utf8Encoder.encode(s)
}

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

const EMPTY = new Uint8Array(0)

/**
 * Copies of body chunks. Every `slice()` above V8's on-heap limit (64 bytes) allocates its own
 * ArrayBuffer, a backing store the collector tracks one by one: ~0.5 µs per copy, measured, where
 * copying into a shared slab and viewing it costs ~0.15 µs. Chunks up to 2 KiB share 16 KiB slabs.
 * A body kept long pins its slab, at most 16 KiB per body, within what the body limit already
 * allows a stream to hold; consumers that keep bodies for long (the agent's detail cache) copy
 * views of larger buffers into their own.
 */
const SLAB_BYTES = 16 * 1024
const SLAB_CHUNK_MAX = 2 * 1024
const ON_HEAP_MAX = 64
let slab = new Uint8Array(SLAB_BYTES)
let slabAt = 0

/** A copy of `b[start, end)` that stays valid whatever later happens to `b`. */
export function copyBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const n = end - start
  if (n <= ON_HEAP_MAX || n > SLAB_CHUNK_MAX) return b.slice(start, end)
  if (slabAt + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES)
    slabAt = 0
  }
  const at = slabAt
  slab.set(n === b.length ? b : b.subarray(start, end), at)
  slabAt = at + n
  return new Uint8Array(slab.buffer, at, n)
}

/** A bounded byte collector: keeps the first `limit` bytes, counts all of them. */
export class BoundedBytes {
  /** The kept bytes: nothing, one copied chunk (most bodies), or several, joined on `bytes()`. */
  #parts: Uint8Array | Uint8Array[] | undefined
  #kept = 0
  total = 0
  readonly limit: number

  constructor(limit: number) {
    this.limit = limit
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length
    const room = this.limit - this.#kept
    if (room <= 0 || chunk.length === 0) return
    // A copy: the chunk views a reassembly or batch buffer that is reused after this call.
    const take = copyBytes(chunk, 0, Math.min(chunk.length, room))
    this.#kept += take.length
    const parts = this.#parts
    if (parts === undefined) this.#parts = take
    else if (Array.isArray(parts)) parts.push(take)
    else this.#parts = [parts, take]
  }

  /** Counts bytes that were lost (a capture gap) without keeping any. */
  skip(length: number): void {
    this.total += length
  }

  get truncated(): boolean {
    return this.total > this.#kept
  }

  bytes(): Uint8Array {
    const parts = this.#parts
    // Most requests have no body: one shared empty array rather than a new one per message.
    if (parts === undefined) return EMPTY
    if (!Array.isArray(parts)) return parts
    const out = new Uint8Array(this.#kept)
    let o = 0
    for (const p of parts) {
      out.set(p, o)
      o += p.length
    }
    this.#parts = out
    return out
  }
}
