// Incremental RESP parser: RESP2 ("Redis serialization protocol specification", types + - : $ *,
// inline commands) and RESP3 (spec "RESP3", types _ , # ! = ( % ~ | >). Bytes arrive in any
// split; values come out whole. Memory is bounded: strings keep their first `keepBytes`,
// aggregates their first MAX_ITEMS elements, lines MAX_LINE bytes, nesting MAX_DEPTH levels.

import { decodeUtf8 } from '../util/bytes.js'

export type RespValue =
  | { t: 'simple'; s: string }
  | { t: 'error'; s: string }
  | { t: 'int'; n: number }
  | { t: 'bulk'; s: string | null; len: number }
  | { t: 'null' }
  | { t: 'bool'; b: boolean }
  | { t: 'double'; s: string }
  | { t: 'bignum'; s: string }
  /** `*` array, `~` set, `%` map (keys and values flattened), `>` push, `inline` command. */
  | { t: 'agg'; kind: '*' | '~' | '%' | '>' | 'inline'; items: RespValue[] | null; len: number }

/** The RESP spec caps bulk strings at 512 MB (proto-max-bulk-len default). */
export const MAX_BULK_LENGTH = 512 * 1024 * 1024
/** Aggregate nesting kept (tshark's RESP dissector stops at a similar depth). */
export const MAX_DEPTH = 32
const MAX_LINE = 64 * 1024
const MAX_ITEMS = 64
const MAX_COUNT = 1 << 30

export interface RespSink {
  /** A complete top-level value: `size` bytes on the wire from `ts` on (attributes included). */
  onValue(value: RespValue, size: number, ts: number): void
  onError(reason: string): void
}

interface Frame {
  kind: '*' | '~' | '%' | '>' | '|'
  remaining: number
  len: number
  items: RespValue[]
}

const latin = (b: Uint8Array, start: number, end: number): string => {
  let s = ''
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!)
  return s
}

export class RespParser {
  readonly #sink: RespSink
  readonly #client: boolean
  readonly #keep: number
  #line = new Uint8Array(256)
  #lineLen = 0
  /** Bytes of a bulk string still to read, CRLF included; -1 when reading a line. */
  #bulkLeft = -1
  #bulkKind: '$' | '=' | '!' = '$'
  #bulkLen = 0
  #bulkKept: number[] = []
  #stack: Frame[] = []
  #size = 0
  #ts = 0
  #started = false
  #broken = false

  /** `client`: the client side, where inline commands are allowed. */
  constructor(sink: RespSink, client: boolean, keepBytes = 1024) {
    this.#sink = sink
    this.#client = client
    this.#keep = keepBytes
  }

  get broken(): boolean {
    return this.#broken
  }

  /** Drops any partial value (after a capture gap) and starts afresh at the next byte. */
  reset(): void {
    this.#lineLen = 0
    this.#bulkLeft = -1
    this.#bulkKept = []
    this.#stack = []
    this.#size = 0
    this.#started = false
    this.#broken = false
  }

  push(data: Uint8Array, tsMs: number): void {
    let i = 0
    const n = data.length
    while (i < n && !this.#broken) {
      if (!this.#started) {
        this.#started = true
        this.#ts = tsMs
        this.#size = 0
      }
      if (this.#bulkLeft >= 0) {
        const take = Math.min(this.#bulkLeft, n - i)
        // Keep the first `keep` content bytes, never the trailing CRLF.
        const offset = this.#bulkLen + 2 - this.#bulkLeft
        const keepable = Math.min(take, Math.min(this.#bulkLen, this.#keep) - offset)
        for (let k = 0; k < keepable; k++) this.#bulkKept.push(data[i + k]!)
        this.#bulkLeft -= take
        this.#size += take
        i += take
        if (this.#bulkLeft === 0) {
          this.#bulkLeft = -1
          const s = decodeUtf8(Uint8Array.from(this.#bulkKept))
          this.#bulkKept = []
          const kind = this.#bulkKind
          this.#complete(kind === '!' ? { t: 'error', s } : { t: 'bulk', s, len: this.#bulkLen })
        }
        continue
      }
      // Line mode: collect up to LF.
      let lf = -1
      for (let k = i; k < n; k++) {
        if (data[k] === 0x0a) {
          lf = k
          break
        }
      }
      const end = lf < 0 ? n : lf + 1
      this.#appendLine(data, i, end)
      this.#size += end - i
      i = end
      if (this.#broken) return
      if (lf >= 0) this.#onLine()
    }
  }

  #appendLine(data: Uint8Array, start: number, end: number): void {
    const need = this.#lineLen + (end - start)
    if (need > MAX_LINE) return this.#fail('line too long')
    if (need > this.#line.length) {
      const grown = new Uint8Array(Math.min(MAX_LINE, Math.max(need, this.#line.length * 2)))
      grown.set(this.#line.subarray(0, this.#lineLen))
      this.#line = grown
    }
    this.#line.set(data.subarray(start, end), this.#lineLen)
    this.#lineLen = need
  }

  #fail(reason: string): void {
    this.#broken = true
    this.#sink.onError(reason)
  }

  #onLine(): void {
    const b = this.#line
    let end = this.#lineLen - 1 // LF
    if (end > 0 && b[end - 1] === 0x0d) end--
    this.#lineLen = 0
    const type = b[0]!
    const rest = (): string => latin(b, 1, end)
    const int = (): number | undefined => {
      const s = rest()
      return /^-?\d{1,18}$/.test(s) ? Number(s) : undefined
    }
    const atTop = this.#stack.length === 0
    switch (type) {
      case 0x2b: // + simple string
        return this.#complete({ t: 'simple', s: rest() })
      case 0x2d: // - simple error
        return this.#complete({ t: 'error', s: rest() })
      case 0x3a: {
        // : integer
        const v = int()
        return v === undefined ? this.#fail('bad integer') : this.#complete({ t: 'int', n: v })
      }
      case 0x5f: // _ null (RESP3)
        return this.#complete({ t: 'null' })
      case 0x23: // # boolean (RESP3)
        return this.#complete({ t: 'bool', b: rest() === 't' })
      case 0x2c: // , double (RESP3)
        return this.#complete({ t: 'double', s: rest() })
      case 0x28: // ( big number (RESP3)
        return this.#complete({ t: 'bignum', s: rest() })
      case 0x24: // $ bulk string
      case 0x3d: // = verbatim string (RESP3)
      case 0x21: {
        // ! bulk error (RESP3)
        const len = int()
        if (len === undefined) return this.#fail('bad bulk length')
        if (len === -1) return this.#complete({ t: 'bulk', s: null, len: -1 })
        if (len < 0 || len > MAX_BULK_LENGTH) return this.#fail('bulk length out of range')
        this.#bulkKind = type === 0x24 ? '$' : type === 0x3d ? '=' : '!'
        this.#bulkLen = len
        this.#bulkLeft = len + 2
        this.#bulkKept = []
        return
      }
      case 0x2a: // * array
      case 0x7e: // ~ set (RESP3)
      case 0x25: // % map (RESP3)
      case 0x3e: // > push (RESP3)
      case 0x7c: {
        // | attribute (RESP3)
        const count = int()
        if (count === undefined) return this.#fail('bad aggregate length')
        const kind = String.fromCharCode(type) as Frame['kind']
        if (count === -1 && kind === '*')
          return this.#complete({ t: 'agg', kind: '*', items: null, len: -1 })
        if (count < 0 || count > MAX_COUNT) return this.#fail('aggregate length out of range')
        if (this.#stack.length >= MAX_DEPTH) return this.#fail('nesting too deep')
        const elements = kind === '%' || kind === '|' ? count * 2 : count
        if (elements === 0) {
          if (kind === '|') return
          return this.#complete({ t: 'agg', kind, items: [], len: 0 })
        }
        this.#stack.push({ kind, remaining: elements, len: count, items: [] })
        return
      }
      default:
        if (this.#client && atTop) return this.#inline(b, end)
        return this.#fail(`unknown type byte 0x${type.toString(16)}`)
    }
  }

  /** Inline command (RESP spec "Inline commands"): space-separated words on one line. */
  #inline(b: Uint8Array, end: number): void {
    const words = latin(b, 0, end)
      .split(/[ \t]+/)
      .filter((w) => w.length > 0)
    if (words.length === 0) {
      // An empty line between commands: nothing to report.
      this.#started = false
      return
    }
    const items: RespValue[] = words
      .slice(0, MAX_ITEMS)
      .map((w) => ({ t: 'bulk', s: w.slice(0, this.#keep), len: w.length }))
    this.#complete({ t: 'agg', kind: 'inline', items, len: words.length })
  }

  #complete(v: RespValue, isAttribute = false): void {
    for (;;) {
      const top = this.#stack[this.#stack.length - 1]
      if (top === undefined) {
        // An attribute precedes the value it describes (RESP3 "Attribute type"): keep reading.
        if (isAttribute) return
        this.#started = false
        this.#sink.onValue(v, this.#size, this.#ts)
        return
      }
      // Attributes do not count as elements of the aggregate they sit in.
      if (isAttribute) return
      if (top.items.length < MAX_ITEMS) top.items.push(v)
      if (--top.remaining > 0) return
      this.#stack.pop()
      isAttribute = top.kind === '|'
      v = { t: 'agg', kind: top.kind === '|' ? '%' : top.kind, items: top.items, len: top.len }
    }
  }
}

/** The text of a string-ish value (bulk, simple, verbatim, number), else undefined. */
export function respText(v: RespValue | undefined): string | undefined {
  if (v === undefined) return undefined
  switch (v.t) {
    case 'bulk':
      return v.s ?? undefined
    case 'simple':
    case 'error':
    case 'double':
    case 'bignum':
      return v.s
    case 'int':
      return String(v.n)
    default:
      return undefined
  }
}

/** A short, bounded rendering of a reply for summaries. */
export function renderResp(v: RespValue, budget = 200): string {
  let out = ''
  const walk = (x: RespValue, depth: number): void => {
    if (out.length > budget) return
    switch (x.t) {
      case 'simple':
        out += x.s
        return
      case 'error':
        out += `(error) ${x.s}`
        return
      case 'int':
        out += `(integer) ${x.n}`
        return
      case 'bulk':
        out += x.s === null ? '(nil)' : JSON.stringify(x.s)
        return
      case 'null':
        out += '(nil)'
        return
      case 'bool':
        out += x.b ? '(true)' : '(false)'
        return
      case 'double':
      case 'bignum':
        out += x.s
        return
      case 'agg': {
        if (x.items === null) {
          out += '(nil)'
          return
        }
        const open = x.kind === '%' ? '{' : '['
        out += open
        if (depth > 4) out += '…'
        else
          x.items.forEach((it, i) => {
            if (i > 0) out += x.kind === '%' && i % 2 === 1 ? ': ' : ', '
            walk(it, depth + 1)
          })
        if (x.items.length < (x.kind === '%' ? x.len * 2 : x.len)) out += ', …'
        out += x.kind === '%' ? '}' : ']'
      }
    }
  }
  walk(v, 0)
  return out.length > budget ? out.slice(0, budget) + '…' : out
}
