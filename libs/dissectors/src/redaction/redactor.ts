import type { Header } from '@tapwire/wire'
import type { CallRecord } from '../engine/types.js'

export const REDACTED = '[REDACTED]'

export interface RedactionRules {
  /** Header names whose values are replaced (case-insensitive). */
  headers: readonly string[]
  /** Keys in JSON bodies, form bodies and query strings whose values are replaced (case-insensitive). */
  keys: readonly string[]
  /** Patterns replaced wherever they appear in header values, URLs and text bodies. */
  patterns: readonly RegExp[]
}

/** JSON Web Tokens: three base64url parts, the first starting with `{"` encoded (`eyJ`). */
export const JWT_PATTERN = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g
/** Candidate payment card numbers: 13 to 19 digits, optionally grouped by spaces or dashes. */
const CARD_CANDIDATE = /\b\d(?:[ -]?\d){12,18}\b/g

export const DEFAULT_REDACTION: RedactionRules = {
  headers: ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token', 'x-amz-security-token'],
  keys: ['password', 'passwd', 'pwd', 'secret', 'token', 'access_token', 'refresh_token', 'id_token', 'api_key', 'apikey', 'client_secret', 'private_key', 'authorization', 'credit_card', 'card_number', 'cvv', 'ssn'],
  patterns: [JWT_PATTERN],
}

/** Luhn check (ISO/IEC 7812-1), so order numbers and timestamps are not taken for cards. */
function luhn(digits: string): boolean {
  let sum = 0
  let dbl = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (dbl) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    dbl = !dbl
  }
  return sum % 10 === 0
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const utf8 = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

/**
 * Removes secrets from calls before they leave the node: header values by name, values of
 * sensitive keys in JSON, form bodies and query strings, and patterns (JWTs, card numbers that
 * pass the Luhn check) anywhere in text. Sizes stay the wire sizes; only content changes.
 */
export class Redactor {
  readonly #headers: Set<string>
  readonly #patterns: readonly RegExp[]
  readonly #jsonKey: RegExp | undefined
  readonly #formKey: RegExp | undefined
  readonly #cards: boolean

  constructor(rules: RedactionRules = DEFAULT_REDACTION, opts: { cards?: boolean } = {}) {
    this.#headers = new Set(rules.headers.map((h) => h.toLowerCase()))
    this.#patterns = rules.patterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`))
    this.#cards = opts.cards ?? true
    if (rules.keys.length > 0) {
      const keys = rules.keys.map(escapeRe).join('|')
      // "key": "value" | "key": 123 | "key": true — string values may contain escaped quotes.
      this.#jsonKey = new RegExp(`("(?:${keys})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|-?\\d[\\d.eE+-]*|true|false)`, 'gi')
      // key=value in query strings and form bodies.
      this.#formKey = new RegExp(`([?&;]|^)((?:${keys})=)([^&#;\\s]*)`, 'gim')
    }
  }

  text(s: string): string {
    let out = s
    if (this.#jsonKey) out = out.replace(this.#jsonKey, `$1"${REDACTED}"`)
    if (this.#formKey) out = out.replace(this.#formKey, `$1$2${REDACTED}`)
    for (const p of this.#patterns) out = out.replace(p, REDACTED)
    if (this.#cards) {
      out = out.replace(CARD_CANDIDATE, (m) => {
        const digits = m.replace(/[ -]/g, '')
        return digits.length >= 13 && luhn(digits) ? REDACTED : m
      })
    }
    return out
  }

  headers(list: readonly Header[] | undefined): Header[] | undefined {
    if (!list) return list
    return list.map((h) =>
      this.#headers.has((h.name ?? '').toLowerCase()) ? { name: h.name ?? '', value: REDACTED } : { name: h.name ?? '', value: this.text(h.value ?? '') }
    )
  }

  /** Text bodies are redacted; binary bodies are kept as they are (no text to match). */
  body(b: Uint8Array | undefined): Uint8Array | undefined {
    if (!b || b.length === 0) return b
    let s: string
    try {
      s = utf8.decode(b)
    } catch {
      return b
    }
    const r = this.text(s)
    return r === s ? b : encoder.encode(r)
  }

  /** Redacts a call in place (headers, URL, path, bodies, summary, string attributes). */
  call(c: CallRecord): void {
    c.reqHeaders = this.headers(c.reqHeaders)
    c.respHeaders = this.headers(c.respHeaders)
    if (c.url) c.url = this.text(c.url)
    if (c.path) c.path = this.text(c.path)
    if (c.summary) c.summary = this.text(c.summary)
    c.reqBody = this.body(c.reqBody)
    c.respBody = this.body(c.respBody)
    if (c.attrs) for (const a of c.attrs) if (typeof a.str === 'string') a.str = this.text(a.str)
  }
}
