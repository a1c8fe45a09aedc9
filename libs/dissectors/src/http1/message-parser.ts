import type { Header } from '@tapwire/wire'
import { equalsLowerCase, findHeadEnd, indexOfLf, latin1 } from '../util/bytes.js'

/** A parsed start line and header block (RFC 9112 §2-5). */
export interface MessageHead {
  method: string
  target: string
  status: number
  reason: string
  version: string
  headers: Header[]
  /** Bytes of the start line and header block, terminator included. */
  headerBytes: number
}

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' }

export interface MessageHandler {
  /** A head was parsed; the handler decides the body framing (a response depends on its request). */
  onHead(head: MessageHead, startTs: number): BodyFraming
  onBody(chunk: Uint8Array): void
  /** Bytes of the body lost to a capture gap. */
  onBodyGap(length: number): void
  onComplete(endTs: number): void
  /** Malformed bytes; the parser resynchronises on the next start line. */
  onError(message: string): void
}

type State = 'head' | 'body-length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'body-close' | 'resync' | 'closed'

// The start lines (RFC 9112 §3, §4) are matched by hand, per message, exactly as these two
// expressions would match them (the tests hold the parser to them):
//   request: /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\S{1,65536}) (HTTP\/\d\.\d)$/
//   status:  /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/
const MAX_METHOD = 32
const MAX_TARGET = 65536
/** tchar (RFC 9110 §5.6.2) by char code. */
const TCHAR = new Uint8Array(128)
const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
for (const c of TCHARS) TCHAR[c.charCodeAt(0)] = 1

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/** `\s` of a JavaScript regular expression (and what `String.prototype.trim` removes). */
function isSpace(c: number): boolean {
  if (c > 0x20 && c < 0x7f) return false
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}

/** `HTTP/d.d` at `s[i]`. */
function isVersion(s: string, i: number): boolean {
  return (
    s.startsWith('HTTP/', i) &&
    isDigit(s.charCodeAt(i + 5)) &&
    s.charCodeAt(i + 6) === 0x2e &&
    isDigit(s.charCodeAt(i + 7))
  )
}

/** A request line into `head` (method, target, version); false when it is not one. */
function parseRequestLine(l: string, head: MessageHead): boolean {
  let i = 0
  while (i < l.length && i <= MAX_METHOD && TCHAR[l.charCodeAt(i)] === 1) i++
  if (i === 0 || i > MAX_METHOD || l.charCodeAt(i) !== 0x20) return false
  const t = i + 1
  let j = t
  while (j < l.length && !isSpace(l.charCodeAt(j))) j++
  if (j === t || j - t > MAX_TARGET || l.charCodeAt(j) !== 0x20) return false
  if (l.length !== j + 9 || !isVersion(l, j + 1)) return false
  head.method = l.slice(0, i)
  head.target = l.slice(t, j)
  head.version = l.slice(j + 1)
  return true
}

/** A status line into `head` (version, status, reason); false when it is not one. */
function parseStatusLine(l: string, head: MessageHead): boolean {
  if (l.length < 12 || !isVersion(l, 0) || l.charCodeAt(8) !== 0x20) return false
  for (let k = 9; k < 12; k++) if (!isDigit(l.charCodeAt(k))) return false
  if (l.length > 12) {
    if (l.charCodeAt(12) !== 0x20) return false
    // The reason is `.*`: no line terminators.
    for (let k = 13; k < l.length; k++) {
      const c = l.charCodeAt(k)
      if (c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029) return false
    }
    head.reason = l.slice(13)
  }
  head.version = l.slice(0, 8)
  head.status = Number(l.slice(9, 12))
  return true
}

/** Whether `s[0..end)` is a non-empty token (a valid field name). */
function isToken(s: string, end: number): boolean {
  if (end === 0) return false
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f || TCHAR[c] === 0) return false
  }
  return true
}
const MAX_CHUNK_LINE = 1024

/**
 * Streaming parser for one direction of an HTTP/1.x connection. It accepts bytes in arbitrary
 * pieces (one byte per segment works), handles keep-alive and pipelined messages, and never holds
 * more than one header block (bounded) in memory: bodies are handed on as they arrive.
 */
export class MessageParser {
  #state: State = 'head'
  #head: Uint8Array = new Uint8Array(0)
  #headLen = 0
  #scanFrom = 0
  #remaining = 0
  #line = ''
  #startTs = 0
  readonly #kind: 'request' | 'response'
  readonly #maxHeaderBytes: number
  readonly #h: MessageHandler

  constructor(kind: 'request' | 'response', maxHeaderBytes: number, handler: MessageHandler) {
    this.#kind = kind
    this.#maxHeaderBytes = maxHeaderBytes
    this.#h = handler
  }

  get state(): State {
    return this.#state
  }

  /** True between messages (nothing partial buffered). */
  get idle(): boolean {
    return this.#state === 'head' && this.#headLen === 0
  }

  /** Stops parsing (the connection switched protocols); `push` returns what it consumed. */
  stop(): void {
    this.#state = 'closed'
  }

  /** Parses `data`; returns the bytes consumed (less than all only after `stop()`). */
  push(data: Uint8Array, tsMs: number): number {
    let o = 0
    while (o < data.length && this.#state !== 'closed') {
      switch (this.#state) {
        case 'head':
          o = this.#pushHead(data, o, tsMs)
          break
        case 'body-length': {
          const n = Math.min(this.#remaining, data.length - o)
          this.#h.onBody(data.subarray(o, o + n))
          o += n
          this.#remaining -= n
          if (this.#remaining === 0) this.#complete(tsMs)
          break
        }
        case 'body-close':
          this.#h.onBody(data.subarray(o))
          o = data.length
          break
        case 'chunk-size':
        case 'trailers':
          o = this.#pushLine(data, o, tsMs)
          break
        case 'chunk-data': {
          const n = Math.min(this.#remaining, data.length - o)
          this.#h.onBody(data.subarray(o, o + n))
          o += n
          this.#remaining -= n
          if (this.#remaining === 0) {
            this.#state = 'chunk-crlf'
            this.#remaining = 2
          }
          break
        }
        case 'chunk-crlf':
          // Tolerate a bare LF after chunk data.
          if (data[o] === 0x0d && this.#remaining === 2) {
            this.#remaining = 1
            o++
          } else {
            if (data[o] !== 0x0a) {
              o = this.#fail('chunk data not followed by CRLF', data, o)
              break
            }
            o++
            this.#state = 'chunk-size'
            this.#line = ''
          }
          break
        case 'resync':
          o = this.#resync(data, o, tsMs)
          break
      }
    }
    return o
  }

  /** `length` bytes of this direction were never captured. */
  gap(length: number): void {
    if (this.#state === 'body-length' && length <= this.#remaining) {
      this.#h.onBodyGap(length)
      this.#remaining -= length
      // Completion waits for the next byte or close: the gap is inside this body.
      if (this.#remaining === 0) this.#state = 'body-length'
      return
    }
    if (this.#state === 'chunk-data' && length <= this.#remaining) {
      this.#h.onBodyGap(length)
      this.#remaining -= length
      return
    }
    if (this.#state === 'body-close') {
      this.#h.onBodyGap(length)
      return
    }
    if (this.#state !== 'closed') {
      if (!this.idle) this.#h.onError('capture gap inside a message')
      this.#resetHead()
      this.#state = 'resync'
    }
  }

  /** The connection closed: a read-until-close body is complete now. */
  close(tsMs: number): void {
    if (this.#state === 'body-close') this.#complete(tsMs)
    else if (this.#state === 'body-length' && this.#remaining === 0) this.#complete(tsMs)
    this.#state = 'closed'
  }

  #pushHead(data: Uint8Array, o: number, tsMs: number): number {
    if (this.#headLen === 0) {
      // Tolerate stray CRLFs between messages (RFC 9112 §2.2).
      while (o < data.length && (data[o] === 0x0d || data[o] === 0x0a)) o++
      if (o === data.length) return o
      this.#startTs = tsMs
      // Fast path: the whole header block is in this segment (the usual case): parse it in place
      // instead of copying it into the head buffer first.
      const limit = Math.min(data.length, o + this.#maxHeaderBytes + 4)
      const end = findHeadEnd(data, o, limit)
      if (end > 0) return this.#finishHead(data.subarray(o, end), o + (end - o), tsMs)
    }
    const take = Math.min(data.length - o, this.#maxHeaderBytes + 4 - this.#headLen)
    if (this.#head.length < this.#headLen + take) {
      const next = new Uint8Array(Math.max(this.#head.length * 2, this.#headLen + take, 512))
      next.set(this.#head.subarray(0, this.#headLen))
      this.#head = next
    }
    this.#head.set(data.subarray(o, o + take), this.#headLen)
    const before = this.#headLen
    this.#headLen += take
    const end = findHeadEnd(this.#head, Math.max(0, this.#scanFrom - 3), this.#headLen)
    if (end < 0) {
      this.#scanFrom = this.#headLen
      if (this.#headLen > this.#maxHeaderBytes) {
        this.#h.onError(`header block longer than ${this.#maxHeaderBytes} bytes`)
        this.#resetHead()
        this.#state = 'resync'
      }
      return o + take
    }
    const consumed = end - before
    const block = this.#head.subarray(0, end)
    this.#headLen = 0
    this.#scanFrom = 0
    const next = this.#finishHead(block, o + consumed, tsMs)
    if (this.#head.length > 8192) this.#head = new Uint8Array(0)
    return next
  }

  /** Parses a complete header block and starts its body; returns the offset after the block. */
  #finishHead(block: Uint8Array, after: number, tsMs: number): number {
    const head = this.#parseHead(block)
    if (head === undefined) {
      this.#state = 'resync'
      return after
    }
    const framing = this.#h.onHead(head, this.#startTs)
    this.#begin(framing, tsMs)
    return after
  }

  #begin(framing: BodyFraming, tsMs: number): void {
    switch (framing.kind) {
      case 'none':
        return this.#complete(tsMs)
      case 'length':
        if (framing.length === 0) return this.#complete(tsMs)
        this.#state = 'body-length'
        this.#remaining = framing.length
        return
      case 'chunked':
        this.#state = 'chunk-size'
        this.#line = ''
        return
      case 'close':
        this.#state = 'body-close'
        return
    }
  }

  #pushLine(data: Uint8Array, o: number, tsMs: number): number {
    const lf = indexOfLf(data, o)
    const end = lf < 0 ? data.length : lf
    this.#line += latin1(data, o, end)
    if (this.#line.length > MAX_CHUNK_LINE) return this.#fail('chunk size line too long', data, end)
    if (lf < 0) return data.length
    const line = this.#line.replace(/\r$/, '')
    this.#line = ''
    if (this.#state === 'chunk-size') {
      // RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF
      const m = /^([0-9A-Fa-f]{1,15})\s*(?:;.*)?$/.exec(line)
      if (!m) return this.#fail(`bad chunk size line '${line.slice(0, 40)}'`, data, lf + 1)
      const size = parseInt(m[1]!, 16)
      if (size === 0) this.#state = 'trailers'
      else {
        this.#state = 'chunk-data'
        this.#remaining = size
      }
    } else if (line === '') {
      this.#complete(tsMs)
    }
    return lf + 1
  }

  #complete(tsMs: number): void {
    this.#state = 'head'
    this.#h.onComplete(tsMs)
  }

  #fail(message: string, data: Uint8Array, o: number): number {
    this.#h.onError(message)
    this.#resetHead()
    this.#state = 'resync'
    return Math.min(o, data.length)
  }

  /** Skips bytes until a line that starts a message of our kind, then parses from there. */
  #resync(data: Uint8Array, o: number, tsMs: number): number {
    for (let i = o; i < data.length; i++) {
      if (i !== o && data[i - 1] !== 0x0a) continue
      if (this.#looksLikeStart(data, i)) {
        this.#state = 'head'
        return this.#pushHead(data, i, tsMs)
      }
    }
    return data.length
  }

  #looksLikeStart(d: Uint8Array, i: number): boolean {
    if (this.#kind === 'response') {
      return d[i] === 0x48 && d[i + 1] === 0x54 && d[i + 2] === 0x54 && d[i + 3] === 0x50 && d[i + 4] === 0x2f
    }
    // An upper-case token followed by a space and a target.
    let j = i
    while (j < d.length && j - i < 16 && d[j]! >= 0x41 && d[j]! <= 0x5a) j++
    return j > i + 2 && d[j] === 0x20 && (d[j + 1] === 0x2f || d[j + 1] === 0x68 || d[j + 1] === 0x2a)
  }

  #resetHead(): void {
    this.#headLen = 0
    this.#scanFrom = 0
    if (this.#head.length > 8192) this.#head = new Uint8Array(0)
  }

  #parseHead(bytes: Uint8Array): MessageHead | undefined {
    const text = latin1(bytes)
    // Lines end at LF or CRLF (what `split(/\r?\n/)` did, without the regex and the array).
    let from = 0
    const nextLine = (): string | undefined => {
      if (from > text.length) return undefined
      const lf = text.indexOf('\n', from)
      if (lf < 0) {
        const last = text.slice(from)
        from = text.length + 1
        return last
      }
      const line = text.slice(from, lf > from && text.charCodeAt(lf - 1) === 0x0d ? lf - 1 : lf)
      from = lf + 1
      return line
    }
    const start = nextLine() ?? ''
    const head: MessageHead = { method: '', target: '', status: 0, reason: '', version: '', headers: [], headerBytes: bytes.length }
    if (this.#kind === 'request') {
      if (!parseRequestLine(start, head)) {
        this.#h.onError(`bad request line '${start.slice(0, 60)}'`)
        return undefined
      }
    } else if (!parseStatusLine(start, head)) {
      this.#h.onError(`bad status line '${start.slice(0, 60)}'`)
      return undefined
    }
    for (let line = nextLine(); line !== undefined; line = nextLine()) {
      if (line === '') break
      if (line[0] === ' ' || line[0] === '\t') {
        // Obsolete line folding (RFC 9112 §5.2): append to the previous value.
        const prev = head.headers[head.headers.length - 1]
        if (prev) prev.value = `${prev.value ?? ''} ${line.trim()}`
        continue
      }
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      if (!isToken(line, colon)) continue
      // The value without surrounding whitespace (what `.trim()` removes), in one slice.
      let a = colon + 1
      let b = line.length
      while (a < b && isSpace(line.charCodeAt(a))) a++
      while (b > a && isSpace(line.charCodeAt(b - 1))) b--
      head.headers.push({ name: line.slice(0, colon), value: line.slice(a, b) })
    }
    return head
  }
}

/** First value of a header, case-insensitively. */
export function headerValue(headers: readonly Header[], name: string): string | undefined {
  const lower = name.toLowerCase()
  for (const h of headers) {
    if (h.name != null && equalsLowerCase(h.name, lower)) return h.value ?? ''
  }
  return undefined
}

/**
 * Body framing from the headers (RFC 9112 §6.3): Transfer-Encoding chunked wins over
 * Content-Length; an invalid Content-Length makes the message unframeable.
 */
export function framingFromHeaders(headers: readonly Header[], fallback: BodyFraming): BodyFraming | 'invalid' {
  const te = headerValue(headers, 'transfer-encoding')
  if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) return { kind: 'chunked' }
  const cl = headerValue(headers, 'content-length')
  if (cl !== undefined) {
    const length = contentLength(cl)
    return length < 0 ? 'invalid' : { kind: 'length', length }
  }
  return fallback
}

/**
 * The Content-Length value (RFC 9110 §8.6: 1*DIGIT; a list of identical values is tolerated by
 * taking the first), or -1 when invalid. Plain digits, nearly every message, skip the split.
 */
function contentLength(v: string): number {
  const n = v.length
  let x = 0
  let i = 0
  for (; i < n && i < 15; i++) {
    const d = v.charCodeAt(i) - 0x30
    if (d < 0 || d > 9) break
    x = x * 10 + d
  }
  if (i === n && n > 0) return x
  const first = v.split(',')[0]!.trim()
  return /^\d{1,15}$/.test(first) ? Number(first) : -1
}
