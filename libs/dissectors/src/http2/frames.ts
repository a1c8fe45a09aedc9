/** HTTP/2 framing (RFC 9113 §4): a streaming frame reader for one direction of a connection. */

/** The client connection preface (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Uint8Array.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', (c) =>
  c.charCodeAt(0)
)

/** Frame types (RFC 9113 §6). */
export const FRAME_DATA = 0x0
export const FRAME_HEADERS = 0x1
export const FRAME_PRIORITY = 0x2
export const FRAME_RST_STREAM = 0x3
export const FRAME_SETTINGS = 0x4
export const FRAME_PUSH_PROMISE = 0x5
export const FRAME_PING = 0x6
export const FRAME_GOAWAY = 0x7
export const FRAME_WINDOW_UPDATE = 0x8
export const FRAME_CONTINUATION = 0x9

/** Flags (RFC 9113 §6.1, §6.2). */
export const FLAG_END_STREAM = 0x1
export const FLAG_ACK = 0x1
export const FLAG_END_HEADERS = 0x4
export const FLAG_PADDED = 0x8
export const FLAG_PRIORITY = 0x20

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
  /** Unrecoverable: the reader stops. */
  onFatal(reason: string): void
}

type Phase = 'preface' | 'header' | 'payload' | 'dead'
type Mode = 'data' | 'buffer' | 'skip'

/**
 * Reads frames from one direction, accepting bytes in any pieces (one byte at a time works).
 * DATA payloads stream through without being buffered; other frames are buffered whole up to
 * `maxBuffered` bytes. Longer header-carrying frames are fatal (the HPACK state would be lost);
 * other long frames (unknown types, GOAWAY debug data) are skipped.
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

  constructor(expectPreface: boolean, maxBuffered: number, handler: FrameHandler) {
    this.#phase = expectPreface ? 'preface' : 'header'
    this.#maxBuffered = maxBuffered
    this.#h = handler
  }

  get dead(): boolean {
    return this.#phase === 'dead'
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
      }
    }
  }

  /**
   * Bytes lost in a capture gap. Survivable only inside a DATA (or skipped) payload whose length
   * is known: returns false when the frame boundaries are lost, and the reader is then dead.
   */
  gap(length: number): boolean {
    if (this.#phase === 'payload' && this.#mode !== 'buffer') {
      const f = this.#frame
      const remaining = f.length - this.#pos
      const padKnown = !(this.#mode === 'data' && (f.flags & FLAG_PADDED) !== 0 && this.#pos === 0)
      if (length <= remaining && padKnown) {
        if (this.#mode === 'data') {
          const lost = overlap(this.#pos, this.#pos + length, this.#dataStart, this.#dataEnd)
          if (lost > 0) this.#h.onDataGap(f, lost)
        }
        this.#pos += length
        if (this.#pos === f.length) this.#endFrame()
        return true
      }
    }
    this.#phase = 'dead'
    return false
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
          return data.length
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
  }

  /** Room for a `length`-byte payload pieced together from several segments. */
  #grow(length: number): void {
    const next = new Uint8Array(Math.max(length, Math.min(this.#buf.length * 2, this.#maxBuffered)))
    next.set(this.#buf.subarray(0, this.#pos))
    this.#buf = next
  }

  #fatal(reason: string): void {
    this.#phase = 'dead'
    this.#h.onFatal(reason)
  }
}

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0))
}
