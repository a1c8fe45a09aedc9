import type { Direction } from '@tapwire/reassembly'
import type { Header } from '@tapwire/wire'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import { grpcAttrs, isGrpcContentType, renderGrpcMessages } from '../grpc/grpc.js'
import type { HeaderField } from '../hpack/decoder.js'
import { HpackDecoder } from '../hpack/decoder.js'
import { splitTarget } from '../http1/http1-dissector.js'
import type { MessageHead } from '../http1/message-parser.js'
import { BoundedBytes, equalsLowerCase, utf8Bytes } from '../util/bytes.js'
import type { FrameHeader } from './frames.js'
import {
  CLIENT_PREFACE,
  errorCodeName,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FrameReader,
} from './frames.js'

/** Streams tracked at once per connection; beyond it the oldest is reported and dropped. */
export const MAX_OPEN_STREAMS = 1000
/** SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
const SETTINGS_HEADER_TABLE_SIZE = 0x1

/** What the HTTP/1 dissector hands over after `101 Switching Protocols` with `Upgrade: h2c`. */
export interface H2cUpgradeInit {
  request: MessageHead
  requestTs: number
  response?: MessageHead
}

interface HeaderBlock {
  dir: Direction
  streamId: number
  push: boolean
  promisedId: number
  endStream: boolean
  ts: number
  parts: Uint8Array[]
  size: number
}

interface Stream {
  id: number
  method: string
  target: string
  reqHeaders: Header[]
  reqHeaderSize: number
  reqTs: number
  reqBody: BoundedBytes
  reqEnded: boolean
  grpc: boolean
  respHeaders: Header[] | undefined
  status: number | undefined
  respTs: number | undefined
  respHeaderSize: number
  respBody: BoundedBytes
  respEnded: boolean
  trailers: Header[]
  gaps: number
}

function isUpgradeInit(init: unknown): init is H2cUpgradeInit {
  if (typeof init !== 'object' || init === null) return false
  const r = (init as { request?: unknown }).request
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof (r as MessageHead).target === 'string' &&
    Array.isArray((r as MessageHead).headers)
  )
}

const headerValue = (headers: readonly Header[], name: string): string | undefined => {
  for (const h of headers)
    if (h.name != null && equalsLowerCase(h.name, name)) return h.value ?? undefined
  return undefined
}

/** base64url without padding (RFC 7540 §3.2.1, HTTP2-Settings); undefined when malformed. */
function base64UrlDecode(s: string): Uint8Array | undefined {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const clean = s.trim().replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  const out = new Uint8Array(Math.floor((clean.length * 6) / 8))
  let acc = 0
  let bits = 0
  let o = 0
  for (const ch of clean) {
    const v = alphabet.indexOf(ch)
    if (v < 0) return undefined
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out.subarray(0, o)
}

/**
 * One HTTP/2 connection (RFC 9113), cleartext: both directions' frames, one HPACK decoder per
 * direction, and one call per stream once it has ended in both directions or been reset.
 */
class Http2Session implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #readers: [FrameReader, FrameReader]
  /** `#decoders[d]` decodes header blocks sent in direction d. */
  readonly #decoders: [HpackDecoder, HpackDecoder] = [new HpackDecoder(), new HpackDecoder()]
  readonly #streams = new Map<number, Stream>()
  /** A header block waiting for CONTINUATION frames, per direction (§6.10). */
  readonly #blocks: [HeaderBlock | undefined, HeaderBlock | undefined] = [undefined, undefined]
  #lastClientStream = 0
  #dead = false

  constructor(ctx: SessionContext, init?: unknown) {
    this.#ctx = ctx
    // A HEADERS payload holds a fragment plus at most 256 octets of padding and priority.
    const maxBuffered = ctx.limits.maxHeaderBytes + 512
    this.#readers = [
      new FrameReader(true, maxBuffered, this.#handler(0)),
      // The server's preface is just its first frame, a SETTINGS frame (§3.4).
      new FrameReader(false, maxBuffered, this.#handler(1)),
    ]
    if (isUpgradeInit(init)) this.#openUpgradeStream(init)
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#dead) return
    try {
      this.#readers[dir].push(data, tsMs)
    } catch {
      // A bug or input nothing anticipated: stop this connection, quietly.
      this.#stop()
    }
  }

  /**
   * A gap inside a DATA payload only loses body bytes. Anywhere else the frame boundaries or
   * the HPACK state (RFC 7541 §2.2: both ends must see every header block) are gone, and HTTP/2
   * cannot resynchronise: the open streams are reported and the connection is given up.
   */
  onGap(dir: Direction, length: number): void {
    if (this.#dead) return
    if (this.#readers[dir].gap(length)) return
    for (const s of [...this.#streams.values()]) {
      s.gaps++
      this.#emit(s, {
        type: 'dissection',
        message: 'capture gap: HTTP/2 header compression state lost',
      })
    }
    this.#stop()
  }

  onClose(): void {
    for (const s of [...this.#streams.values()]) {
      if (s.respHeaders === undefined)
        this.#emit(s, { type: 'connection', message: 'connection closed before a response' })
      else if (!s.respEnded)
        this.#emit(s, {
          type: 'connection',
          message: 'connection closed before the response ended',
        })
      else this.#emit(s)
    }
    this.#stop()
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const s of [...this.#streams.values()]) {
      // Streams with a response under way may legitimately last (gRPC streaming, long polls).
      if (s.respHeaders === undefined && nowMs - s.reqTs >= timeout) {
        this.#emit(s, { type: 'timeout', message: `no response within ${timeout} ms` })
      }
    }
  }

  #stop(): void {
    this.#dead = true
    this.#readers[0].stop()
    this.#readers[1].stop()
    this.#streams.clear()
    this.#blocks[0] = this.#blocks[1] = undefined
  }

  #handler(dir: Direction) {
    return {
      onFrame: (f: FrameHeader, payload: Uint8Array) => this.#onFrame(dir, f, payload),
      onData: (f: FrameHeader, chunk: Uint8Array) => {
        const s = this.#streams.get(f.streamId)
        if (s) (dir === 0 ? s.reqBody : s.respBody).push(chunk)
      },
      onDataGap: (f: FrameHeader, length: number) => {
        const s = this.#streams.get(f.streamId)
        if (s) {
          ;(dir === 0 ? s.reqBody : s.respBody).skip(length)
          s.gaps++
        }
      },
      onDataEnd: (f: FrameHeader) => {
        if (this.#blocks[dir] !== undefined) return this.#stop() // §6.10: only CONTINUATION may follow
        if ((f.flags & FLAG_END_STREAM) !== 0) this.#endStream(dir, f.streamId)
      },
      onFatal: () => this.#stop(),
    }
  }

  #onFrame(dir: Direction, f: FrameHeader, p: Uint8Array): void {
    const pending = this.#blocks[dir]
    if (
      pending !== undefined &&
      (f.type !== FRAME_CONTINUATION || f.streamId !== pending.streamId)
    ) {
      return this.#stop() // §6.10: a header block is contiguous on the connection
    }
    switch (f.type) {
      case FRAME_HEADERS: {
        // §6.2: [Pad Length] [Exclusive, Stream Dependency, Weight] fragment [Padding].
        let o = 0
        let end = p.length
        if ((f.flags & FLAG_PADDED) !== 0) {
          if (p.length < 1) return this.#stop()
          end -= p[0]!
          o = 1
        }
        if ((f.flags & FLAG_PRIORITY) !== 0) o += 5
        if (end < o || f.streamId === 0) return this.#stop()
        this.#startBlock(dir, f, p.subarray(o, end), false, 0)
        break
      }
      case FRAME_PUSH_PROMISE: {
        // §6.6: [Pad Length] Promised Stream ID, fragment [Padding].
        let o = 0
        let end = p.length
        if ((f.flags & FLAG_PADDED) !== 0) {
          if (p.length < 1) return this.#stop()
          end -= p[0]!
          o = 1
        }
        if (end < o + 4) return this.#stop()
        const promised = ((p[o]! & 0x7f) << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!
        this.#startBlock(dir, f, p.subarray(o + 4, end), true, promised)
        break
      }
      case FRAME_CONTINUATION: {
        if (pending === undefined) return this.#stop()
        pending.size += p.length
        if (pending.size > this.#ctx.limits.maxHeaderBytes) return this.#stop()
        pending.parts.push(p.slice())
        if ((f.flags & FLAG_END_HEADERS) !== 0) this.#finishBlock(pending)
        break
      }
      case FRAME_SETTINGS:
        if ((f.flags & FLAG_ACK) === 0) this.#applySettings(dir, p)
        break
      case FRAME_RST_STREAM:
        if (p.length >= 4)
          this.#reset(f.streamId, new DataView(p.buffer, p.byteOffset, 4).getUint32(0))
        break
      case FRAME_GOAWAY:
        if (p.length >= 8) {
          const v = new DataView(p.buffer, p.byteOffset, 8)
          this.#goaway(dir, v.getUint32(0) & 0x7fffffff, v.getUint32(4))
        }
        break
      default:
        // PRIORITY, PING, WINDOW_UPDATE and unknown types (§5.5) carry nothing a call needs.
        break
    }
  }

  #applySettings(dir: Direction, p: Uint8Array): void {
    const v = new DataView(p.buffer, p.byteOffset, p.length)
    for (let i = 0; i + 6 <= p.length; i += 6) {
      // A SETTINGS value limits what the *peer* sends: this endpoint's decoder is the other side's.
      if (v.getUint16(i) === SETTINGS_HEADER_TABLE_SIZE)
        this.#decoders[dir === 0 ? 1 : 0].setSettingsLimit(v.getUint32(i + 2))
    }
  }

  #startBlock(
    dir: Direction,
    f: FrameHeader,
    fragment: Uint8Array,
    push: boolean,
    promisedId: number
  ): void {
    if (fragment.length > this.#ctx.limits.maxHeaderBytes) return this.#stop()
    const block: HeaderBlock = {
      dir,
      streamId: f.streamId,
      push,
      promisedId,
      endStream: !push && (f.flags & FLAG_END_STREAM) !== 0,
      ts: f.ts,
      // A complete block is decoded before this call returns: no copy needed (the usual case).
      parts: [(f.flags & FLAG_END_HEADERS) !== 0 ? fragment : fragment.slice()],
      size: fragment.length,
    }
    if ((f.flags & FLAG_END_HEADERS) !== 0) this.#finishBlock(block)
    else this.#blocks[dir] = block
  }

  #finishBlock(block: HeaderBlock): void {
    this.#blocks[block.dir] = undefined
    let bytes: Uint8Array
    if (block.parts.length === 1) bytes = block.parts[0]!
    else {
      bytes = new Uint8Array(block.size)
      let o = 0
      for (const part of block.parts) {
        bytes.set(part, o)
        o += part.length
      }
    }
    let fields: HeaderField[]
    try {
      fields = this.#decoders[block.dir].decode(bytes, this.#ctx.limits.maxHeaderBytes).headers
    } catch {
      // COMPRESSION_ERROR (RFC 9113 §4.3): every later header block is undecodable.
      return this.#stop()
    }
    if (block.push) this.#onPushPromise(block, fields)
    else if (block.dir === 0) this.#onRequestHeaders(block, fields)
    else this.#onResponseHeaders(block, fields)
  }

  #newStream(id: number, ts: number): Stream {
    if (this.#streams.size >= MAX_OPEN_STREAMS) {
      const oldest = this.#streams.values().next().value
      if (oldest !== undefined)
        this.#emit(oldest, {
          type: 'pair-not-found',
          message: 'too many open streams on the connection',
        })
    }
    const limits = this.#ctx.limits
    const s: Stream = {
      id,
      method: '',
      target: '',
      reqHeaders: [],
      reqHeaderSize: 0,
      reqTs: ts,
      reqBody: new BoundedBytes(limits.maxBodyBytes),
      reqEnded: false,
      grpc: false,
      respHeaders: undefined,
      status: undefined,
      respTs: undefined,
      respHeaderSize: 0,
      respBody: new BoundedBytes(limits.maxBodyBytes),
      respEnded: false,
      trailers: [],
      gaps: 0,
    }
    this.#streams.set(id, s)
    return s
  }

  #setRequest(s: Stream, fields: readonly HeaderField[], size: number): void {
    const regular: Header[] = []
    let method = ''
    let path = ''
    for (const h of fields) {
      if (h.name === ':method') method = h.value
      else if (h.name === ':path') path = h.value
      else if (h.name.startsWith(':'))
        continue // :scheme, :authority, :protocol (§8.3.1)
      else regular.push(h) // the decoder's fresh { name, value }: no copy needed
    }
    s.method = method
    s.target = path
    s.reqHeaders = regular
    s.reqHeaderSize = size
    s.grpc = isGrpcContentType(headerValue(regular, 'content-type'))
  }

  #onRequestHeaders(block: HeaderBlock, fields: HeaderField[]): void {
    let s = this.#streams.get(block.streamId)
    if (s === undefined) {
      // Client streams are odd and increasing (§5.1.1); an old id is a closed stream's trailers.
      if (block.streamId <= this.#lastClientStream) return
      this.#lastClientStream = block.streamId
      s = this.#newStream(block.streamId, block.ts)
      this.#setRequest(s, fields, block.size)
    } else {
      // Request trailers (§8.1): rare outside gRPC-web; counted with the request headers.
      s.reqHeaderSize += block.size
    }
    if (block.endStream) this.#endStream(0, block.streamId)
  }

  #onResponseHeaders(block: HeaderBlock, fields: HeaderField[]): void {
    const s = this.#streams.get(block.streamId)
    if (s === undefined) return
    const regular: Header[] = []
    let status: number | undefined
    for (const h of fields) {
      if (h.name === ':status') status = Number.parseInt(h.value, 10)
      else if (!h.name.startsWith(':')) regular.push(h)
    }
    if (s.respHeaders === undefined) {
      // §8.1: 1xx responses (100 Continue, 103 Early Hints) precede the final one.
      if (status !== undefined && status >= 100 && status < 200) return
      s.respHeaders = regular
      s.status = status
      s.respTs = block.ts
      s.respHeaderSize = block.size
    } else {
      s.trailers.push(...regular)
      s.respHeaderSize += block.size
    }
    if (block.endStream) this.#endStream(1, block.streamId)
  }

  /** §8.4: the promised stream's request comes from the server; its response follows. */
  #onPushPromise(block: HeaderBlock, fields: HeaderField[]): void {
    if (block.dir !== 1 || block.promisedId === 0 || this.#streams.has(block.promisedId)) return
    if (!this.#streams.has(block.streamId)) return
    const s = this.#newStream(block.promisedId, block.ts)
    this.#setRequest(s, fields, block.size)
    s.reqEnded = true
  }

  /** RFC 7540 §3.2: the upgrade request becomes stream 1, half-closed from the client. */
  #openUpgradeStream(init: H2cUpgradeInit): void {
    const req = init.request
    const s = this.#newStream(1, init.requestTs)
    this.#lastClientStream = 1
    s.method = req.method
    s.target = req.target
    s.reqHeaders = req.headers
    s.reqHeaderSize = req.headerBytes
    s.reqEnded = true
    s.grpc = isGrpcContentType(headerValue(req.headers, 'content-type'))
    // HTTP2-Settings carries the client's SETTINGS payload (RFC 7540 §3.2.1).
    const settings = headerValue(req.headers, 'http2-settings')
    const payload = settings === undefined ? undefined : base64UrlDecode(settings)
    if (payload !== undefined) this.#applySettings(0, payload)
  }

  #endStream(dir: Direction, id: number): void {
    const s = this.#streams.get(id)
    if (s === undefined) return
    if (dir === 0) s.reqEnded = true
    else s.respEnded = true
    if (s.reqEnded && s.respEnded && s.respHeaders !== undefined) this.#emit(s)
  }

  #reset(id: number, code: number): void {
    const s = this.#streams.get(id)
    if (s === undefined) return
    // A complete response followed by RST_STREAM(NO_ERROR) is normal (§8.1): the server is done.
    if (s.respHeaders === undefined || (!s.respEnded && code !== 0)) {
      this.#emit(s, { type: 'connection', message: `stream reset (${errorCodeName(code)})` })
    } else {
      this.#emit(s)
    }
  }

  /** §6.8: streams above the last processed id, opened by the receiver, were never handled. */
  #goaway(dir: Direction, lastStreamId: number, code: number): void {
    const receiverOdd = dir === 1
    for (const s of [...this.#streams.values()]) {
      if (s.id > lastStreamId && (s.id % 2 === 1) === receiverOdd && s.respHeaders === undefined) {
        this.#emit(s, {
          type: 'connection',
          message: `stream refused by GOAWAY (${errorCodeName(code)})`,
        })
      }
    }
  }

  #emit(s: Stream, error?: CallRecord['error']): void {
    this.#streams.delete(s.id)
    const { path, url } = splitTarget(s.target)
    const call: CallRecord = {
      proto: s.grpc ? 'grpc' : 'http',
      reqTs: s.reqTs,
      respTs: s.respTs,
      method: s.grpc ? path : s.method,
      path,
      url,
      version: 'HTTP/2',
      reqHeaders: s.reqHeaders,
      reqHeaderSize: s.reqHeaderSize,
      reqBody: s.reqBody.bytes(),
      reqBodySize: s.reqBody.total,
      reqBodyTruncated: s.reqBody.truncated,
      summary: path,
      gaps: s.gaps,
    }
    if (s.respHeaders !== undefined) {
      call.status = s.status
      // Trailers are response fields too (RFC 9110 §6.5); they follow the header section.
      call.respHeaders = s.trailers.length > 0 ? [...s.respHeaders, ...s.trailers] : s.respHeaders
      call.respHeaderSize = s.respHeaderSize
      call.respBody = s.respBody.bytes()
      call.respBodySize = s.respBody.total
      call.respBodyTruncated = s.respBody.truncated
    }
    if (s.grpc) this.#addGrpc(s, call)
    if (error) call.error = error
    this.#ctx.emit(call)
  }

  #addGrpc(s: Stream, call: CallRecord): void {
    // Trailers-Only responses put grpc-status in the one HEADERS frame (PROTOCOL-HTTP2.md).
    const fields = s.trailers.length > 0 ? s.trailers : (s.respHeaders ?? [])
    call.attrs = grpcAttrs(call.path ?? '', {
      status: headerValue(fields, 'grpc-status'),
      message: headerValue(fields, 'grpc-message'),
    })
    // The preview shows the messages decoded; sizes stay those of the bytes on the wire.
    const maxChars = this.#ctx.limits.maxBodyBytes
    if (call.reqBody && call.reqBody.length > 0)
      call.reqBody = utf8Bytes(renderGrpcMessages(call.reqBody, maxChars))
    if (call.respBody && call.respBody.length > 0)
      call.respBody = utf8Bytes(renderGrpcMessages(call.respBody, maxChars))
  }
}

/** HTTP/2 over cleartext TCP (h2c): prior knowledge (the client preface) or an HTTP/1.1 upgrade. */
export const http2Dissector: Dissector = {
  id: 'http2',
  transport: 'tcp',
  portHints: [50051, 8080, 8443, 9090],
  probe(data, dir): ProbeVerdict {
    const n = Math.min(data.length, CLIENT_PREFACE.length)
    for (let i = 0; i < n; i++) if (data[i] !== CLIENT_PREFACE[i]) return 'no'
    if (data.length < CLIENT_PREFACE.length) return 'more'
    return dir === 0 ? 'match' : 'match-reversed'
  },
  newSession: (ctx, init) => new Http2Session(ctx, init),
}
