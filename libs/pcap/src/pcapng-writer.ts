/**
 * pcapng writer (draft-ietf-opsawg-pcapng): one Section Header Block, an Interface Description Block
 * per interface (if_name, if_description, if_tsresol = 9), and Enhanced Packet Blocks whose 64-bit
 * nanosecond timestamps are split high/low. Little-endian. Interfaces may be added while writing;
 * each IDB is emitted before the first packet that can refer to it (§4.2 allows IDBs anywhere in a
 * section before their use).
 */
import { BufferedWriter, RESOLVED } from './buffered-writer.js'
import { PcapBadRecordError } from './errors.js'
import { DEFAULT_SNAPLEN } from './limits.js'
import { BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC } from './pcapng-reader.js'
import type { ByteSink } from './sink.js'
import { nsToHiLo } from './timestamp.js'
import type { WritableRecord } from './types.js'

export interface PcapngInterfaceSpec {
  linkType: number
  /** if_name, e.g. 'eth0'. */
  name?: string
  /** if_description, e.g. 'node-a:eth0' so merged exports say where packets came from. */
  description?: string
  /** Default 262144. */
  snapLen?: number
}

export interface PcapngWriterOptions {
  interfaces?: PcapngInterfaceSpec[]
  /** shb_userappl; default 'tapwire'. */
  userAppl?: string
  /** Bytes batched per sink write; default 1 MiB. */
  bufferSize?: number
}

const encoder = new TextEncoder()
const pad4 = (n: number): number => (n + 3) & ~3

// Option codes, §4.1 / §4.2.
const SHB_USERAPPL = 4
const IF_NAME = 2
const IF_DESCRIPTION = 3
const IF_TSRESOL = 9

const EPB_OVERHEAD = 32

interface Opt {
  code: number
  value: Uint8Array
}

function optionsSize(opts: Opt[]): number {
  if (opts.length === 0) return 0
  let n = 4 // opt_endofopt
  for (const o of opts) n += 4 + pad4(o.value.length)
  return n
}

function writeOptions(buf: Uint8Array, view: DataView, o: number, opts: Opt[]): number {
  if (opts.length === 0) return o
  for (const opt of opts) {
    view.setUint16(o, opt.code, true)
    view.setUint16(o + 2, opt.value.length, true)
    buf.set(opt.value, o + 4)
    buf.fill(0, o + 4 + opt.value.length, o + 4 + pad4(opt.value.length))
    o += 4 + pad4(opt.value.length)
  }
  view.setUint32(o, 0, true) // opt_endofopt
  return o + 4
}

/** §4.1 Section Header Block, section length unknown (-1). */
export function shbBytes(userAppl: string | undefined): Uint8Array {
  const opts: Opt[] = userAppl ? [{ code: SHB_USERAPPL, value: encoder.encode(userAppl) }] : []
  const total = 28 + optionsSize(opts)
  const buf = new Uint8Array(total)
  const view = new DataView(buf.buffer)
  view.setUint32(0, BT_SHB, true)
  view.setUint32(4, total, true)
  view.setUint32(8, BYTE_ORDER_MAGIC, true)
  view.setUint16(12, 1, true)
  view.setUint16(14, 0, true)
  view.setInt32(16, -1, true)
  view.setInt32(20, -1, true)
  writeOptions(buf, view, 24, opts)
  view.setUint32(total - 4, total, true)
  return buf
}

/** §4.2 Interface Description Block with if_tsresol = 9 (nanoseconds). */
export function idbBytes(spec: PcapngInterfaceSpec): Uint8Array {
  const opts: Opt[] = []
  if (spec.name !== undefined) opts.push({ code: IF_NAME, value: encoder.encode(spec.name) })
  if (spec.description !== undefined)
    opts.push({ code: IF_DESCRIPTION, value: encoder.encode(spec.description) })
  opts.push({ code: IF_TSRESOL, value: Uint8Array.of(9) })
  const total = 20 + optionsSize(opts)
  const buf = new Uint8Array(total)
  const view = new DataView(buf.buffer)
  view.setUint32(0, BT_IDB, true)
  view.setUint32(4, total, true)
  view.setUint16(8, spec.linkType, true)
  view.setUint16(10, 0, true)
  view.setUint32(12, spec.snapLen ?? DEFAULT_SNAPLEN, true)
  writeOptions(buf, view, 16, opts)
  view.setUint32(total - 4, total, true)
  return buf
}

const hiLo = new Float64Array(2)

/** §4.3 Enhanced Packet Block without options; caller ensures room (32 + padded capLen). */
export function encodeEpb(
  buf: Uint8Array,
  view: DataView,
  o: number,
  rec: WritableRecord,
  ifIndex: number,
  snapLen: number
): number {
  if (!(rec.tsSec >= 0 && rec.tsSec <= 0xffffffff && rec.tsNsec >= 0 && rec.tsNsec < 1e9)) {
    throw new PcapBadRecordError(`timestamp ${rec.tsSec}.${rec.tsNsec} cannot be written`)
  }
  const data = rec.data
  const capLen = Math.min(data.length, snapLen)
  const padded = pad4(capLen)
  const total = EPB_OVERHEAD + padded
  nsToHiLo(rec.tsSec, rec.tsNsec, hiLo)
  view.setUint32(o, BT_EPB, true)
  view.setUint32(o + 4, total, true)
  view.setUint32(o + 8, ifIndex, true)
  view.setUint32(o + 12, hiLo[0]!, true)
  view.setUint32(o + 16, hiLo[1]!, true)
  view.setUint32(o + 20, capLen, true)
  view.setUint32(o + 24, Math.max(rec.origLen ?? data.length, capLen), true)
  buf.set(capLen === data.length ? data : data.subarray(0, capLen), o + 28)
  // Padding must be zero (buffers are reused only after being handed out fresh, but be explicit).
  for (let i = o + 28 + capLen; i < o + 28 + padded; i++) buf[i] = 0
  view.setUint32(o + 28 + padded, total, true)
  return o + total
}

interface IfaceState {
  spec: PcapngInterfaceSpec
  snapLen: number
  written: boolean
}

/** Streams a pcapng file to a sink. */
export class PcapngWriter extends BufferedWriter {
  readonly #ifaces: IfaceState[] = []

  constructor(sink: ByteSink, options: PcapngWriterOptions = {}) {
    super(sink, options.bufferSize)
    const shb = shbBytes(options.userAppl ?? 'tapwire')
    this.buf.set(shb, 0)
    this.pos = shb.length
    for (const spec of options.interfaces ?? []) this.addInterface(spec)
  }

  /** Declares an interface; returns the ifIndex records must carry to use it. */
  addInterface(spec: PcapngInterfaceSpec): number {
    this.#ifaces.push({ spec, snapLen: spec.snapLen ?? DEFAULT_SNAPLEN, written: false })
    return this.#ifaces.length - 1
  }

  get interfaceCount(): number {
    return this.#ifaces.length
  }

  #writeIdbs(): Promise<void> | undefined {
    // IDB ids are positional (§4.2), so every interface up to the one needed is written in order.
    let p: Promise<void> | undefined
    for (const st of this.#ifaces) {
      if (st.written) continue
      const idb = idbBytes(st.spec)
      p = this.reserve(idb.length) ?? p
      this.buf.set(idb, this.pos)
      this.pos += idb.length
      st.written = true
    }
    return p
  }

  /** Buffers one record; await the promise for backpressure (it resolves at once unless flushing). */
  write(rec: WritableRecord): Promise<void> {
    const ifIndex = rec.ifIndex ?? 0
    const st = this.#ifaces[ifIndex]
    if (st === undefined)
      throw new PcapBadRecordError(`record refers to undeclared interface ${ifIndex}`)
    if (rec.linkType !== undefined && rec.linkType !== st.spec.linkType) {
      throw new PcapBadRecordError(
        `record link type ${rec.linkType} differs from interface ${ifIndex}'s ${st.spec.linkType}`
      )
    }
    const pIdb = st.written ? undefined : this.#writeIdbs()
    const capLen = Math.min(rec.data.length, st.snapLen)
    const p = this.reserve(EPB_OVERHEAD + pad4(capLen)) ?? pIdb
    this.pos = encodeEpb(this.buf, this.view, this.pos, rec, ifIndex, st.snapLen)
    this.recordsWritten++
    return p ?? RESOLVED
  }

  /** Writes IDBs not yet written (so a file without packets still lists its interfaces), then closes. */
  override async close(options: { end?: boolean } = {}): Promise<void> {
    if (!this.closed) await this.#writeIdbs()
    await super.close(options)
  }
}

/** Encodes a small pcapng file in memory. */
export function encodePcapng(
  records: Iterable<WritableRecord>,
  options: PcapngWriterOptions
): Uint8Array {
  const chunks: Uint8Array[] = [shbBytes(options.userAppl ?? 'tapwire')]
  const specs = options.interfaces ?? []
  for (const spec of specs) chunks.push(idbBytes(spec))
  const list = Array.isArray(records) ? (records as WritableRecord[]) : [...records]
  let size = 0
  for (const r of list) {
    const spec = specs[r.ifIndex ?? 0]
    if (spec === undefined)
      throw new PcapBadRecordError(`record refers to undeclared interface ${r.ifIndex ?? 0}`)
    if (r.linkType !== undefined && r.linkType !== spec.linkType) {
      throw new PcapBadRecordError(
        `record link type ${r.linkType} differs from interface ${r.ifIndex ?? 0}'s ${spec.linkType}`
      )
    }
    size += EPB_OVERHEAD + pad4(Math.min(r.data.length, spec.snapLen ?? DEFAULT_SNAPLEN))
  }
  const body = new Uint8Array(size)
  const view = new DataView(body.buffer)
  let o = 0
  for (const r of list) {
    const ifIndex = r.ifIndex ?? 0
    o = encodeEpb(body, view, o, r, ifIndex, specs[ifIndex]!.snapLen ?? DEFAULT_SNAPLEN)
  }
  chunks.push(body)
  let total = 0
  for (const c of chunks) total += c.length
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
