// A length-prefixed message framer for binary protocols (Kafka, MongoDB, AMQP frames, TLS
// records): each message starts with a fixed-size header that tells its total length. Only the
// first `keep` bytes of a message are held, so a huge message costs a bounded amount of memory.

/** One framed message: its first bytes (header included) and its real length. */
export interface Frame {
  /** The first min(total, keep) bytes of the message. */
  bytes: Uint8Array
  total: number
  /** Packet time of the message's first byte. */
  ts: number
  truncated: boolean
  /** Bytes of this message lost in capture gaps. */
  gaps: number
}

export interface FramerOptions {
  /** Bytes needed before `frameLength` can answer. */
  headerLength: number
  /** Total message length (header included) from the header, or a negative number when invalid. */
  frameLength: (header: Uint8Array) => number
  /** Bytes of each message kept (at least `headerLength`). */
  keep: number
  onFrame: (frame: Frame) => void
  /** The stream is no longer framable (invalid length, gap between messages); nothing follows. */
  onLost?: (reason: string) => void
}

/** Splits one direction of a stream into messages. */
export class LengthFramer {
  readonly #o: FramerOptions
  #buf: Uint8Array
  #len = 0
  /** Total length of the message in progress, or -1 while its header is incomplete. */
  #total = -1
  #consumed = 0
  #ts = 0
  #gaps = 0
  #lost = false

  constructor(opts: FramerOptions) {
    this.#o = { ...opts, keep: Math.max(opts.keep, opts.headerLength) }
    this.#buf = new Uint8Array(Math.min(this.#o.keep, 4096))
  }

  get lost(): boolean {
    return this.#lost
  }

  /** True between messages (nothing of a next message seen yet). */
  get idle(): boolean {
    return this.#consumed === 0
  }

  push(data: Uint8Array, ts: number): void {
    let off = 0
    while (off < data.length && !this.#lost) {
      if (this.#consumed === 0) {
        this.#ts = ts
        this.#gaps = 0
      }
      if (this.#total < 0) {
        const take = Math.min(this.#o.headerLength - this.#len, data.length - off)
        this.#append(data.subarray(off, off + take))
        off += take
        this.#consumed += take
        if (this.#len < this.#o.headerLength) return
        const total = this.#o.frameLength(this.#buf.subarray(0, this.#len))
        if (!(total >= this.#o.headerLength)) return this.#lose('invalid message length')
        this.#total = total
      }
      const want = this.#total - this.#consumed
      const take = Math.min(want, data.length - off)
      const keepRoom = this.#o.keep - this.#len
      if (keepRoom > 0) this.#append(data.subarray(off, off + Math.min(take, keepRoom)))
      off += take
      this.#consumed += take
      if (this.#consumed === this.#total) this.#finish()
    }
  }

  /** Lost bytes: inside a message they only count; between messages the framing is gone. */
  gap(length: number): void {
    if (this.#lost) return
    if (this.#total >= 0 && this.#consumed + length < this.#total) {
      this.#consumed += length
      this.#gaps += length
      return
    }
    if (this.#total >= 0 && this.#consumed + length === this.#total) {
      this.#gaps += length
      this.#consumed += length
      this.#finish()
      return
    }
    this.#lose('capture gap between messages')
  }

  #finish(): void {
    const frame: Frame = {
      bytes: this.#buf.slice(0, this.#len),
      total: this.#total,
      ts: this.#ts,
      truncated: this.#total > this.#len,
      gaps: this.#gaps,
    }
    this.#len = 0
    this.#total = -1
    this.#consumed = 0
    this.#o.onFrame(frame)
  }

  #lose(reason: string): void {
    this.#lost = true
    this.#len = 0
    this.#buf = new Uint8Array(0)
    this.#o.onLost?.(reason)
  }

  #append(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    const need = this.#len + chunk.length
    if (need > this.#buf.length) {
      const next = new Uint8Array(Math.min(this.#o.keep, Math.max(need, this.#buf.length * 2)))
      next.set(this.#buf.subarray(0, this.#len))
      this.#buf = next
    }
    this.#buf.set(chunk, this.#len)
    this.#len += chunk.length
  }
}

/** Big-endian / little-endian reads that throw a `RangeError` past the end (caught by callers). */
export class Reader {
  readonly b: Uint8Array
  readonly dv: DataView
  pos: number
  readonly end: number

  constructor(b: Uint8Array, pos = 0, end = b.length) {
    this.b = b
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    this.pos = pos
    this.end = Math.min(end, b.length)
  }

  get left(): number {
    return this.end - this.pos
  }

  #need(n: number): number {
    if (n < 0 || this.pos + n > this.end) throw new RangeError('truncated')
    const p = this.pos
    this.pos += n
    return p
  }

  u8(): number {
    return this.dv.getUint8(this.#need(1))
  }
  i8(): number {
    return this.dv.getInt8(this.#need(1))
  }
  u16(le = false): number {
    return this.dv.getUint16(this.#need(2), le)
  }
  i16(le = false): number {
    return this.dv.getInt16(this.#need(2), le)
  }
  u32(le = false): number {
    return this.dv.getUint32(this.#need(4), le)
  }
  i32(le = false): number {
    return this.dv.getInt32(this.#need(4), le)
  }
  i64(le = false): bigint {
    return this.dv.getBigInt64(this.#need(8), le)
  }
  u64(le = false): bigint {
    return this.dv.getBigUint64(this.#need(8), le)
  }
  f64(le = false): number {
    return this.dv.getFloat64(this.#need(8), le)
  }
  bytes(n: number): Uint8Array {
    const p = this.#need(n)
    return this.b.subarray(p, p + n)
  }
  skip(n: number): void {
    this.#need(n)
  }
  /** Unsigned LEB128 varint (Kafka's compact lengths and tagged fields). */
  uvarint(): number {
    let v = 0
    let shift = 0
    for (;;) {
      const c = this.u8()
      v += (c & 0x7f) * 2 ** shift
      if ((c & 0x80) === 0) return v
      shift += 7
      if (shift > 28) throw new RangeError('varint too long')
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

export const text = (b: Uint8Array): string => utf8.decode(b)

/** Hex of bytes, for previews of binary payloads. */
export function hex(b: Uint8Array, max = b.length): string {
  let s = ''
  for (let i = 0; i < Math.min(max, b.length); i++)
    s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16)
  return s
}
