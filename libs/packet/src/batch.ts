/**
 * Packet batches: many captured packets packed into one ArrayBuffer, so the capture thread can hand
 * them to the ring writer and the dissector worker as one transferable object instead of one message
 * per packet.
 *
 * Layout (little-endian):
 *   batch header, 16 bytes: magic u32 'TWB1' | link type u32 | packet count u32 | reserved u32
 *   per packet, 20-byte record header then the bytes, padded to 4:
 *     ts seconds u32 | ts nanoseconds u32 | captured length u32 | original length u32 |
 *     interface index u16 | flags u16
 */

export const BATCH_MAGIC = 0x31425754 // 'TWB1'
export const BATCH_HEADER_SIZE = 16
export const RECORD_HEADER_SIZE = 20

/** One packet as handed to decoders: `data` is a view into the batch, never a copy. */
export interface PacketView {
  tsSec: number
  tsNsec: number
  capLen: number
  origLen: number
  ifIndex: number
  data: Uint8Array
}

export class BatchFormatError extends Error {
  readonly code = 'BATCH_FORMAT'
  constructor(message: string) {
    super(message)
    this.name = 'BatchFormatError'
  }
}

/** Appends packets into a growing buffer; `finish()` hands out the batch and starts a new one. */
export class BatchBuilder {
  #buf: ArrayBuffer
  #view: DataView
  #bytes: Uint8Array
  #offset = BATCH_HEADER_SIZE
  #count = 0
  readonly linkType: number

  constructor(linkType: number, initialSize = 256 * 1024) {
    this.linkType = linkType
    this.#buf = new ArrayBuffer(initialSize)
    this.#view = new DataView(this.#buf)
    this.#bytes = new Uint8Array(this.#buf)
  }

  get count(): number {
    return this.#count
  }

  get byteLength(): number {
    return this.#offset
  }

  append(tsSec: number, tsNsec: number, data: Uint8Array, origLen = data.length, ifIndex = 0): void {
    this.appendFrom(data, 0, data.length, tsSec, tsNsec, origLen, ifIndex)
  }

  /** `append` of the packet `buf[start, start + capLen)`, without a view of it. */
  appendFrom(
    buf: Uint8Array,
    start: number,
    capLen: number,
    tsSec: number,
    tsNsec: number,
    origLen = capLen,
    ifIndex = 0
  ): void {
    const need = this.#offset + RECORD_HEADER_SIZE + capLen + 3
    if (need > this.#buf.byteLength) this.#grow(need)
    const v = this.#view
    const o = this.#offset
    v.setUint32(o, tsSec >>> 0, true)
    v.setUint32(o + 4, tsNsec >>> 0, true)
    v.setUint32(o + 8, capLen, true)
    v.setUint32(o + 12, origLen, true)
    v.setUint16(o + 16, ifIndex, true)
    v.setUint16(o + 18, 0, true)
    const to = this.#bytes
    const at = o + RECORD_HEADER_SIZE
    // Small packets (most of them) by a loop: set() of a subarray costs a view and a native call.
    if (capLen <= 64) for (let i = 0; i < capLen; i++) to[at + i] = buf[start + i]!
    else to.set(start === 0 && capLen === buf.length ? buf : buf.subarray(start, start + capLen), at)
    this.#offset = at + ((capLen + 3) & ~3)
    this.#count++
  }

  /**
   * Returns the finished batch and resets the builder. A mostly full buffer is handed over as it
   * is (readers stop at the packet count) and a fresh one is allocated; a mostly empty one is
   * trimmed by copying, so small live batches do not pin large buffers. With `next` (a batch
   * buffer a consumer has given back), the buffer is handed over untrimmed and `next` (when large
   * enough) takes its place: for batches that live briefly, as in offline replay.
   */
  finish(next?: ArrayBuffer): ArrayBuffer {
    const v = this.#view
    v.setUint32(0, BATCH_MAGIC, true)
    v.setUint32(4, this.linkType, true)
    v.setUint32(8, this.#count, true)
    v.setUint32(12, 0, true)
    let out: ArrayBuffer
    if (next !== undefined || this.#offset * 2 >= this.#buf.byteLength) {
      out = this.#buf
      this.#buf = next !== undefined && next.byteLength >= out.byteLength ? next : new ArrayBuffer(out.byteLength)
      this.#view = new DataView(this.#buf)
      this.#bytes = new Uint8Array(this.#buf)
    } else {
      out = this.#buf.slice(0, this.#offset)
    }
    this.#offset = BATCH_HEADER_SIZE
    this.#count = 0
    return out
  }

  /**
   * Like `finish()`, but the batch is the builder's own buffer and stays valid only until the next
   * `append`: for a consumer that is done with it before then (offline replay hands it to the
   * analyzer synchronously). Saves allocating and zeroing a fresh buffer per batch.
   */
  finishInPlace(): ArrayBuffer {
    const v = this.#view
    v.setUint32(0, BATCH_MAGIC, true)
    v.setUint32(4, this.linkType, true)
    v.setUint32(8, this.#count, true)
    v.setUint32(12, 0, true)
    this.#offset = BATCH_HEADER_SIZE
    this.#count = 0
    return this.#buf
  }

  #grow(need: number): void {
    let size = this.#buf.byteLength * 2
    while (size < need) size *= 2
    const next = new ArrayBuffer(size)
    new Uint8Array(next).set(this.#bytes.subarray(0, this.#offset))
    this.#buf = next
    this.#view = new DataView(next)
    this.#bytes = new Uint8Array(next)
  }
}

export interface BatchInfo {
  linkType: number
  count: number
}

export function readBatchInfo(batch: ArrayBuffer): BatchInfo {
  if (batch.byteLength < BATCH_HEADER_SIZE) throw new BatchFormatError('batch shorter than its header')
  const v = new DataView(batch)
  if (v.getUint32(0, true) !== BATCH_MAGIC) throw new BatchFormatError('not a packet batch (bad magic)')
  return { linkType: v.getUint32(4, true), count: v.getUint32(8, true) }
}

/**
 * Calls `fn` for every packet. The same PacketView object is reused for each call (no allocation
 * per packet): copy what you keep.
 */
export function forEachPacket(batch: ArrayBuffer, fn: (p: PacketView) => void): number {
  const { count } = readBatchInfo(batch)
  const v = new DataView(batch)
  const bytes = new Uint8Array(batch)
  const p: PacketView = { tsSec: 0, tsNsec: 0, capLen: 0, origLen: 0, ifIndex: 0, data: bytes.subarray(0, 0) }
  let o = BATCH_HEADER_SIZE
  for (let i = 0; i < count; i++) {
    if (o + RECORD_HEADER_SIZE > batch.byteLength) throw new BatchFormatError(`record ${i} past the end`)
    p.tsSec = v.getUint32(o, true)
    p.tsNsec = v.getUint32(o + 4, true)
    p.capLen = v.getUint32(o + 8, true)
    p.origLen = v.getUint32(o + 12, true)
    p.ifIndex = v.getUint16(o + 16, true)
    const start = o + RECORD_HEADER_SIZE
    if (start + p.capLen > batch.byteLength) throw new BatchFormatError(`record ${i} data past the end`)
    p.data = bytes.subarray(start, start + p.capLen)
    fn(p)
    o = start + ((p.capLen + 3) & ~3)
  }
  return count
}
