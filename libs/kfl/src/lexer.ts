import { KflError } from './errors.js'
import type { Span } from './errors.js'

export type TokenKind = 'ident' | 'int' | 'double' | 'string' | 'bytes' | 'op' | 'eof'

export interface Token {
  readonly kind: TokenKind
  /** Operator text, identifier name, or the decoded value of a string literal. */
  readonly text: string
  /** Numeric value of int and double literals. */
  readonly num: number
  readonly span: Span
}

// Longest first, so `<=` wins over `<`.
const OPERATORS = [
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '<',
  '>',
  '!',
  '+',
  '-',
  '*',
  '/',
  '%',
  '?',
  ':',
  '.',
  ',',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
]

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'
const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_')
const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c)
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c)

const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  r: '\r',
  t: '\t',
  b: '\b',
  f: '\f',
  v: '\v',
  a: '\x07',
  '\\': '\\',
  '"': '"',
  "'": "'",
  '`': '`',
  '?': '?',
}

/** Splits a filter into tokens; the last token is always `eof`. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const n = source.length
  const push = (kind: TokenKind, text: string, start: number, num = 0): void => {
    tokens.push({ kind, text, num, span: [start, i] })
  }
  while (i < n) {
    const c = source[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++
      continue
    }
    if (c === '/' && source[i + 1] === '/') {
      // CEL line comment.
      while (i < n && source[i] !== '\n') i++
      continue
    }
    const start = i
    // String prefixes: r/R (raw), b/B (bytes), in either order.
    if (isIdentStart(c)) {
      let j = i
      let raw = false
      let bytes = false
      while (
        j < i + 2 &&
        (source[j] === 'r' || source[j] === 'R' || source[j] === 'b' || source[j] === 'B')
      ) {
        const p = source[j]!.toLowerCase()
        if ((p === 'r' && raw) || (p === 'b' && bytes)) break
        if (p === 'r') raw = true
        else bytes = true
        j++
      }
      if (j > i && (source[j] === '"' || source[j] === "'")) {
        i = j
        const value = readString(source, start, j, raw)
        i = value.end
        push(bytes ? 'bytes' : 'string', value.text, start)
        continue
      }
      while (i < n && isIdentPart(source[i])) i++
      push('ident', source.slice(start, i), start)
      continue
    }
    if (c === '"' || c === "'") {
      const value = readString(source, start, start, false)
      i = value.end
      push('string', value.text, start)
      continue
    }
    if (isDigit(c)) {
      readNumber()
      continue
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i))
    if (op !== undefined) {
      i += op.length
      push('op', op, start)
      continue
    }
    if (c === '=') {
      throw new KflError('KFL_SYNTAX', "unexpected '='", [i, i + 1], 'use == to compare')
    }
    if (c === '&' || c === '|') {
      throw new KflError(
        'KFL_SYNTAX',
        `unexpected '${c}'`,
        [i, i + 1],
        `use ${c}${c} (or the word ${c === '&' ? 'and' : 'or'})`
      )
    }
    const cp = source.codePointAt(i) ?? 0
    const len = cp > 0xffff ? 2 : 1
    throw new KflError('KFL_SYNTAX', `unexpected character '${source.slice(i, i + len)}'`, [
      i,
      i + len,
    ])
  }
  tokens.push({ kind: 'eof', text: '', num: 0, span: [n, n] })
  return tokens

  function readNumber(): void {
    const start = i
    if (source[i] === '0' && (source[i + 1] === 'x' || source[i + 1] === 'X')) {
      i += 2
      while (isHex(source[i])) i++
      if (i === start + 2)
        throw new KflError('KFL_SYNTAX', 'expected hex digits after 0x', [start, i])
      finishInt(start, Number.parseInt(source.slice(start + 2, i), 16))
      return
    }
    while (isDigit(source[i])) i++
    let isDouble = false
    if (source[i] === '.' && isDigit(source[i + 1])) {
      isDouble = true
      i++
      while (isDigit(source[i])) i++
    }
    if (source[i] === 'e' || source[i] === 'E') {
      let j = i + 1
      if (source[j] === '+' || source[j] === '-') j++
      if (isDigit(source[j])) {
        isDouble = true
        i = j
        while (isDigit(source[i])) i++
      }
    }
    const text = source.slice(start, i)
    if (isDouble) {
      if (isIdentStart(source[i]))
        throw new KflError('KFL_SYNTAX', `invalid number '${text}${source[i]}'`, [start, i + 1])
      push('double', text, start, Number(text))
      return
    }
    finishInt(start, Number(text))
  }

  function finishInt(start: number, value: number): void {
    // CEL's unsigned suffix: accepted, the value is an int all the same.
    if (source[i] === 'u' || source[i] === 'U') i++
    if (isIdentPart(source[i]))
      throw new KflError('KFL_SYNTAX', `invalid number '${source.slice(start, i + 1)}'`, [
        start,
        i + 1,
      ])
    if (!Number.isSafeInteger(value)) {
      throw new KflError(
        'KFL_SYNTAX',
        'integer literal out of range',
        [start, i],
        'integers must stay below 2^53'
      )
    }
    push('int', source.slice(start, i), start, value)
  }
}

/** Reads the string whose opening quote is at `quoteAt` (`start` includes any r/b prefix). */
function readString(
  source: string,
  start: number,
  quoteAt: number,
  raw: boolean
): { text: string; end: number } {
  let i = quoteAt
  const quote = source[i]!
  const triple = source.startsWith(quote.repeat(3), i)
  const closing = triple ? quote.repeat(3) : quote
  i += closing.length
  let text = ''
  for (;;) {
    if (i >= source.length) {
      throw new KflError(
        'KFL_SYNTAX',
        'unterminated string',
        [start, source.length],
        `close it with ${closing}`
      )
    }
    if (source.startsWith(closing, i)) return { text, end: i + closing.length }
    const c = source[i]!
    if (!triple && (c === '\n' || c === '\r')) {
      throw new KflError(
        'KFL_SYNTAX',
        'unterminated string',
        [start, i],
        `close it with ${closing}`
      )
    }
    if (c !== '\\' || raw) {
      text += c
      i++
      continue
    }
    const escStart = i
    const e = source[i + 1]
    if (e === undefined)
      throw new KflError('KFL_SYNTAX', 'unterminated string', [start, source.length])
    const simple = SIMPLE_ESCAPES[e]
    if (simple !== undefined) {
      text += simple
      i += 2
      continue
    }
    const hexLen = e === 'x' || e === 'X' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0
    if (hexLen > 0) {
      const hex = source.slice(i + 2, i + 2 + hexLen)
      if (hex.length !== hexLen || ![...hex].every(isHex)) {
        throw new KflError('KFL_SYNTAX', 'invalid escape sequence', [
          escStart,
          Math.min(source.length, i + 2 + hexLen),
        ])
      }
      const cp = Number.parseInt(hex, 16)
      if (cp > 0x10ffff)
        throw new KflError('KFL_SYNTAX', 'invalid code point', [escStart, i + 2 + hexLen])
      text += String.fromCodePoint(cp)
      i += 2 + hexLen
      continue
    }
    if (e >= '0' && e <= '3') {
      const oct = source.slice(i + 1, i + 4)
      if (!/^[0-7]{3}$/.test(oct))
        throw new KflError('KFL_SYNTAX', 'invalid octal escape', [escStart, i + 4])
      text += String.fromCharCode(Number.parseInt(oct, 8))
      i += 4
      continue
    }
    throw new KflError(
      'KFL_SYNTAX',
      `invalid escape sequence '\\${e}'`,
      [escStart, i + 2],
      'use \\\\ for a backslash, or a raw string r"..."'
    )
  }
}
