/**
 * Finding HTTP/2 frame boundaries again after a capture gap (RFC 9113 §4.1). The bytes after a
 * hole may start in the middle of a frame; a frame header is 9 octets with little redundancy, so a
 * candidate offset is taken only when its header obeys every rule a sender must follow (§4.1, §6)
 * and the frame headers that follow it in the buffered bytes do too.
 */
import {
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PING,
  FRAME_PRIORITY,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_WINDOW_UPDATE,
} from './frame-types.js'

/** What a frame sent in one direction may look like; the session keeps it current. */
export interface FrameRules {
  /** Frames from the client (odd stream ids are its own, §5.1.1). */
  readonly fromClient: boolean
  /** SETTINGS_MAX_FRAME_SIZE the receiving side announced (§6.5.2; 16384 until then). */
  maxFrameSize: number
  /**
   * The highest stream id that can be in use where the bytes after the gap begin: streams are
   * opened in increasing order (§5.1.1), so beyond the highest seen only those opened unseen.
   */
  maxStreamId(): number
}

/** SETTINGS_MAX_FRAME_SIZE's initial value (RFC 9113 §6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16384

export function newFrameRules(
  fromClient: boolean,
  maxStreamId: () => number = () => 0x7fffffff
): FrameRules {
  return { fromClient, maxFrameSize: DEFAULT_MAX_FRAME_SIZE, maxStreamId }
}

/**
 * Opening a stream takes a HEADERS frame of at least 10 octets (9 of header, a 1-octet block):
 * every 10 octets before a frame may have opened one more stream (ids step by 2, §5.1.1).
 */
export function streamIdsWithin(octets: number): number {
  return 2 * Math.ceil(octets / 10)
}

/**
 * Flags each frame type defines (§6.1-§6.10). Others "MUST be left unset (0x00) when sending"
 * (§4.1), so a set undefined flag means this is not a frame header.
 */
const DEFINED_FLAGS = [
  FLAG_END_STREAM | FLAG_PADDED, // DATA
  FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY, // HEADERS
  0, // PRIORITY
  0, // RST_STREAM
  FLAG_ACK, // SETTINGS
  FLAG_END_HEADERS | FLAG_PADDED, // PUSH_PROMISE
  FLAG_ACK, // PING
  0, // GOAWAY
  0, // WINDOW_UPDATE
  FLAG_END_HEADERS, // CONTINUATION
]

/**
 * The payload length of the frame whose header starts at `b[o]` (9 octets must be there), or -1
 * when no conforming sender writes such a header:
 * - a known type (0x0-0x9; extension types, §5.5, are legal but cannot be told from noise),
 * - only the flags its type defines, the reserved bit clear (§4.1),
 * - length within the receiver's SETTINGS_MAX_FRAME_SIZE and the type's fixed sizes (§6),
 * - stream 0 exactly for the connection-level types (SETTINGS, PING, GOAWAY; §6.5, §6.7, §6.8),
 *   never for stream-level ones; client streams odd (§5.1.1): a client sends HEADERS, DATA and
 *   CONTINUATION only on its own streams, PUSH_PROMISE comes only from a server on a client stream,
 * - no stream id beyond what can have been opened by now (`maxStreamId`),
 * - with PADDED, a pad length (when already buffered) shorter than the payload (§6.1, §6.2).
 */
export function plausibleFrameHeader(
  b: Uint8Array,
  o: number,
  end: number,
  rules: FrameRules,
  maxStreamId = rules.maxStreamId()
): number {
  const length = (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!
  const type = b[o + 3]!
  const flags = b[o + 4]!
  if (type > FRAME_CONTINUATION || (flags & ~DEFINED_FLAGS[type]!) !== 0) return -1
  if ((b[o + 5]! & 0x80) !== 0 || length > rules.maxFrameSize) return -1
  const id = ((b[o + 5]! << 24) | (b[o + 6]! << 16) | (b[o + 7]! << 8) | b[o + 8]!) >>> 0
  if (id > maxStreamId) return -1
  const odd = (id & 1) === 1
  let min = 0
  switch (type) {
    case FRAME_SETTINGS:
      // §6.5: a multiple of 6 octets, empty with ACK.
      if (id !== 0 || length % 6 !== 0 || ((flags & FLAG_ACK) !== 0 && length !== 0)) return -1
      return length
    case FRAME_PING:
      return id === 0 && length === 8 ? length : -1 // §6.7
    case FRAME_GOAWAY:
      return id === 0 && length >= 8 ? length : -1 // §6.8
    case FRAME_WINDOW_UPDATE:
      return length === 4 ? length : -1 // §6.9, any stream
    case FRAME_PRIORITY:
      return id !== 0 && length === 5 ? length : -1 // §6.3
    case FRAME_RST_STREAM:
      return id !== 0 && length === 4 ? length : -1 // §6.4
    case FRAME_PUSH_PROMISE:
      // §6.6: server only, on a client-initiated stream; promised stream id (4) plus a fragment.
      if (rules.fromClient || id === 0 || !odd) return -1
      min = 4
      break
    case FRAME_HEADERS:
      // §6.2: a header block is never empty in practice (every request and response has fields).
      if (id === 0 || (rules.fromClient && !odd)) return -1
      min = 1 + ((flags & FLAG_PRIORITY) !== 0 ? 5 : 0)
      break
    case FRAME_DATA:
    case FRAME_CONTINUATION:
      if (id === 0 || (rules.fromClient && !odd)) return -1
      break
  }
  if ((flags & FLAG_PADDED) !== 0) {
    min++
    if (o + 9 < end && b[o + 9]! >= length) return -1
  }
  return length >= min ? length : -1
}

/** Frame headers checked past a candidate before it counts as confirmed. */
const CHAIN = 4

export const SCAN_FOUND = 0
export const SCAN_WAIT = 1

export interface ScanResult {
  /** SCAN_FOUND: a frame starts at `at`. SCAN_WAIT: bytes before `at` are not a frame start; more needed. */
  verdict: typeof SCAN_FOUND | typeof SCAN_WAIT
  at: number
}

/**
 * Finds the first offset in `b[from, end)` where frames plausibly start again. A candidate is
 * confirmed when the frame headers chained after it inside the buffer are plausible too (at
 * least one of them), or when its frames end exactly at `end` (segments usually end at frame
 * boundaries: senders write whole frames). A candidate whose frame runs past `end` with nothing
 * after it makes the scan wait for more bytes, unless confirming it would take more than
 * `window` bytes. Offsets are tried in order, so the segment start (`from`) is tried first.
 * `skipped`: octets after the gap already ruled out before `from` (they may have opened streams).
 */
export function scanForFrame(
  b: Uint8Array,
  from: number,
  end: number,
  rules: FrameRules,
  window: number,
  skipped = 0
): ScanResult {
  // The id bound where the bytes after the gap begin; a frame further on may name streams opened
  // in the octets before it.
  const maxId = rules.maxStreamId()
  const octetsBefore = skipped - from
  let o = from
  for (; o + 9 <= end; o++) {
    const v = chainAt(b, o, end, rules, window, maxId, octetsBefore)
    if (v === SCAN_FOUND) return { verdict: SCAN_FOUND, at: o }
    if (v === SCAN_WAIT) return { verdict: SCAN_WAIT, at: o }
  }
  return { verdict: SCAN_WAIT, at: o }
}

const REJECT = 2

/** Walks the frame headers from `o`: FOUND, REJECT, or WAIT for more bytes. */
function chainAt(
  b: Uint8Array,
  o: number,
  end: number,
  rules: FrameRules,
  window: number,
  maxId: number,
  octetsBefore: number
): number {
  let p = o
  let n = 0
  /** §6.10: after a header frame without END_HEADERS only CONTINUATION of that stream may follow. */
  let continuationOf = -1
  while (p + 9 <= end && n < CHAIN) {
    const bound = maxId + streamIdsWithin(octetsBefore + p)
    const length = plausibleFrameHeader(b, p, end, rules, bound)
    if (length < 0) return REJECT
    const type = b[p + 3]!
    const id = ((b[p + 5]! & 0x7f) << 24) | (b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!
    if (continuationOf >= 0 && (type !== FRAME_CONTINUATION || id !== continuationOf)) return REJECT
    // A CONTINUATION may open the chain (its HEADERS lay in the gap), never follow anything else.
    if (n > 0 && continuationOf < 0 && type === FRAME_CONTINUATION) return REJECT
    const opensBlock =
      type === FRAME_HEADERS || type === FRAME_PUSH_PROMISE || type === FRAME_CONTINUATION
    continuationOf = opensBlock && (b[p + 4]! & FLAG_END_HEADERS) === 0 ? id : -1
    p += 9 + length
    n++
  }
  if (n >= 2 || (n === 1 && p === end)) return SCAN_FOUND
  // Confirming needs the next header: the frame's end plus 9 octets must fit the window.
  if (p + 9 - o > window) return REJECT
  return SCAN_WAIT
}

/**
 * The bytes after a gap while no frame boundary is confirmed: at most `cap`, each piece with the
 * packet time it arrived at, so frames replayed from it keep their own times.
 */
export class ResyncBuffer {
  readonly cap: number
  readonly bytes: Uint8Array
  length = 0
  /** Bytes discarded since the resync began (they could not start a frame). */
  skipped = 0
  #starts: number[] = []
  #times: number[] = []

  constructor(cap: number) {
    this.cap = cap
    this.bytes = new Uint8Array(cap)
  }

  /** Appends as much of `data[from, to)` as fits; returns how much. */
  append(data: Uint8Array, from: number, to: number, ts: number): number {
    const take = Math.min(to - from, this.cap - this.length)
    if (take <= 0) return 0
    this.bytes.set(data.subarray(from, from + take), this.length)
    this.#starts.push(this.length)
    this.#times.push(ts)
    this.length += take
    return take
  }

  /** Drops the first `n` bytes (ruled out as frame starts). */
  discard(n: number): void {
    if (n <= 0) return
    this.bytes.copyWithin(0, n, this.length)
    this.length -= n
    this.skipped += n
    // The first piece kept is the last one starting at or before `n`.
    let k = 0
    while (k + 1 < this.#starts.length && this.#starts[k + 1]! <= n) k++
    this.#starts.splice(0, k)
    this.#times.splice(0, k)
    for (let i = 0; i < this.#starts.length; i++)
      this.#starts[i] = Math.max(0, this.#starts[i]! - n)
    if (this.length === 0) this.#starts.length = this.#times.length = 0
  }

  /** Everything held is ruled out (another gap): counted as skipped. */
  reset(): void {
    this.discard(this.length)
  }

  /** Hands over each held piece in order with its packet time, then empties. */
  drain(fn: (piece: Uint8Array, ts: number) => void): void {
    const starts = this.#starts
    const times = this.#times
    const end = this.length
    this.#starts = []
    this.#times = []
    this.length = 0
    for (let i = 0; i < starts.length; i++) {
      const a = starts[i]!
      const b = i + 1 < starts.length ? starts[i + 1]! : end
      if (b > a) fn(this.bytes.subarray(a, b), times[i]!)
    }
  }
}
