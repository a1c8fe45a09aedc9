/**
 * A hand-specialised encoder for EntryBatch, the message every agent publishes for every call.
 *
 * protobufjs's generated `EntryBatch.encode` is general: per field a presence test with
 * `hasOwnProperty`, a writer method call and a capacity check, a fresh writer (and buffer growth
 * by doubling) per batch. This one writes the same bytes (Protocol Buffers "Encoding": tags,
 * varints, length-delimited fields, in field-number order, proto3 defaults skipped) into one
 * buffer kept between calls, and copies the result out once. `entry-encoder.test.ts` checks that
 * it matches protobufjs byte for byte, and that it knows every field the .proto declares.
 *
 * Presence follows the generated code exactly: scalars are skipped when null/undefined or equal to
 * their proto3 default (`-0` is not 0 for doubles), oneof members are written whenever set,
 * repeated fields whenever non-empty. 64-bit fields accept numbers (the wire lib turns Long off)
 * and, like protobufjs, Long-like objects and decimal strings. One deliberate difference: strings
 * are always written as well-formed UTF-8 (a lone surrogate becomes U+FFFD, as TextEncoder and
 * Buffer do); protobufjs's JS path for strings under 40 chars writes such a surrogate as three
 * bytes no strict decoder accepts.
 */
import protobuf from 'protobufjs/minimal.js'
import type { Attr, Endpoint, Entry, EntryBatch, Header } from './codec.js'

type Int64 = number | string | { low: number; high: number; unsigned?: boolean } | null | undefined

interface WithUnknowns {
  $unknowns?: Uint8Array[] | null
}

const utf8 = new TextEncoder()
/**
 * Strings shorter than this are written by a JS loop, longer ones by TextEncoder.encodeInto: its
 * call costs about as much as the loop spends on ~150 ASCII chars. Below 128 chars an ASCII
 * string's length prefix is one byte.
 */
const SHORT_STRING = 128

let buf = new Uint8Array(256 * 1024)
let view = new DataView(buf.buffer)
let pos = 0

function grow(need: number): void {
  let size = buf.length * 2
  while (size < need) size *= 2
  const next = new Uint8Array(size)
  next.set(buf.subarray(0, pos))
  buf = next
  view = new DataView(next.buffer)
}

/** Room for `n` more bytes. */
function ensure(n: number): void {
  if (pos + n > buf.length) grow(pos + n)
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5
}

/** An unsigned 32-bit varint at `pos` (room already ensured). */
function varint32(v: number): void {
  while (v > 127) {
    buf[pos++] = (v & 127) | 128
    v >>>= 7
  }
  buf[pos++] = v
}

/** A 64-bit varint from its two halves (room already ensured). */
function varint64(lo: number, hi: number): void {
  while (hi) {
    buf[pos++] = (lo & 127) | 128
    lo = ((lo >>> 7) | (hi << 25)) >>> 0
    hi >>>= 7
  }
  while (lo > 127) {
    buf[pos++] = (lo & 127) | 128
    lo >>>= 7
  }
  buf[pos++] = lo
}

/** A tag of at most two bytes (field numbers below 2048). */
function tag(t: number): void {
  if (t < 0x80) buf[pos++] = t
  else {
    buf[pos++] = (t & 127) | 128
    buf[pos++] = t >>> 7
  }
}

function isSet64(v: Int64): boolean {
  if (v == null) return false
  // The generated code's test: a Long-like object is set when either half is truthy.
  return typeof v === 'object' ? Boolean(v.low || v.high) : v !== 0
}

/** uint64 as protobufjs writes it (LongBits.from): numbers truncated, negatives two's complement. */
function uint64(t: number, v: Int64): void {
  ensure(12)
  tag(t)
  if (typeof v === 'number' && v >= 0 && v < 4294967296) return varint32(v >>> 0)
  const bits = protobuf.util.LongBits.from(v as number)
  varint64(bits.lo, bits.hi)
}

function uint32(t: number, v: number): void {
  ensure(7)
  tag(t)
  varint32(v >>> 0)
}

function int32(t: number, v: number): void {
  ensure(12)
  tag(t)
  v |= 0
  if (v >= 0) return varint32(v)
  // Negative int32 is sign-extended to ten bytes.
  varint64(v >>> 0, 0xffffffff)
}

function double(t: number, v: number): void {
  ensure(10)
  tag(t)
  view.setFloat64(pos, v, true)
  pos += 8
}

function bool(t: number, v: boolean): void {
  ensure(3)
  tag(t)
  buf[pos++] = v ? 1 : 0
}

/**
 * UTF-8 of `s[from..]` into `b` at `p`; returns the end. Room for three bytes per char is ensured
 * by the caller. Locals rather than the module's `buf`/`pos`: the loop keeps them in registers.
 */
function utf8Write(s: string, from: number, b: Uint8Array, p: number): number {
  const n = s.length
  for (let i = from; i < n; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      b[p++] = c
      continue
    }
    if (c < 0x800) {
      b[p++] = (c >> 6) | 0xc0
      b[p++] = (c & 63) | 0x80
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
        b[p++] = (c >> 18) | 0xf0
        b[p++] = ((c >> 12) & 63) | 0x80
        b[p++] = ((c >> 6) & 63) | 0x80
        b[p++] = (c & 63) | 0x80
        continue
      }
      c = 0xfffd // a lone surrogate
    }
    b[p++] = (c >> 12) | 0xe0
    b[p++] = ((c >> 6) & 63) | 0x80
    b[p++] = (c & 63) | 0x80
  }
  return p
}

/** ASCII chars of `s` into `b` at `p` until a non-ASCII one: returns where it stopped in `s`. */
function asciiPrefix(s: string, b: Uint8Array, p: number): number {
  const n = s.length
  let i = 0
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) break
    b[p + i] = c
  }
  return i
}

/** A length-delimited string (no tag). */
function stringBody(s: string): void {
  const n = s.length
  ensure(n * 3 + 5)
  const start = pos
  if (n < SHORT_STRING) {
    // One length byte first; ASCII (nearly every string here) is one byte per char.
    const i = asciiPrefix(s, buf, start + 1)
    if (i === n) {
      buf[start] = n
      pos = start + 1 + n
      return
    }
    const end = utf8Write(s, i, buf, start + 1 + i)
    const len = end - start - 1
    if (len < 0x80) {
      buf[start] = len
      pos = end
      return
    }
    // Non-ASCII made it 128+ bytes (at most 3 × 127): a two-byte length, the bytes moved by one.
    buf.copyWithin(start + 2, start + 1, end)
    buf[start] = (len & 127) | 128
    buf[start + 1] = len >>> 7
    pos = end + 1
    return
  }
  // The UTF-8 length is at least the char count: reserve that many length bytes, shift if longer.
  const reserve = varintSize(n)
  pos = start + reserve + utf8.encodeInto(s, buf.subarray(start + reserve)).written
  finishLength(start, reserve)
}

function string(t: number, s: string): void {
  ensure(2)
  tag(t)
  stringBody(s)
}

/** Starts a length-delimited field after its tag, reserving `reserve` bytes for the length. */
function beginLength(reserve: number): number {
  ensure(reserve)
  const start = pos
  pos += reserve
  return start
}

/** Writes the length of what follows the reserved bytes at `start`, moving the content if needed. */
function finishLength(start: number, reserve: number): void {
  const len = pos - start - reserve
  const size = varintSize(len)
  if (size !== reserve) {
    if (size > reserve) ensure(size - reserve)
    buf.copyWithin(start + size, start + reserve, pos)
    pos += size - reserve
  }
  const end = pos
  pos = start
  varint32(len)
  pos = end
}

function unknowns(m: WithUnknowns): void {
  const u = m.$unknowns
  if (u == null) return
  for (const raw of u) {
    ensure(raw.length)
    buf.set(raw, pos)
    pos += raw.length
  }
}

function endpoint(t: number, e: Endpoint): void {
  ensure(2)
  tag(t)
  const start = beginLength(1)
  if (e.ip != null && e.ip !== '') string(10, e.ip)
  if (e.port != null && e.port !== 0) uint32(16, e.port)
  if (e.pod != null && e.pod !== '') string(26, e.pod)
  if (e.ns != null && e.ns !== '') string(34, e.ns)
  if (e.svc != null && e.svc !== '') string(42, e.svc)
  if (e.node != null && e.node !== '') string(50, e.node)
  const labels = e.labels
  if (labels != null) {
    for (const key of Object.keys(labels)) {
      ensure(2)
      tag(58)
      const m = beginLength(1)
      string(10, key)
      string(18, labels[key]!)
      finishLength(m, 1)
    }
  }
  if (e.resolutionStatus != null && e.resolutionStatus !== '') string(66, e.resolutionStatus)
  unknowns(e)
  finishLength(start, 1)
}

function header(t: number, h: Header): void {
  ensure(2)
  tag(t)
  const start = beginLength(1)
  if (h.name != null && h.name !== '') string(10, h.name)
  if (h.value != null && h.value !== '') string(18, h.value)
  unknowns(h)
  finishLength(start, 1)
}

function attr(a: Attr): void {
  ensure(2)
  tag(242) // field 30, length-delimited
  const start = beginLength(1)
  if (a.name != null && a.name !== '') string(10, a.name)
  // Oneof members: written when set, default or not.
  if (a.str != null) string(18, a.str)
  if (a.num != null) double(25, a.num)
  if (a.flag != null) bool(32, a.flag)
  if (a.list != null) {
    ensure(1)
    tag(42)
    const l = beginLength(1)
    const values = a.list.values
    if (values != null) for (const v of values) string(10, v)
    unknowns(a.list)
    finishLength(l, 1)
  }
  unknowns(a)
  finishLength(start, 1)
}

function entry(e: Entry): void {
  ensure(1)
  tag(26) // EntryBatch.entries = 3, length-delimited
  // Entries are typically 0.1-16 KiB: two length bytes, moved when they are not.
  const start = beginLength(2)
  if (e.id != null && e.id !== '') string(10, e.id)
  if (e.node != null && e.node !== '') string(18, e.node)
  if (isSet64(e.flowId)) uint64(24, e.flowId)
  if (e.index != null && e.index !== 0) uint32(32, e.index)
  if (isSet64(e.connId)) uint64(40, e.connId)
  if (e.ts != null && !Object.is(e.ts, 0)) double(49, e.ts)
  if (e.elapsedUs != null && !Object.is(e.elapsedUs, 0)) double(57, e.elapsedUs)
  if (e.proto != null && e.proto !== '') string(66, e.proto)
  if (e.transport != null && e.transport !== '') string(74, e.transport)
  if (e.src != null) endpoint(82, e.src)
  if (e.dst != null) endpoint(90, e.dst)
  if (e.method != null && e.method !== '') string(98, e.method)
  if (e.path != null && e.path !== '') string(106, e.path)
  if (e.url != null && e.url !== '') string(114, e.url)
  if (e.status != null && e.status !== 0) int32(120, e.status)
  if (e.version != null && e.version !== '') string(130, e.version)
  const reqHeaders = e.reqHeaders
  if (reqHeaders != null) for (let i = 0; i < reqHeaders.length; i++) header(138, reqHeaders[i]!)
  const respHeaders = e.respHeaders
  if (respHeaders != null) for (let i = 0; i < respHeaders.length; i++) header(146, respHeaders[i]!)
  if (e.reqBody != null && e.reqBody !== '') string(154, e.reqBody)
  if (e.respBody != null && e.respBody !== '') string(162, e.respBody)
  if (isSet64(e.reqBodySize)) uint64(168, e.reqBodySize)
  if (isSet64(e.respBodySize)) uint64(176, e.respBodySize)
  if (isSet64(e.reqHeaderSize)) uint64(184, e.reqHeaderSize)
  if (isSet64(e.respHeaderSize)) uint64(192, e.respHeaderSize)
  if (e.reqBodyTruncated != null && e.reqBodyTruncated !== false) bool(200, e.reqBodyTruncated)
  if (e.respBodyTruncated != null && e.respBodyTruncated !== false) bool(208, e.respBodyTruncated)
  if (e.errorType != null && e.errorType !== '') string(218, e.errorType)
  if (e.errorMessage != null && e.errorMessage !== '') string(226, e.errorMessage)
  if (e.worker != null && e.worker !== '') string(234, e.worker)
  const attrs = e.attrs
  if (attrs != null) for (let i = 0; i < attrs.length; i++) attr(attrs[i]!)
  if (e.gaps != null && e.gaps !== 0) uint32(248, e.gaps)
  if (e.summary != null && e.summary !== '') string(258, e.summary)
  unknowns(e)
  finishLength(start, 2)
}

/** Encodes an EntryBatch; the same bytes as `pb.EntryBatch.encode(batch).finish()`. */
export function encodeEntryBatchFast(batch: EntryBatch): Uint8Array {
  pos = 0
  try {
    if (batch.node != null && batch.node !== '') string(10, batch.node)
    if (isSet64(batch.seq)) uint64(16, batch.seq)
    const entries = batch.entries
    if (entries != null) for (let i = 0; i < entries.length; i++) entry(entries[i]!)
    unknowns(batch)
    return buf.slice(0, pos)
  } finally {
    // A huge batch does not pin its buffer for the life of the process.
    if (buf.length > MAX_KEPT) {
      buf = new Uint8Array(256 * 1024)
      view = new DataView(buf.buffer)
    }
    pos = 0
  }
}

const MAX_KEPT = 8 << 20

/**
 * Builds an EntryBatch one entry at a time: each entry is encoded when it is added, while its
 * strings and objects are still in the CPU cache, and is garbage at once (encoding a thousand
 * held entries later reads them all back from memory and makes the GC keep them; in the replay
 * bench that cost more than the encoding itself). `finish` gives the same bytes as
 * `encodeEntryBatch({ node, seq, entries })` over the entries added.
 */
export class EntryBatchWriter {
  #buf = new Uint8Array(64 * 1024)
  #view = new DataView(this.#buf.buffer)
  #pos = 0
  #count = 0

  /** Entries added since the last `finish`. */
  get count(): number {
    return this.#count
  }

  /** Encoded bytes of those entries (the batch adds a few for its node and seq). */
  get byteLength(): number {
    return this.#pos
  }

  add(e: Entry): void {
    // The encoding functions write at the module's buf/pos: point them at this writer's buffer.
    const ownBuf = buf
    const ownView = view
    const ownPos = pos
    const start = this.#pos
    buf = this.#buf
    view = this.#view
    pos = start
    try {
      entry(e)
      this.#count++
    } catch (err) {
      pos = start // a malformed entry leaves nothing behind
      throw err
    } finally {
      this.#buf = buf
      this.#view = view
      this.#pos = pos
      buf = ownBuf
      view = ownView
      pos = ownPos
    }
  }

  /** The batch of the entries added so far, as `seq` of `node`; the writer starts afresh. */
  finish(node: string, seq: number): Uint8Array {
    const head = encodeEntryBatchFast({ node, seq })
    const out = new Uint8Array(head.length + this.#pos)
    out.set(head, 0)
    out.set(this.#buf.subarray(0, this.#pos), head.length)
    this.#pos = 0
    this.#count = 0
    if (this.#buf.length > MAX_KEPT) {
      this.#buf = new Uint8Array(64 * 1024)
      this.#view = new DataView(this.#buf.buffer)
    }
    return out
  }
}
