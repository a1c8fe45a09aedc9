import type { Direction } from '@tapwire/reassembly'
import type { CallRecord, Dissector, DissectorSession, ProbeVerdict, SessionContext } from '../engine/types.js'
import { detectGraphql } from '../graphql/graphql.js'
import { BoundedBytes } from '../util/bytes.js'
import { decodeContentEncoding } from './body-decoder.js'
import type { BodyFraming, MessageHead } from './message-parser.js'
import { framingFromHeaders, headerValue, MessageParser } from './message-parser.js'

interface Exchange {
  head: MessageHead
  reqTs: number
  body: BoundedBytes
  complete: boolean
  gaps: number
}

interface ResponseInProgress {
  head: MessageHead
  respTs: number
  body: BoundedBytes
  exchange: Exchange | undefined
  gaps: number
}

/** Paths without the query; absolute-form targets (proxies, RFC 9112 §3.2.2) lose scheme and host. */
export function splitTarget(target: string): { path: string; url: string } {
  let url = target
  // Origin-form (the usual case) starts with '/' and has no scheme to strip.
  if (target.charCodeAt(0) !== 0x2f) {
    const abs = ABSOLUTE_FORM.exec(target)
    if (abs) url = target.slice(abs[0].length) || '/'
  }
  const query = url.indexOf('?')
  const fragment = url.indexOf('#')
  const q = query < 0 ? fragment : fragment < 0 ? query : Math.min(query, fragment)
  return { path: q < 0 ? url : url.slice(0, q), url }
}

const ABSOLUTE_FORM = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/

/** One HTTP/1.x connection: parses both directions and pairs responses with requests in order. */
class Http1Session implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #req: MessageParser
  readonly #resp: MessageParser
  readonly #pending: Exchange[] = []
  #reqCurrent: Exchange | undefined
  #respCurrent: ResponseInProgress | undefined
  /** After a 101 Switching Protocols the bytes are no longer HTTP/1. */
  #upgraded = false
  #next: DissectorSession | undefined
  /**
   * A capture gap swallowed response bytes between or inside messages: the next response may not
   * answer the oldest waiting request.
   */
  #respLost = false

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    const limits = ctx.limits
    this.#req = new MessageParser('request', limits.maxHeaderBytes, {
      onHead: (head, startTs) => {
        const ex: Exchange = { head, reqTs: startTs, body: new BoundedBytes(limits.maxBodyBytes), complete: false, gaps: 0 }
        this.#reqCurrent = ex
        if (this.#pending.length >= limits.maxPendingRequests) {
          this.#emit(this.#pending.shift()!, undefined, { type: 'pair-not-found', message: 'too many requests waiting for a response' })
        }
        this.#pending.push(ex)
        // Requests never read until close: no length means no body (RFC 9112 §6.3, rule 6).
        const framing = framingFromHeaders(head.headers, { kind: 'none' })
        return framing === 'invalid' ? { kind: 'none' } : framing
      },
      onBody: (chunk) => this.#reqCurrent?.body.push(chunk),
      onBodyGap: (n) => {
        if (this.#reqCurrent) {
          this.#reqCurrent.body.skip(n)
          this.#reqCurrent.gaps++
        }
      },
      onComplete: () => {
        if (this.#reqCurrent) this.#reqCurrent.complete = true
        this.#reqCurrent = undefined
      },
      onError: () => {
        // The request's head was parsed (it waits for its response) but its body is cut short.
        if (this.#reqCurrent) this.#reqCurrent.gaps++
        this.#reqCurrent = undefined
      },
    })
    this.#resp = new MessageParser('response', limits.maxHeaderBytes, {
      onHead: (head, startTs) => this.#onResponseHead(head, startTs),
      onBody: (chunk) => this.#respCurrent?.body.push(chunk),
      onBodyGap: (n) => {
        if (this.#respCurrent) {
          this.#respCurrent.body.skip(n)
          this.#respCurrent.gaps++
        }
      },
      onComplete: () => this.#onResponseComplete(),
      onError: (message) => this.#onResponseError(message),
    })
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#upgraded) return
    const used = dir === 0 ? this.#req.push(data, tsMs) : this.#resp.push(data, tsMs)
    // Bytes after a 101 response in the same segment already belong to the new protocol.
    if (this.#upgraded && used < data.length) this.#next?.onData(dir, data.subarray(used), tsMs)
  }

  onGap(dir: Direction, length: number): void {
    if (this.#upgraded) return
    if (dir === 0) this.#req.gap(length)
    else {
      this.#resp.gap(length)
      // Not absorbed by a body: whole responses (or a head) may be gone.
      if (this.#resp.state === 'resync') this.#respLost = true
    }
  }

  onClose(tsMs: number): void {
    this.#req.close(tsMs)
    this.#resp.close(tsMs)
    for (const ex of this.#pending.splice(0)) {
      this.#emit(ex, undefined, { type: 'connection', message: 'connection closed before a response' })
    }
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    while (this.#pending.length > 0) {
      const ex = this.#pending[0]!
      if (this.#respCurrent?.exchange === ex || nowMs - ex.reqTs < timeout) break
      this.#pending.shift()
      this.#emit(ex, undefined, { type: 'timeout', message: `no response within ${timeout} ms` })
    }
  }

  #onResponseHead(head: MessageHead, respTs: number): BodyFraming {
    const status = head.status
    if (status >= 100 && status < 200 && status !== 101) {
      // Interim responses (100 Continue, 103 Early Hints) precede the final one: not paired.
      this.#respCurrent = undefined
      return { kind: 'none' }
    }
    if (this.#respLost) this.#dropUnanswered(respTs)
    const exchange = this.#pending[0]
    const limits = this.#ctx.limits
    this.#respCurrent = { head, respTs, body: new BoundedBytes(limits.maxBodyBytes), exchange, gaps: 0 }
    if (status === 101) return { kind: 'none' }
    // RFC 9112 §6.3: responses to HEAD, and 204/304, never have a body.
    if (exchange?.head.method === 'HEAD' || status === 204 || status === 304) return { kind: 'none' }
    const framing = framingFromHeaders(head.headers, { kind: 'close' })
    return framing === 'invalid' ? { kind: 'close' } : framing
  }

  /**
   * After a response-side gap: a client that does not pipeline sends a request only once the
   * previous response arrived, so every waiting request followed by another request sent before
   * this response began lost its own response in the gap (RFC 9112 §9.3.2 keeps responses in
   * request order). Without this, each later response would be paired with the wrong request.
   */
  #dropUnanswered(respTs: number): void {
    this.#respLost = false
    while (this.#pending.length > 1 && this.#pending[1]!.reqTs <= respTs) {
      const lost = this.#pending.shift()!
      lost.gaps++
      this.#emit(lost, undefined, { type: 'pair-not-found', message: 'response lost in a capture gap' })
    }
  }

  /** The response being parsed is cut short (gap or malformed): report its request now. */
  #onResponseError(message: string): void {
    const resp = this.#respCurrent
    this.#respCurrent = undefined
    if (resp?.exchange === undefined || this.#pending[0] !== resp.exchange) return
    this.#pending.shift()
    resp.gaps++
    this.#emit(resp.exchange, resp, { type: 'dissection', message })
  }

  #onResponseComplete(): void {
    const resp = this.#respCurrent
    this.#respCurrent = undefined
    if (resp === undefined) return
    if (resp.exchange !== undefined && this.#pending[0] === resp.exchange) this.#pending.shift()
    if (resp.exchange === undefined) {
      // Picked up mid-stream: a response whose request we never saw.
      return
    }
    this.#emit(resp.exchange, resp)
    if (resp.head.status === 101) this.#switchProtocols(resp.exchange, resp.head)
  }

  /** RFC 9110 §15.2.2: after 101 the connection speaks the protocol named in Upgrade. */
  #switchProtocols(ex: Exchange, head: MessageHead): void {
    this.#upgraded = true
    this.#req.stop()
    this.#resp.stop()
    const proto = (headerValue(head.headers, 'upgrade') ?? '').trim().toLowerCase()
    const id = proto === 'websocket' ? 'websocket' : proto === 'h2c' ? 'http2' : undefined
    if (id !== undefined) {
      this.#next = this.#ctx.upgrade(id, { request: ex.head, requestTs: ex.reqTs, response: head })
    }
  }

  #emit(ex: Exchange, resp: ResponseInProgress | undefined, error?: CallRecord['error']): void {
    const { path, url } = splitTarget(ex.head.target)
    const reqBody = this.#preview(ex.head.headers, ex.body)
    const call: CallRecord = {
      proto: 'http',
      reqTs: ex.reqTs,
      respTs: resp?.respTs,
      method: ex.head.method,
      path,
      url,
      version: ex.head.version,
      reqHeaders: ex.head.headers,
      reqHeaderSize: ex.head.headerBytes,
      reqBody: reqBody.bytes,
      reqBodySize: ex.body.total,
      reqBodyTruncated: reqBody.truncated,
      summary: path,
      gaps: ex.gaps + (resp?.gaps ?? 0),
    }
    if (resp) {
      call.status = resp.head.status
      call.respHeaders = resp.head.headers
      call.respHeaderSize = resp.head.headerBytes
      const respBody = this.#preview(resp.head.headers, resp.body)
      call.respBody = respBody.bytes
      call.respBodySize = resp.body.total
      call.respBodyTruncated = respBody.truncated
    }
    if (error) call.error = error
    const gql = detectGraphql(ex.head.method, ex.head.target, headerValue(ex.head.headers, 'content-type'), reqBody.bytes)
    if (gql) {
      call.proto = 'gql'
      call.summary = gql.operationName || gql.operationType
      call.attrs = [
        { name: 'gql_operation_name', str: gql.operationName },
        { name: 'gql_operation_type', str: gql.operationType },
      ]
    }
    this.#ctx.emit(call)
  }

  /**
   * The body preview with its Content-Encoding undone when a decoder is registered (see
   * `setBodyDecoder`); sizes stay wire sizes. A preview cut short by `maxBodyBytes` is still
   * tried: the decoder returns what the prefix decodes to, or nothing.
   */
  #preview(headers: MessageHead['headers'], body: BoundedBytes): { bytes: Uint8Array; truncated: boolean } {
    const wire = body.bytes()
    const max = this.#ctx.limits.maxBodyBytes
    const decoded = decodeContentEncoding(headerValue(headers, 'content-encoding'), wire, max)
    if (decoded === undefined) return { bytes: wire, truncated: body.truncated }
    return { bytes: decoded, truncated: body.truncated || decoded.length >= max }
  }
}

const METHOD_CHARS = /^[A-Z][A-Z_-]{0,19}$/
const HTTP_PREFIX = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e] // "HTTP/1."

function startsWithHttpVersion(d: Uint8Array): ProbeVerdict | undefined {
  const n = Math.min(d.length, HTTP_PREFIX.length)
  for (let i = 0; i < n; i++) if (d[i] !== HTTP_PREFIX[i]) return undefined
  return d.length < HTTP_PREFIX.length ? 'more' : 'match'
}

/** Looks for `METHOD SP target SP HTTP/1.x` on the first line (any method token). */
function looksLikeRequest(d: Uint8Array): ProbeVerdict {
  const limit = Math.min(d.length, 8192)
  let sp = -1
  for (let i = 0; i < Math.min(limit, 21); i++) {
    if (d[i] === 0x20) {
      sp = i
      break
    }
  }
  if (sp < 0) {
    for (let i = 0; i < Math.min(limit, 20); i++) {
      const c = d[i]!
      if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return 'no'
    }
    return d.length < 21 ? 'more' : 'no'
  }
  let method = ''
  for (let i = 0; i < sp; i++) method += String.fromCharCode(d[i]!)
  if (!METHOD_CHARS.test(method)) return 'no'
  let lf = -1
  for (let i = sp + 1; i < limit; i++) {
    if (d[i] === 0x0a) {
      lf = i
      break
    }
  }
  if (lf < 0) return d.length < 8192 ? 'more' : 'no'
  let line = ''
  for (let i = sp + 1; i < lf; i++) line += String.fromCharCode(d[i]!)
  return / HTTP\/1\.[01]\r?$/.test(line) ? 'match' : 'no'
}

/** HTTP/1.0 and 1.1 (RFC 9112) on any port. */
export const http1Dissector: Dissector = {
  id: 'http1',
  transport: 'tcp',
  portHints: [80, 8080, 8000, 3000, 5000, 8888],
  probe(data, dir) {
    const resp = startsWithHttpVersion(data)
    if (resp === 'more') return 'more'
    if (resp === 'match') return dir === 1 ? 'match' : 'match-reversed'
    const req = looksLikeRequest(data)
    if (req === 'match') return dir === 0 ? 'match' : 'match-reversed'
    return req
  },
  newSession: (ctx) => new Http1Session(ctx),
}
