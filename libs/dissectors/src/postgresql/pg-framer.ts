// PostgreSQL message framing (PostgreSQL docs, chapter 55 "Frontend/Backend Protocol", §55.7
// "Message Formats"): typed messages are Byte1 type + Int32 length (self-inclusive) + body; the
// first frontend messages (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) have no type
// byte; the answer to SSLRequest/GSSENCRequest is one unframed byte ('S', 'N' or 'G').

export type FrameMode = 'typed' | 'untyped' | 'byte'

export interface PgMessage {
  /** Type byte; 0 for untyped startup-phase messages; the byte itself in `byte` mode. */
  type: number
  /** The first `keep` bytes of the body (after the length). */
  body: Uint8Array
  /** Whole message on the wire (type, length and body). */
  size: number
  ts: number
}

/** The protocol limits messages to 1 GB (MaxAllocSize); anything larger is not PostgreSQL. */
const MAX_MESSAGE = 0x40000000

export class PgFramer {
  mode: FrameMode
  readonly #keep: number
  readonly #onMessage: (m: PgMessage) => void
  readonly #head = new Uint8Array(5)
  #headLen = 0
  #type = 0
  #bodyLeft = -1
  #bodyLen = 0
  #body: Uint8Array = new Uint8Array(0)
  #kept = 0
  #ts = 0
  broken = false

  constructor(mode: FrameMode, keep: number, onMessage: (m: PgMessage) => void) {
    this.mode = mode
    this.#keep = keep
    this.#onMessage = onMessage
  }

  reset(): void {
    this.#headLen = 0
    this.#bodyLeft = -1
  }

  push(data: Uint8Array, tsMs: number): void {
    let i = 0
    while (i < data.length && !this.broken) {
      if (this.#bodyLeft < 0) {
        if (this.#headLen === 0) this.#ts = tsMs
        if (this.mode === 'byte') {
          const type = data[i++]!
          this.mode = 'typed'
          this.#onMessage({ type, body: new Uint8Array(0), size: 1, ts: tsMs })
          continue
        }
        const need = this.mode === 'typed' ? 5 : 4
        while (this.#headLen < need && i < data.length) this.#head[this.#headLen++] = data[i++]!
        if (this.#headLen < need) return
        const o = need - 4
        const len =
          ((this.#head[o]! << 24) |
            (this.#head[o + 1]! << 16) |
            (this.#head[o + 2]! << 8) |
            this.#head[o + 3]!) >>>
          0
        if (len < 4 || len > MAX_MESSAGE) {
          this.broken = true
          return
        }
        this.#type = this.mode === 'typed' ? this.#head[0]! : 0
        this.#bodyLen = len - 4
        this.#bodyLeft = this.#bodyLen
        this.#body = new Uint8Array(Math.min(this.#bodyLen, this.#keep))
        this.#kept = 0
      }
      const take = Math.min(this.#bodyLeft, data.length - i)
      const keep = Math.min(take, this.#body.length - this.#kept)
      if (keep > 0) {
        this.#body.set(data.subarray(i, i + keep), this.#kept)
        this.#kept += keep
      }
      i += take
      this.#bodyLeft -= take
      if (this.#bodyLeft === 0) {
        const size = this.#bodyLen + this.#headLen
        this.#bodyLeft = -1
        this.#headLen = 0
        this.#onMessage({ type: this.#type, body: this.#body, size, ts: this.#ts })
      }
    }
  }
}

/** Reads NUL-terminated strings (the protocol's `String` type) from a message body. */
export class BodyReader {
  pos = 0
  readonly #b: Uint8Array
  readonly #decoder: Utf8Decoder

  constructor(b: Uint8Array, decoder: Utf8Decoder) {
    this.#b = b
    this.#decoder = decoder
  }

  get remaining(): number {
    return this.#b.length - this.pos
  }

  cstring(): string | undefined {
    const end = this.#b.indexOf(0, this.pos)
    // A string cut by the keep limit still reads up to the end of what was kept.
    const stop = end < 0 ? this.#b.length : end
    if (this.pos >= this.#b.length) return undefined
    const s = this.#decoder.decode(this.#b.subarray(this.pos, stop))
    this.pos = stop + 1
    return s
  }

  byte(): number | undefined {
    return this.pos < this.#b.length ? this.#b[this.pos++] : undefined
  }

  int32(): number | undefined {
    if (this.pos + 4 > this.#b.length) return undefined
    const b = this.#b
    const v =
      (b[this.pos]! << 24) | (b[this.pos + 1]! << 16) | (b[this.pos + 2]! << 8) | b[this.pos + 3]!
    this.pos += 4
    return v
  }
}

/** The part of TextDecoder these readers use. */
export interface Utf8Decoder {
  decode(input: Uint8Array): string
}
