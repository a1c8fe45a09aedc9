/**
 * WebSocket (RFC 6455), reached only through an HTTP/1 `101 Switching Protocols` upgrade: the
 * handshake is the HTTP entry; every message after it becomes one `ws` call on the side that sent
 * it (client → server on the request side, server → client on the response side).
 */
import type { Attr, Header } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type { CallRecord, Dissector, DissectorSession, SessionContext } from '../engine/types.js'
import { splitTarget } from '../http1/http1-dissector.js'
import { headerValue } from '../http1/message-parser.js'
import { BoundedBytes, decodeUtf8 } from '../util/bytes.js'
import { MessageInflater, parseDeflateExtension } from './permessage-deflate.js'

/** RFC 6455 §11.8 opcode registry. */
export const WsOpcode = {
  CONTINUATION: 0,
  TEXT: 1,
  BINARY: 2,
  CLOSE: 8,
  PING: 9,
  PONG: 10,
} as const

const OPCODE_NAMES: Record<number, string> = {
  0: 'continuation',
  1: 'text',
  2: 'binary',
  8: 'close',
  9: 'ping',
  10: 'pong',
}

export const wsOpcodeName = (op: number): string => OPCODE_NAMES[op] ?? `reserved-${op}`

/** Bytes of a payload shown in `ws_request_payload_data` ("safely truncated" in KFL). */
export const WS_PAYLOAD_DATA_LIMIT = 1024
/** Characters of a text message used as the entry summary. */
const SUMMARY_CHARS = 120

/** What the HTTP/1 dissector hands over with `ctx.upgrade('websocket', init)`. */
export interface WebSocketUpgradeInit {
  request: { method?: string; target: string; version?: string; headers: Header[] }
  requestTs: number
  response: { status?: number; headers: Header[] }
}

function isInit(x: unknown): x is WebSocketUpgradeInit {
  if (typeof x !== 'object' || x === null) return false
  const r = x as Partial<WebSocketUpgradeInit>
  return (
    typeof r.request?.target === 'string' &&
    Array.isArray(r.request.headers) &&
    Array.isArray(r.response?.headers)
  )
}

/** A message being assembled from one or more frames (RFC 6455 §5.4). */
interface Message {
  opcode: number
  ts: number
  body: BoundedBytes
  /** RSV1 on the first frame: compressed with permessage-deflate (RFC 7692 §6). */
  compressed: boolean
  frames: number
  gaps: number
}

type FrameState = 'header' | 'payload' | 'lost'

/**
 * One direction's frame parser. Keeps at most one 14-byte frame header and the bounded preview
 * of the message in progress; payloads are streamed through (unmasked on the way).
 */
class FrameReader {
  state: FrameState = 'header'
  readonly #hdr = new Uint8Array(14)
  #hdrLen = 0
  #hdrTs = 0
  #remaining = 0
  #mask: Uint8Array | undefined
  #maskPos = 0
  #frameOpcode = 0
  #frameFin = false
  /** The data message being assembled (text/binary and its continuations). */
  message: Message | undefined
  /** A control frame being read: they may interleave a fragmented message (§5.4). */
  #control: Message | undefined
  readonly #dir: Direction
  readonly #session: WebSocketSession

  constructor(dir: Direction, session: WebSocketSession) {
    this.#dir = dir
    this.#session = session
  }

  push(data: Uint8Array, tsMs: number): void {
    let o = 0
    // Bounded: every iteration consumes at least one byte or completes a zero-length frame.
    while (o < data.length || (this.state === 'payload' && this.#remaining === 0)) {
      if (this.state === 'lost') return
      if (this.state === 'header') {
        if (o >= data.length) return
        if (this.#hdrLen === 0) this.#hdrTs = tsMs
        this.#hdr[this.#hdrLen++] = data[o++]!
        const need = this.#headerLength()
        if (this.#hdrLen < need) continue
        this.#startFrame()
        continue
      }
      // payload
      const n = Math.min(this.#remaining, data.length - o)
      if (n > 0) {
        const chunk = data.subarray(o, o + n)
        this.#current()?.body.push(this.#mask ? this.#unmask(chunk) : chunk)
        o += n
        this.#remaining -= n
      }
      if (this.#remaining === 0) this.#endFrame()
    }
  }

  /** `length` bytes of this direction were never captured. */
  gap(length: number): void {
    if (this.state === 'payload' && length <= this.#remaining) {
      // Inside a payload: framing survives, the preview loses those bytes.
      const cur = this.#current()
      if (cur) {
        cur.body.skip(length)
        cur.gaps++
      }
      this.#remaining -= length
      this.#maskPos = (this.#maskPos + length) & 3
      return
    }
    // Frames carry no sync marker: the rest of this direction cannot be framed reliably.
    this.#lose('capture gap across a WebSocket frame boundary')
  }

  /** Bytes needed for the header so far: 2, then 4/10 for extended lengths, +4 with a mask. */
  #headerLength(): number {
    if (this.#hdrLen < 2) return 2
    const len7 = this.#hdr[1]! & 0x7f
    const masked = (this.#hdr[1]! & 0x80) !== 0
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0)
  }

  // RFC 6455 §5.2 base framing.
  #startFrame(): void {
    const h = this.#hdr
    this.#hdrLen = 0
    const fin = (h[0]! & 0x80) !== 0
    const rsv1 = (h[0]! & 0x40) !== 0
    const opcode = h[0]! & 0x0f
    const masked = (h[1]! & 0x80) !== 0
    const len7 = h[1]! & 0x7f
    let len: number
    let p = 2
    if (len7 === 126) {
      len = (h[2]! << 8) | h[3]!
      p = 4
    } else if (len7 === 127) {
      const hi = ((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0
      const lo = ((h[6]! << 24) | (h[7]! << 16) | (h[8]! << 8) | h[9]!) >>> 0
      // The most significant bit must be 0 (§5.2); beyond 2^53 a JS number loses bytes.
      if (hi >= 0x200000) return this.#lose(`frame length over 2^53 (${hi}:${lo})`)
      len = hi * 0x1_0000_0000 + lo
      p = 10
    } else {
      len = len7
    }
    this.#mask = masked ? h.slice(p, p + 4) : undefined
    this.#maskPos = 0
    this.#remaining = len
    this.#frameOpcode = opcode
    this.#frameFin = fin
    const limit = this.#session.limits.maxBodyBytes
    if (opcode >= 8) {
      if (!OPCODE_NAMES[opcode]) return this.#lose(`reserved control opcode ${opcode}`)
      // Control frames are never fragmented and carry at most 125 bytes (§5.5); tolerate
      // violations but keep the preview bounded.
      this.#control = {
        opcode,
        ts: this.#hdrTs,
        body: new BoundedBytes(limit),
        compressed: false,
        frames: 1,
        gaps: 0,
      }
    } else if (opcode === WsOpcode.CONTINUATION) {
      if (this.message === undefined) {
        // The start of this message was before the capture (or lost): report what we see.
        this.message = {
          opcode,
          ts: this.#hdrTs,
          body: new BoundedBytes(limit),
          compressed: false,
          frames: 0,
          gaps: 1,
        }
      }
      this.message.frames++
    } else if (opcode === WsOpcode.TEXT || opcode === WsOpcode.BINARY) {
      if (this.message !== undefined) {
        // A new data frame before the previous message's FIN: that message is incomplete.
        this.#session.emitMessage(
          this.#dir,
          this.message,
          'message interrupted by a new data frame'
        )
      }
      this.message = {
        opcode,
        ts: this.#hdrTs,
        body: new BoundedBytes(limit),
        compressed: rsv1,
        frames: 1,
        gaps: 0,
      }
    } else {
      return this.#lose(`reserved data opcode ${opcode}`)
    }
    this.state = 'payload'
  }

  #current(): Message | undefined {
    return this.#frameOpcode >= 8 ? this.#control : this.message
  }

  #endFrame(): void {
    this.state = 'header'
    if (this.#frameOpcode >= 8) {
      const c = this.#control
      this.#control = undefined
      if (c) this.#session.emitMessage(this.#dir, c)
    } else if (this.#frameFin && this.message) {
      const m = this.message
      this.message = undefined
      this.#session.emitMessage(this.#dir, m)
    }
  }

  #unmask(chunk: Uint8Array): Uint8Array {
    // §5.3: octet i of the payload is XORed with octet i mod 4 of the key.
    const key = this.#mask!
    const out = new Uint8Array(chunk.length)
    let k = this.#maskPos
    for (let i = 0; i < chunk.length; i++) {
      out[i] = chunk[i]! ^ key[k]!
      k = (k + 1) & 3
    }
    this.#maskPos = k
    return out
  }

  #lose(reason: string): void {
    if (this.state === 'lost') return
    this.state = 'lost'
    this.#hdrLen = 0
    this.#control = undefined
    const m = this.message
    this.message = undefined
    this.#session.lost(this.#dir, m, reason)
  }

  /** End of the connection: a message without its final frame is reported incomplete. */
  close(): void {
    const m = this.message
    this.message = undefined
    this.#control = undefined
    if (m && this.state !== 'lost')
      this.#session.emitMessage(this.#dir, m, 'connection closed inside a message')
    this.state = 'lost'
  }
}

export class WebSocketSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #readers: [FrameReader, FrameReader]
  readonly #path: string
  readonly #url: string
  /** permessage-deflate contexts by direction, when the server accepted the extension. */
  readonly #inflaters: [MessageInflater, MessageInflater] | undefined
  readonly limits: SessionContext['limits']

  constructor(ctx: SessionContext, init: unknown) {
    this.#ctx = ctx
    this.limits = ctx.limits
    this.#readers = [new FrameReader(0, this), new FrameReader(1, this)]
    if (isInit(init)) {
      const t = splitTarget(init.request.target)
      this.#path = t.path
      this.#url = t.url
      const ext = headerValue(init.response.headers, 'sec-websocket-extensions')
      const deflate = parseDeflateExtension(ext)
      // Client → server messages carry the client's window; server → client the server's.
      this.#inflaters = deflate && [
        new MessageInflater(deflate.clientTakeover),
        new MessageInflater(deflate.serverTakeover),
      ]
    } else {
      this.#path = ''
      this.#url = ''
      this.#inflaters = undefined
    }
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    this.#readers[dir].push(data, tsMs)
  }

  onGap(dir: Direction, length: number): void {
    this.#readers[dir].gap(length)
  }

  onClose(): void {
    this.#readers[0].close()
    this.#readers[1].close()
  }

  /** @internal A direction lost framing; its message in progress is reported with the error. */
  lost(dir: Direction, m: Message | undefined, reason: string): void {
    if (m) this.emitMessage(dir, m, reason)
  }

  /** @internal One complete (or, with `error`, incomplete) message. */
  emitMessage(dir: Direction, m: Message, error?: string): void {
    const wire = m.body.bytes()
    let preview = wire
    let truncated = m.body.truncated
    if (m.compressed && this.#inflaters) {
      // RFC 7692 §7.2.2; messages are inflated in order, each direction with its own window.
      const complete = error === undefined && !m.body.truncated
      const decoded = this.#inflaters[dir].inflate(
        wire,
        complete,
        m.gaps === 0,
        this.limits.maxBodyBytes
      )
      if (decoded !== undefined) {
        preview = decoded.bytes
        truncated = decoded.truncated
      }
    }
    const name = wsOpcodeName(m.opcode)
    const isReq = dir === 0
    const size = m.body.total
    const attrs: Attr[] = [
      { name: 'ws_opcode', str: name },
      { name: 'ws_request', flag: isReq },
      { name: 'ws_response', flag: !isReq },
      { name: isReq ? 'ws_request_payload_length' : 'ws_response_payload_length', num: size },
    ]
    if (isReq) attrs.push({ name: 'ws_request_payload_data', str: payloadData(preview, m.opcode) })
    if (m.compressed) attrs.push({ name: 'ws_compressed', flag: true })
    let summary: string
    if (m.opcode === WsOpcode.CLOSE) {
      const close = parseClose(preview)
      if (close) {
        attrs.push({ name: 'ws_close_code', num: close.code })
        if (close.reason) attrs.push({ name: 'ws_close_reason', str: close.reason })
        summary = `close ${close.code}${close.reason ? ` ${close.reason}` : ''}`
      } else summary = 'close'
    } else if (m.opcode === WsOpcode.TEXT && !(m.compressed && preview === wire)) {
      summary = oneLine(decodeUtf8(preview.subarray(0, SUMMARY_CHARS * 4))).slice(0, SUMMARY_CHARS)
    } else {
      summary = `${name} ${size} bytes`
    }
    const call: CallRecord = {
      proto: 'ws',
      reqTs: m.ts,
      method: name,
      path: this.#path,
      url: this.#url,
      attrs,
      summary,
      gaps: m.gaps,
    }
    if (isReq) {
      call.reqBody = preview
      call.reqBodySize = size
      call.reqBodyTruncated = truncated
    } else {
      call.respTs = m.ts
      call.respBody = preview
      call.respBodySize = size
      call.respBodyTruncated = truncated
    }
    if (error) call.error = { type: 'dissection', message: error }
    this.#ctx.emit(call)
  }
}

/** §5.5.1: a close payload is empty, or a 2-byte status code followed by a UTF-8 reason. */
export function parseClose(p: Uint8Array): { code: number; reason: string } | undefined {
  if (p.length < 2) return undefined
  return { code: (p[0]! << 8) | p[1]!, reason: decodeUtf8(p.subarray(2, 125)) }
}

function payloadData(p: Uint8Array, opcode: number): string {
  const head = p.subarray(0, WS_PAYLOAD_DATA_LIMIT)
  if (opcode === WsOpcode.BINARY) {
    // Binary payloads as hex, so the attribute stays valid text.
    let s = ''
    for (const b of head.subarray(0, WS_PAYLOAD_DATA_LIMIT / 2))
      s += b.toString(16).padStart(2, '0')
    return s
  }
  // Cutting UTF-8 mid-character leaves one U+FFFD at the end, never invalid text.
  return decodeUtf8(head)
}

const oneLine = (s: string): string => s.replace(/[\r\n\t]+/g, ' ').trim()

/** RFC 6455 WebSocket; only reached through `SessionContext.upgrade` from HTTP/1. */
export const websocketDissector: Dissector = {
  id: 'websocket',
  transport: 'tcp',
  portHints: [],
  // Frames have no signature to detect by content: a connection is WebSocket because its
  // handshake said so.
  probe: () => 'no',
  newSession: (ctx, init) => new WebSocketSession(ctx, init),
}
