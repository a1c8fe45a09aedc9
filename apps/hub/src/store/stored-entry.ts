import type { Attr, Endpoint, Entry, Header } from '@tapwire/wire'
import { pb } from '@tapwire/wire'
import { flatten } from './flat-string.js'
import type { StringPool } from './string-pool.js'

/**
 * Rough heap cost of one stored entry beyond its strings: the entry and two endpoints as objects
 * (every field set), its slot in the segment and the segment's columns. The estimate counts every
 * string's characters even when shared, so it errs high: on the hub bench's mix it says 736 bytes
 * per entry where the hub's RSS is ~610 (tools/bench/src/hub-query.ts).
 */
export const ENTRY_OVERHEAD_BYTES = 400
/** Per header line (object + two string headers), per attr, per label pair. */
export const HEADER_OVERHEAD_BYTES = 56
export const ATTR_OVERHEAD_BYTES = 72
export const LABEL_OVERHEAD_BYTES = 48

const EMPTY_HEADERS: Header[] = Object.freeze([]) as unknown as Header[]
const EMPTY_ATTRS: Attr[] = Object.freeze([]) as unknown as Attr[]
const EMPTY_LABELS: Record<string, string> = Object.freeze({})

/** Bounds of the sharing tables (distinct IPs, header names, header blocks). */
const MAX_SHARED_KEYS = 16_384
/** Variants kept per IP (endpoints) and per first header line (header blocks). */
const ENDPOINT_VARIANTS = 4
const MAX_SHARED_LENGTH = 128
const MAX_SHARED_LINES = 65_536

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true
  let n = 0
  for (const k in b) {
    if (a[k] !== b[k]) return false
    n++
  }
  for (const _k in a) n--
  return n === 0
}

function sameLines(a: readonly Header[], b: readonly Header[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const num = (v: unknown): number => (typeof v === 'number' ? v : 0)
/**
 * Counters and ids: protobufjs hands 64-bit values over as doubles, which V8 keeps as one boxed
 * number object per field per entry; a value that fits 32 bits is stored in place instead.
 */
const int = (v: unknown): number => (typeof v === 'number' ? ((v | 0) === v ? v | 0 : v) : 0)
const str = (v: string | null | undefined): string => v ?? ''

/** Entry fields the compactor writes by name; any other schema field is copied generically. */
const KNOWN_FIELDS = new Set([
  'id', 'node', 'flowId', 'index', 'connId', 'ts', 'elapsedUs', 'proto', 'transport', 'src', 'dst',
  'method', 'path', 'url', 'status', 'version', 'reqHeaders', 'respHeaders', 'reqBody', 'respBody',
  'reqBodySize', 'respBodySize', 'reqHeaderSize', 'respHeaderSize', 'reqBodyTruncated',
  'respBodyTruncated', 'errorType', 'errorMessage', 'worker', 'attrs', 'gaps', 'summary',
])

/**
 * Schema fields the compactor does not name (added to the proto after it was written). They are
 * still kept, always assigned in the same order so entries keep one shape; stored-entry.test.ts
 * fails while this list is not empty, so the next schema change also updates the compactor.
 */
export const UNNAMED_ENTRY_FIELDS: readonly string[] = Object.keys(
  pb.Entry.toObject(new pb.Entry(), { defaults: true, arrays: true, objects: true })
).filter((k) => !KNOWN_FIELDS.has(k))

/**
 * Turns a decoded entry into the form the store keeps, and says what it costs.
 *
 * - One shape: protobuf decoding sets only the fields present on the wire (defaults live on the
 *   prototype), so entries of different protocols have different hidden classes and every field
 *   read in a filter scan is megamorphic. The stored entry is a plain object with every field set,
 *   in one order, so filter closures and the store's loops see one shape.
 * - Plain numbers: absent 64-bit fields read the prototype's default, which protobufjs makes a
 *   Long object; stored entries carry 0.
 * - Shared strings (see StringPool) and shared empty arrays: fewer retained objects.
 *
 * Stored entries are read-only: endpoints, arrays and strings may be shared between entries.
 */
export class EntryCompactor {
  readonly #pool: StringPool
  readonly #endpoints = new Map<string, Endpoint[]>()
  /** Header blocks by their first line. */
  readonly #headerBlocks = new Map<Header, Header[][]>()
  readonly #scratch: Header[] = []
  readonly #headerLines = new Map<string, { name: string; byValue: Map<string, Header> }>()
  #sharedLines = 0
  #bytes = 0

  constructor(pool: StringPool) {
    this.#pool = pool
  }

  /** The size estimate of the entry compacted last, in bytes. */
  get bytes(): number {
    return this.#bytes
  }

  compact(e: Entry): Entry {
    const p = this.#pool
    const id = flatten(str(e.id))
    const url = flatten(str(e.url))
    const reqBody = flatten(str(e.reqBody))
    const respBody = flatten(str(e.respBody))
    const errorMessage = flatten(str(e.errorMessage))
    const summary = flatten(str(e.summary))
    this.#bytes = ENTRY_OVERHEAD_BYTES + id.length + url.length + reqBody.length + respBody.length + errorMessage.length + summary.length
    const node = p.intern(str(e.node))
    const proto = p.intern(str(e.proto))
    const method = p.intern(str(e.method))
    const path = p.intern(str(e.path))
    this.#bytes += node.length + proto.length + method.length + path.length
    const out: Entry = {
      id,
      node,
      flowId: int(e.flowId),
      index: int(e.index),
      connId: int(e.connId),
      ts: num(e.ts),
      elapsedUs: int(e.elapsedUs),
      proto,
      transport: p.intern(str(e.transport)),
      src: this.#endpoint(e.src),
      dst: this.#endpoint(e.dst),
      method,
      path,
      url,
      status: int(e.status),
      version: p.intern(str(e.version)),
      reqHeaders: this.#headers(e.reqHeaders),
      respHeaders: this.#headers(e.respHeaders),
      reqBody,
      respBody,
      reqBodySize: int(e.reqBodySize),
      respBodySize: int(e.respBodySize),
      reqHeaderSize: int(e.reqHeaderSize),
      respHeaderSize: int(e.respHeaderSize),
      reqBodyTruncated: e.reqBodyTruncated === true,
      respBodyTruncated: e.respBodyTruncated === true,
      errorType: p.intern(str(e.errorType)),
      errorMessage,
      worker: p.intern(str(e.worker)),
      attrs: this.#attrs(e.attrs),
      gaps: int(e.gaps),
      summary,
    }
    if (UNNAMED_ENTRY_FIELDS.length > 0) {
      const from = e as Record<string, unknown>
      const to = out as Record<string, unknown>
      for (const k of UNNAMED_ENTRY_FIELDS) to[k] = from[k] ?? null
    }
    return out
  }

  #endpoint(ep: Endpoint | null | undefined): Endpoint | null {
    if (ep === null || ep === undefined) return null
    const ip = str(ep.ip)
    const port = int(ep.port)
    const pod = str(ep.pod)
    const ns = str(ep.ns)
    const svc = str(ep.svc)
    const node = str(ep.node)
    const resolutionStatus = str(ep.resolutionStatus)
    this.#bytes += ip.length + pod.length + ns.length + svc.length + node.length
    const labels = ep.labels ?? EMPTY_LABELS
    for (const k in labels) this.#bytes += LABEL_OVERHEAD_BYTES + k.length + (labels[k]?.length ?? 0)
    // Calls to one server (and calls on one client connection) repeat the same endpoint: share it.
    // Fields compare by value, so only a new endpoint pays for interning its strings.
    let known = this.#endpoints.get(ip)
    if (known === undefined) {
      if (this.#endpoints.size >= MAX_SHARED_KEYS) this.#endpoints.clear()
      this.#endpoints.set(ip, (known = []))
    }
    for (const k of known) {
      if (k.port === port && k.pod === pod && k.ns === ns && k.svc === svc && k.node === node && k.resolutionStatus === resolutionStatus && sameLabels(k.labels!, labels)) return k
    }
    const p = this.#pool
    const out: Endpoint = {
      ip: known[0]?.ip ?? p.intern(ip),
      port,
      pod: p.intern(pod),
      ns: p.intern(ns),
      svc: p.intern(svc),
      node: p.intern(node),
      labels: this.#labels(labels),
      resolutionStatus: p.intern(resolutionStatus),
    }
    // A few variants per IP (ports, resolution changes); the oldest variant makes room.
    if (known.length >= ENDPOINT_VARIANTS) known.shift()
    known.push(out)
    return out
  }

  #labels(labels: Record<string, string>): Record<string, string> {
    let out: Record<string, string> | undefined
    for (const k in labels) {
      out ??= {}
      out[this.#pool.intern(k)] = this.#pool.intern(labels[k] ?? '')
    }
    return out ?? EMPTY_LABELS
  }

  #headers(headers: readonly Header[] | null | undefined): Header[] {
    if (headers === null || headers === undefined || headers.length === 0) return EMPTY_HEADERS
    const lines = this.#scratch
    lines.length = 0
    let shared = true
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!
      const name = str(h.name)
      const value = str(h.value)
      this.#bytes += HEADER_OVERHEAD_BYTES + name.length + value.length
      const line = this.#header(name, value)
      shared &&= line.value!.length <= MAX_SHARED_LENGTH
      lines.push(line)
    }
    if (!shared) return lines.slice()
    // A client sends the same header block call after call: share the array too. Lines are shared
    // objects, so comparing them is comparing pointers.
    let known = this.#headerBlocks.get(lines[0]!)
    if (known === undefined) {
      if (this.#headerBlocks.size >= MAX_SHARED_KEYS) this.#headerBlocks.clear()
      this.#headerBlocks.set(lines[0]!, (known = []))
    }
    for (const k of known) if (sameLines(k, lines)) return k
    const out = lines.slice()
    if (known.length >= ENDPOINT_VARIANTS) known.shift()
    known.push(out)
    return out
  }

  /** One shared object per (name, value) line while the table has room. */
  #header(name: string, value: string): Header {
    // Long values (cookies, tokens) rarely repeat; hashing them for nothing is not free.
    if (value.length > MAX_SHARED_LENGTH) return { name, value }
    let lines = this.#headerLines.get(name)
    if (lines === undefined) {
      if (this.#headerLines.size >= MAX_SHARED_KEYS) {
        this.#headerLines.clear()
        this.#headerBlocks.clear()
        this.#sharedLines = 0
      }
      // The first line's name string becomes the shared one.
      this.#headerLines.set(name, (lines = { name: flatten(name), byValue: new Map<string, Header>() }))
    }
    let h = lines.byValue.get(value)
    if (h === undefined) {
      h = { name: lines.name, value: flatten(value) }
      // All lines together are bounded too (many names × many values): past it, start over.
      if (++this.#sharedLines > MAX_SHARED_LINES) {
        this.#headerLines.clear()
        this.#headerBlocks.clear()
        this.#sharedLines = 0
      } else {
        lines.byValue.set(value, h)
      }
    }
    return h
  }

  #attrs(attrs: readonly Attr[] | null | undefined): Attr[] {
    if (attrs === null || attrs === undefined || attrs.length === 0) return EMPTY_ATTRS
    // Attrs keep their decoded objects: which oneof member is set is part of their meaning.
    for (const a of attrs) {
      if (typeof a.str === 'string') flatten(a.str)
      this.#bytes += ATTR_OVERHEAD_BYTES + (a.name?.length ?? 0) + (a.str?.length ?? 0)
      for (const v of a.list?.values ?? []) this.#bytes += 16 + v.length
    }
    return attrs as Attr[]
  }
}
