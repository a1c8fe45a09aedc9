/** HTTP/2 framing (RFC 9113 §4): a streaming frame reader for one direction of a connection. */

/** The client connection preface (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Uint8Array.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', (c) =>
  c.charCodeAt(0)
)

import {
  FLAG_PADDED,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_HEADERS,
  FRAME_PUSH_PROMISE,
} from './frame-types.js'
import type { FrameRules } from './resync.js'
import { ResyncBuffer, SCAN_FOUND, scanForFrame } from './resync.js'

export {
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

/** Error code names for RST_STREAM and GOAWAY (RFC 9113 §7). */
const ERROR_CODES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
]

export function errorCodeName(code: number): string {
  return ERROR_CODES[code] ?? `0x${code.toString(16)}`
}

export interface FrameHeader {
  length: number
  type: number
  flags: number
  streamId: number
  /** Packet time of the frame's first byte. */
  ts: number
}

/** The reader's one FrameHeader object is reused for every frame: copy what you keep. */
export interface FrameHandler {
  /** A whole non-DATA frame, payload included (valid only during the call). */
  onFrame(f: FrameHeader, payload: Uint8Array): void
  /** Application bytes of a DATA frame, padding removed; a frame may arrive in many pieces. */
  onData(f: FrameHeader, chunk: Uint8Array): void
  /** DATA bytes lost to a capture gap. */
  onDataGap(f: FrameHeader, length: number): void
  /** The DATA frame is over (END_STREAM is in `f.flags`). */
  onDataEnd(f: FrameHeader): void
  /** A capture gap took part of this (non-DATA) frame's payload; the rest is skipped. */
  onFrameLost(f: FrameHeader): void
  /** Frame boundaries found again after a gap; `skipped` bytes that followed it were discarded. */
  onResync(skipped: number): void
  /**
   * After a gap, bytes that break framing rules (a resync that went wrong, or a frame we cannot
   * hold): the reader looks for a frame boundary again instead of stopping.
   */
  onMisframed(reason: string): void
  /** Unrecoverable: the reader stops. */
  onFatal(reason: string): void
}

type Phase = 'preface' | 'header' | 'payload' | 'resync' | 'dead'
/** `lost`: a frame of known length whose payload a gap cut; the rest is skipped. */
type Mode = 'data' | 'buffer' | 'skip' | 'lost'

/** Bytes a resync may discard before the direction is given up (it is not HTTP/2 any more). */
export const RESYNC_GIVE_UP = 1 << 20

/**
 * Reads frames from one direction, accepting bytes in any pieces (one byte at a time works).
 * DATA payloads stream through without being buffered; other frames are buffered whole up to
 * `maxBuffered` bytes. Longer header-carrying frames are fatal (the HPACK state would be lost);
 * other long frames (unknown types, GOAWAY debug data) are skipped. After a capture gap that the
 * frame lengths do not bridge, the reader looks for the next frame boundary (`resync.ts`).
 */
export class FrameReader {
  #phase: Phase
  #prefacePos = 0
  readonly #hdr = new Uint8Array(9)
  #hdrLen = 0
  readonly #frame: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0, ts: 0 }
  #mode: Mode = 'skip'
  #pos = 0
  #buf: Uint8Array = new Uint8Array(0)
  /** DATA: application bytes lie in [dataStart, dataEnd) of the payload. */
  #dataStart = 0
  #dataEnd = 0
  readonly #h: FrameHandler
  readonly #maxBuffered: number
  readonly #rules: FrameRules
  /** While resynchronising: the bytes after the gap not yet ruled out (made on first use). */
  #resync: ResyncBuffer | undefined
  /** A gap lost frames in this direction: framing errors since then are resynchronised. */
  #gapped = false

  constructor(
    expectPreface: boolean,
    maxBuffered: number,
    handler: FrameHandler,
    rules: FrameRules
  ) {
    this.#phase = expectPreface ? 'preface' : 'header'
    this.#maxBuffered = maxBuffered
    this.#h = handler
    this.#rules = rules
  }

  get dead(): boolean {
    return this.#phase === 'dead'
  }

  /** Looking for a frame boundary after a gap. */
  get resyncing(): boolean {
    return this.#phase === 'resync'
  }

  /** Bytes held while resynchronising (bounded by the scan window). */
  get resyncBuffered(): number {
    return this.#phase === 'resync' ? (this.#resync?.length ?? 0) : 0
  }

  /** Bytes an unfinished resync discarded or holds: what it would skip if it ended now. */
  get resyncPending(): number {
    const r = this.#phase === 'resync' ? this.#resync : undefined
    return r === undefined ? 0 : r.skipped + r.length
  }

  stop(): void {
    this.#phase = 'dead'
  }

  push(data: Uint8Array, ts: number): void {
    let o = 0
    const n = data.length
    while (o < n) {
      switch (this.#phase) {
        case 'dead':
          return
        case 'preface':
          if (data[o] !== CLIENT_PREFACE[this.#prefacePos])
            return this.#fatal('bad connection preface')
          o++
          if (++this.#prefacePos === CLIENT_PREFACE.length) this.#phase = 'header'
          break
        case 'header': {
          if (this.#hdrLen === 0) {
            this.#frame.ts = ts
            if (n - o >= 9) {
              // The whole header is in this piece (the usual case): read it in place.
              this.#startFrame(data, o)
              o += 9
              break
            }
          }
          const take = Math.min(9 - this.#hdrLen, n - o)
          for (let i = 0; i < take; i++) this.#hdr[this.#hdrLen + i] = data[o + i]!
          this.#hdrLen += take
          o += take
          if (this.#hdrLen === 9) this.#startFrame(this.#hdr, 0)
          break
        }
        case 'payload':
          o = this.#pushPayload(data, o)
          break
        case 'resync':
          o = this.#pushResync(data, o, ts)
          break
      }
    }
  }

  /**
   * Bytes lost in a capture gap. Returns true when they lay inside a DATA payload (or a skipped
   * frame) whose length is known and nothing but body bytes was lost: framing goes on as before.
   * Otherwise returns false: either a frame of known length lost part of its payload (reported
   * with `onFrameLost`, the reader skips to its end), or the frame boundaries are gone and the
   * reader resynchronises on the bytes that follow (`resyncing`).
   */
  gap(length: number): boolean {
    switch (this.#phase) {
      case 'dead':
        return false
      case 'payload':
        return this.#payloadGap(length)
      case 'resync':
        // What was held is not contiguous with what follows: start over after the new hole.
        this.#resync!.reset()
        return false
      default:
        // 'header' or 'preface': the hole's end need not be a frame boundary.
        this.#startResync()
        return false
    }
  }

  #payloadGap(length: number): boolean {
    const f = this.#frame
    const remaining = f.length - this.#pos
    if (this.#mode === 'data') return this.#dataGap(length, remaining)
    // A buffered (non-DATA) frame lost part of its payload: the rest is skipped.
    const survived = this.#mode !== 'buffer'
    if (!survived) {
      this.#h.onFrameLost(f)
      this.#mode = 'lost'
    }
    return this.#passHole(length, remaining) && survived
  }

  /** A hole in a DATA payload: body bytes lost; past the frame's end, the boundaries too. */
  #dataGap(length: number, remaining: number): boolean {
    const f = this.#frame
    if ((f.flags & FLAG_PADDED) !== 0 && this.#pos === 0) {
      // §6.1: the Pad Length octet is gone, so which octets after the hole are data is unknown:
      // the rest of the frame is skipped (its END_STREAM still counts at its end).
      this.#h.onDataGap(f, Math.min(length, remaining))
      this.#mode = 'lost'
    } else {
      const lost = overlap(this.#pos, this.#pos + length, this.#dataStart, this.#dataEnd)
      if (lost > 0) this.#h.onDataGap(f, lost)
    }
    return this.#passHole(length, remaining)
  }

  /**
   * Moves past `length` lost octets of the current frame (`remaining` of it were left). A hole
   * that runs past the frame's end ends it (its END_STREAM, known from its header, still
   * applies) and loses the boundaries: false, and the reader resynchronises.
   */
  #passHole(length: number, remaining: number): boolean {
    if (length > remaining) {
      this.#endFrame()
      this.#startResync()
      return false
    }
    this.#pos += length
    if (this.#pos === this.#frame.length) this.#endFrame()
    return true
  }

  #startResync(): void {
    this.#gapped = true
    this.#phase = 'resync'
    this.#hdrLen = 0
    // Room for the largest frame we buffer plus the header after it, to confirm it by chaining.
    this.#resync = new ResyncBuffer(this.#maxBuffered + 18)
  }

  /**
   * Holds the bytes after a gap until a frame boundary is confirmed among them (resync.ts), then
   * replays them from there through the normal path with their own packet times.
   */
  #pushResync(data: Uint8Array, o: number, ts: number): number {
    const r = this.#resync!
    o += r.append(data, o, data.length, ts)
    const found = scanForFrame(r.bytes, 0, r.length, this.#rules, r.cap, r.skipped)
    r.discard(found.at)
    if (found.verdict === SCAN_FOUND) {
      this.#phase = 'header'
      // Detached first: replaying may hit another framing error and start a new resync. Rare
      // enough that its memory is not worth keeping either.
      this.#resync = undefined
      this.#h.onResync(r.skipped)
      r.drain((piece, pieceTs) => this.push(piece, pieceTs))
      return o
    }
    if (r.skipped > RESYNC_GIVE_UP) {
      this.#fatal(`no HTTP/2 frame boundary within ${RESYNC_GIVE_UP} bytes after a capture gap`)
      return data.length
    }
    return o
  }

  /** Starts the frame whose 9-byte header is at `h[o]` (§4.1). */
  #startFrame(h: Uint8Array, o: number): void {
    const f = this.#frame
    f.length = (h[o]! << 16) | (h[o + 1]! << 8) | h[o + 2]!
    f.type = h[o + 3]!
    f.flags = h[o + 4]!
    // The reserved bit is ignored on receipt (§4.1).
    f.streamId = ((h[o + 5]! & 0x7f) << 24) | (h[o + 6]! << 16) | (h[o + 7]! << 8) | h[o + 8]!
    this.#hdrLen = 0
    this.#pos = 0
    if (f.type === FRAME_DATA) {
      this.#mode = 'data'
      this.#dataStart = 0
      this.#dataEnd = f.length
      if ((f.flags & FLAG_PADDED) !== 0 && f.length === 0)
        return this.#fatal('padded DATA without a pad length')
    } else if (f.length <= this.#maxBuffered) {
      this.#mode = 'buffer'
    } else if (
      f.type === FRAME_HEADERS ||
      f.type === FRAME_CONTINUATION ||
      f.type === FRAME_PUSH_PROMISE
    ) {
      return this.#fatal('header block fragment larger than the header limit')
    } else {
      this.#mode = 'skip'
    }
    this.#phase = 'payload'
    if (f.length === 0) this.#endFrame()
  }

  #pushPayload(data: Uint8Array, o: number): number {
    const f = this.#frame
    const take = Math.min(f.length - this.#pos, data.length - o)
    if (this.#mode === 'buffer') {
      if (this.#pos === 0 && take === f.length) {
        // The whole payload is in this piece (the usual case): hand it over without copying.
        this.#pos = take
        this.#phase = 'header'
        this.#h.onFrame(f, data.subarray(o, o + take))
        return o + take
      }
      if (this.#buf.length < f.length) this.#grow(f.length)
      this.#buf.set(data.subarray(o, o + take), this.#pos)
    } else if (this.#mode === 'data') {
      let from = o
      if ((f.flags & FLAG_PADDED) !== 0 && this.#pos === 0) {
        // §6.1: Pad Length, then data, then that many octets of padding.
        const pad = data[o]!
        if (pad >= f.length) {
          this.#fatal('DATA padding longer than the frame')
          return o
        }
        this.#dataStart = 1
        this.#dataEnd = f.length - pad
        from = o + 1
      }
      const startPos = this.#pos + (from - o)
      const a = Math.max(startPos, this.#dataStart)
      const b = Math.min(this.#pos + take, this.#dataEnd)
      if (b > a) this.#h.onData(f, data.subarray(o + (a - this.#pos), o + (b - this.#pos)))
    }
    this.#pos += take
    if (this.#pos === f.length) this.#endFrame()
    return o + take
  }

  #endFrame(): void {
    const f = this.#frame
    this.#phase = 'header'
    if (this.#mode === 'data') this.#h.onDataEnd(f)
    else if (this.#mode === 'buffer') this.#h.onFrame(f, this.#buf.subarray(0, f.length))
    // A DATA frame whose payload a gap cut still ends its stream if its header said so.
    else if (this.#mode === 'lost' && f.type === FRAME_DATA) this.#h.onDataEnd(f)
  }

  /** Room for a `length`-byte payload pieced together from several segments. */
  #grow(length: number): void {
    const next = new Uint8Array(Math.max(length, Math.min(this.#buf.length * 2, this.#maxBuffered)))
    next.set(this.#buf.subarray(0, this.#pos))
    this.#buf = next
  }

  #fatal(reason: string): void {
    if (this.#gapped && this.#phase !== 'resync') {
      this.#startResync()
      this.#h.onMisframed(reason)
      return
    }
    this.#phase = 'dead'
    this.#h.onFatal(reason)
  }
}

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0))
}
