import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import type { MessageHead } from './message-parser.js'
import { MessageParser } from './message-parser.js'

// The start lines and field values are parsed by hand; these are the expressions and calls they
// replaced (RFC 9112 §3, §4, §5), which every input must still agree with.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\S{1,65536}) (HTTP\/\d\.\d)$/
const STATUS_LINE = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/

/** Parses one head (bytes as one char per octet); the head, or the error message. */
function parse(kind: 'request' | 'response', text: string): MessageHead | string {
  let out: MessageHead | string = 'nothing'
  const p = new MessageParser(kind, 1 << 20, {
    onHead: (head) => {
      out = head
      return { kind: 'none' }
    },
    onBody: () => {},
    onBodyGap: () => {},
    onComplete: () => {},
    onError: (message) => {
      out = message
    },
  })
  p.push(
    Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff),
    0
  )
  return out
}

// Characters that matter to the expressions: tokens, separators, digits, the whitespace of `\s`
// within one octet (TAB, VT, FF, NBSP), the letters of "HTTP/1.1".
const piece = fc.oneof(
  fc.constantFrom(
    'GET',
    'POST',
    'M-SEARCH',
    'HTTP/1.1',
    'HTTP/2.0',
    'HTTP/1.',
    '/a?b=1',
    '*',
    '200',
    '404',
    'OK'
  ),
  fc.constantFrom(
    ' ',
    '  ',
    '\t',
    '\v',
    '\f',
    '\r',
    '\u00a0',
    '\u0085',
    ':',
    '/',
    '.',
    '"',
    '(',
    'é'
  ),
  fc.string({ unit: fc.constantFrom(...'aZ09-_.~!HTTP/1 2'.split('')), maxLength: 40 })
)
// A head starts after any CR/LF (tolerated between messages) and a CR before the LF ends the line.
const line = fc
  .array(piece, { maxLength: 8 })
  .map((p) => p.join(''))
  .filter((l) => l !== '' && !l.startsWith('\r') && !l.endsWith('\r'))

const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\u00a0', '')
const requestish = fc
  .tuple(
    fc.constantFrom('GET', 'M-SEARCH', 'A'.repeat(32), 'A'.repeat(33), 'GÉT', ''),
    sep,
    fc.constantFrom('/', '/a?b=1', '*', 'http://h/x', '/a\u0085b', '/a\u00a0b', ''),
    sep,
    fc.constantFrom(
      'HTTP/1.1',
      'HTTP/1.0',
      'HTTP/2.0',
      'HTTP/1.',
      'HTTP/1.1x',
      'HTTP/11.1',
      'http/1.1'
    ),
    fc.constantFrom('', '', ' ', 'x', '\t')
  )
  .map((p) => p.join(''))
  .filter((l) => l !== '')

describe('MessageParser start lines and fields', () => {
  it('accepts exactly the request lines the expression accepts, with the same parts', () => {
    fc.assert(
      fc.property(fc.oneof(line, requestish), (l) => {
        const got = parse('request', `${l}\r\nHost: x\r\n\r\n`)
        const m = REQUEST_LINE.exec(l)
        if (m === null) expect(got).toMatch(/^bad request line/)
        else expect(got).toMatchObject({ method: m[1], target: m[2], version: m[3] })
      }),
      params
    )
    const long = `GET /${'a'.repeat(65535)} HTTP/1.1`
    expect(parse('request', `${long}\r\n\r\n`)).toMatchObject({ target: `/${'a'.repeat(65535)}` })
    expect(parse('request', `GET /${'a'.repeat(65536)} HTTP/1.1\r\n\r\n`)).toMatch(
      /^bad request line/
    )
    expect(parse('request', `${'A'.repeat(32)} / HTTP/1.1\r\n\r\n`)).toMatchObject({
      method: 'A'.repeat(32),
    })
    expect(parse('request', `${'A'.repeat(33)} / HTTP/1.1\r\n\r\n`)).toMatch(/^bad request line/)
  })

  it('accepts exactly the status lines the expression accepts, with the same parts', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          line,
          line.map((l) => `HTTP/1.1 200${l}`),
          line.map((l) => `HTTP/1.0 404 ${l}`)
        ),
        (l) => {
          const got = parse('response', `${l}\r\n\r\n`)
          const m = STATUS_LINE.exec(l)
          if (m === null) expect(got).toMatch(/^bad status line/)
          else
            expect(got).toMatchObject({ version: m[1], status: Number(m[2]), reason: m[3] ?? '' })
        }
      ),
      params
    )
  })

  it('trims field values as String.prototype.trim does', () => {
    fc.assert(
      fc.property(line, line, (a, b) => {
        const value = `${a}x${b}`.replace(/[\r\n]/g, '')
        const got = parse('request', `GET / HTTP/1.1\r\nX-Test:${value}\r\n\r\n`)
        expect(got).toMatchObject({ headers: [{ name: 'X-Test', value: value.trim() }] })
      }),
      params
    )
    // Field values are octets: 0xA0 decodes to NBSP, which trim() removes; 0x85 is kept.
    expect(parse('request', 'GET / HTTP/1.1\r\nA: \u00a0v\u0085\r\n\r\n')).toMatchObject({
      headers: [{ name: 'A', value: 'v\u0085' }],
    })
  })
})
