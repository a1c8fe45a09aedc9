/**
 * Builders for HTTP/2 byte streams in tests: frames (RFC 9113 §4.1) and header blocks encoded
 * with a minimal HPACK encoder (RFC 7541). Not used by the dissectors themselves.
 */
import { huffmanCode } from '../hpack/huffman.js'
import { concatBytes as concatAll } from '../test-support/wire-bytes.js'
import { STATIC_TABLE } from '../hpack/static-table.js'

export const PREFACE = new TextEncoder().encode('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const

/** The parts (an array of them), one after the other. */
export const concatBytes = (parts: readonly Uint8Array[]): Uint8Array => concatAll(...parts)

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0)
): Uint8Array {
  const out = new Uint8Array(9 + payload.length)
  out[0] = (payload.length >>> 16) & 0xff
  out[1] = (payload.length >>> 8) & 0xff
  out[2] = payload.length & 0xff
  out[3] = type
  out[4] = flags
  new DataView(out.buffer).setUint32(5, streamId & 0x7fffffff)
  out.set(payload, 9)
  return out
}

export function settingsFrame(settings: readonly [id: number, value: number][] = []): Uint8Array {
  const p = new Uint8Array(settings.length * 6)
  const v = new DataView(p.buffer)
  settings.forEach(([id, value], i) => {
    v.setUint16(i * 6, id)
    v.setUint32(i * 6 + 2, value)
  })
  return frame(FrameType.SETTINGS, 0, 0, p)
}

export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  const p = new Uint8Array(4)
  new DataView(p.buffer).setUint32(0, code)
  return frame(FrameType.RST_STREAM, 0, streamId, p)
}

export function goawayFrame(lastStreamId: number, code: number): Uint8Array {
  const p = new Uint8Array(8)
  new DataView(p.buffer).setUint32(0, lastStreamId)
  new DataView(p.buffer).setUint32(4, code)
  return frame(FrameType.GOAWAY, 0, 0, p)
}

/** §5.1 integer with `flags` in the high bits of the first byte. */
export function encodeInteger(value: number, prefixBits: number, flags: number): Uint8Array {
  const max = (1 << prefixBits) - 1
  if (value < max) return Uint8Array.of(flags | value)
  const out = [flags | max]
  let rest = value - max
  while (rest >= 128) {
    out.push((rest % 128) | 0x80)
    rest = Math.floor(rest / 128)
  }
  out.push(rest)
  return Uint8Array.from(out)
}

export function huffmanEncode(bytes: Uint8Array): Uint8Array {
  const out: number[] = []
  let acc = 0
  let nbits = 0
  for (const b of bytes) {
    const { code, bits } = huffmanCode(b)
    for (let i = bits - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1)
      nbits++
      if (nbits === 8) {
        out.push(acc)
        acc = 0
        nbits = 0
      }
    }
  }
  // Pad with the most significant bits of EOS (all ones).
  if (nbits > 0) out.push(((acc << (8 - nbits)) | ((1 << (8 - nbits)) - 1)) & 0xff)
  return Uint8Array.from(out)
}

const latin1Bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)

export function encodeString(s: string, huffman: boolean): Uint8Array {
  const raw = latin1Bytes(s)
  const body = huffman ? huffmanEncode(raw) : raw
  return concatBytes([encodeInteger(body.length, 7, huffman ? 0x80 : 0), body])
}

export interface EncodeOptions {
  /** Literal with incremental indexing (adds each field to the peer's table) instead of without. */
  index?: boolean
  huffman?: boolean
}

/** A header block of literal fields with literal names (§6.2.1 or §6.2.2). */
export function encodeHeaders(
  headers: readonly [string, string][],
  opts: EncodeOptions = {}
): Uint8Array {
  const parts: Uint8Array[] = []
  for (const [name, value] of headers) {
    parts.push(Uint8Array.of(opts.index ? 0x40 : 0x00))
    parts.push(encodeString(name, opts.huffman ?? false))
    parts.push(encodeString(value, opts.huffman ?? false))
  }
  return concatBytes(parts)
}

/**
 * An HPACK encoder with a dynamic table (RFC 7541 §2.3, §4), the way real peers index: a field
 * already in a table is sent as an index (§6.1), a known name as a literal with an indexed name,
 * and everything is indexed (§6.2.1) unless `noIndex` names it (then §6.2.2, as nghttp2 does for
 * `:path`).
 */
export class TestHpackEncoder {
  readonly table: [string, string][] = []
  #size = 0
  #max: number
  #pendingUpdate: number | undefined
  constructor(
    max = 4096,
    readonly noIndex: ReadonlySet<string> = new Set([':path'])
  ) {
    this.#max = max
  }

  get size(): number {
    return this.#size
  }

  /** §6.3: the next block starts with a dynamic table size update. */
  resize(max: number): void {
    this.#pendingUpdate = max
  }

  encode(headers: readonly [string, string][], huffman = false): Uint8Array {
    const parts: Uint8Array[] = []
    if (this.#pendingUpdate !== undefined) {
      this.#max = this.#pendingUpdate
      this.#pendingUpdate = undefined
      this.#evict(0)
      parts.push(encodeInteger(this.#max, 5, 0x20))
    }
    for (const [name, value] of headers) {
      const full = this.#find(name, value)
      if (full > 0) {
        parts.push(encodeInteger(full, 7, 0x80))
        continue
      }
      const nameIdx = this.#find(name, undefined)
      const index = !this.noIndex.has(name)
      parts.push(encodeInteger(nameIdx, index ? 6 : 4, index ? 0x40 : 0x00))
      if (nameIdx === 0) parts.push(encodeString(name, huffman))
      parts.push(encodeString(value, huffman))
      if (index) this.#add(name, value)
    }
    return concatBytes(parts)
  }

  /** HPACK index of (name, value), or of the name alone with `value` undefined; 0 when absent. */
  #find(name: string, value: string | undefined): number {
    for (let i = 0; i < STATIC_TABLE.length; i++) {
      const [n, v] = STATIC_TABLE[i]!
      if (n === name && (value === undefined || v === value)) return i + 1
    }
    for (let i = 0; i < this.table.length; i++) {
      const [n, v] = this.table[i]!
      if (n === name && (value === undefined || v === value)) return STATIC_TABLE.length + 1 + i
    }
    return 0
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32
    if (size > this.#max) {
      this.table.length = 0
      this.#size = 0
      return
    }
    this.#evict(size)
    this.table.unshift([name, value])
    this.#size += size
  }

  #evict(room: number): void {
    while (this.#size + room > this.#max && this.table.length > 0) {
      const [n, v] = this.table.pop()!
      this.#size -= n.length + v.length + 32
    }
  }
}

export function headersFrame(
  streamId: number,
  headers: readonly [string, string][],
  opts: EncodeOptions & { endStream?: boolean } = {}
): Uint8Array {
  const flags = Flag.END_HEADERS | (opts.endStream ? Flag.END_STREAM : 0)
  return frame(FrameType.HEADERS, flags, streamId, encodeHeaders(headers, opts))
}

export function dataFrame(
  streamId: number,
  data: Uint8Array | string,
  endStream = false
): Uint8Array {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, bytes)
}

/** A gRPC length-prefixed message (PROTOCOL-HTTP2.md): flag byte, 4-byte length, message. */
export function grpcFrame(message: Uint8Array, compressed = false): Uint8Array {
  const out = new Uint8Array(5 + message.length)
  out[0] = compressed ? 1 : 0
  new DataView(out.buffer).setUint32(1, message.length)
  out.set(message, 5)
  return out
}

/** One HTTP/2 HEADERS frame as tshark decoded it (`-T json --no-duplicate-keys -J "tcp http2"`). */
export interface TsharkHeadersFrame {
  frame: number
  srcPort: number
  tcpStream: number
  streamId: number
  headers: [string, string][]
}

/** tshark's view of one stream: request and final response headers, response trailers. */
export interface TsharkStream {
  tcpStream: number
  clientPort: number
  streamId: number
  method: string
  path: string
  status: string
  /** The request's regular (non-pseudo) header fields, as tshark decoded them. */
  reqHeaders: [string, string][]
  /** The final response's regular header fields. */
  respHeaders: [string, string][]
  trailers: [string, string][]
  /** grpc.message_length of each gRPC message, per direction. */
  grpcReq: number[]
  grpcResp: number[]
  /** Packet time (Unix ms) of the request's HEADERS, when the `frame` layer was asked for (-J). */
  reqTs?: number
}

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v])

/** Walks tshark's JSON tree collecting every `http2.stream` node (nested under `http2` layers). */
function collect(node: unknown, key: string, out: unknown[]): void {
  if (Array.isArray(node)) {
    for (const n of node) collect(n, key, out)
    return
  }
  if (typeof node !== 'object' || node === null) return
  for (const [k, v] of Object.entries(node)) {
    if (k === key) out.push(...asList(v))
    else collect(v, key, out)
  }
}

/** Groups tshark's HTTP/2 frames into streams (requests with a :method only). */
export function tsharkStreams(json: string): TsharkStream[] {
  const packets = JSON.parse(json) as { _source: { layers: Record<string, unknown> } }[]
  const streams = new Map<string, TsharkStream>()
  for (const p of packets) {
    const layers = p._source.layers
    const tcp = asList(layers['tcp'])[0] as Record<string, string> | undefined
    if (tcp === undefined) continue
    const srcPort = Number(tcp['tcp.srcport'])
    const tcpStream = Number(tcp['tcp.stream'])
    const frameLayer = asList(layers['frame'])[0] as Record<string, string> | undefined
    const ts = frameLayer ? Number(frameLayer['frame.time_epoch']) * 1000 : undefined
    const frames: unknown[] = []
    collect(layers['http2'], 'http2.stream', frames)
    // tshark shows gRPC messages as a sibling layer of the packet, not inside the DATA frame:
    // they belong to the packet's DATA stream when there is just one.
    const dataStreams = new Set<string>()
    for (const f of frames as Record<string, unknown>[]) {
      const streamId = Number(f['http2.streamid'])
      const type = Number(f['http2.type'])
      const key = `${tcpStream}/${streamId}`
      if (type === 0 && Number(f['http2.length']) > 0) dataStreams.add(key)
      if (type !== 1 && type !== 9) continue
      const headers = (asList(f['http2.header']) as Record<string, string>[]).map(
        (h) => [h['http2.header.name'] ?? '', h['http2.header.value'] ?? ''] as [string, string]
      )
      const get = (n: string) => headers.find(([k]) => k === n)?.[1]
      const method = get(':method')
      const status = get(':status')
      let s = streams.get(key)
      if (method !== undefined && s === undefined) {
        s = {
          tcpStream,
          clientPort: srcPort,
          streamId,
          method,
          path: get(':path') ?? '',
          status: '',
          reqHeaders: headers.filter(([k]) => !k.startsWith(':')),
          respHeaders: [],
          trailers: [],
          grpcReq: [],
          grpcResp: [],
        }
        if (ts !== undefined) s.reqTs = ts
        streams.set(key, s)
      } else if (s !== undefined && srcPort !== s.clientPort) {
        if (status !== undefined && s.status === '' && !status.startsWith('1')) {
          s.status = status
          s.respHeaders = headers.filter(([k]) => !k.startsWith(':'))
          if (get('grpc-status') !== undefined)
            s.trailers.push(...headers.filter(([k]) => !k.startsWith(':')))
        } else if (status === undefined && s.status !== '') s.trailers.push(...headers)
      }
    }
    const grpcLengths: unknown[] = []
    collect(layers['grpc'], 'grpc.message_length', grpcLengths)
    const only = dataStreams.size === 1 ? streams.get([...dataStreams][0]!) : undefined
    if (only && grpcLengths.length > 0)
      (srcPort === only.clientPort ? only.grpcReq : only.grpcResp).push(...grpcLengths.map(Number))
  }
  return [...streams.values()]
}
