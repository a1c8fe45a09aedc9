import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import { BoundedBytes, equalsLowerCase, latin1, utf8Bytes } from './bytes.js'

// The fast paths must give what the plain calls they replace give, for every input.
const latin1Decoder = new TextDecoder('latin1')

describe('byte helpers', () => {
  it('latin1 decodes any range like TextDecoder(latin1), short ASCII fast path included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(40), fc.nat(40), (b, x, y) => {
        const [start, end] = [Math.min(x, y, b.length), Math.min(Math.max(x, y), b.length)]
        expect(latin1(b, start, end)).toBe(latin1Decoder.decode(b.subarray(start, end)))
        expect(latin1(b)).toBe(latin1Decoder.decode(b))
      }),
      params
    )
    expect(latin1(Uint8Array.of(0x41, 0x80, 0xff))).toBe(
      latin1Decoder.decode(Uint8Array.of(0x41, 0x80, 0xff))
    )
  })

  it('equalsLowerCase is s.toLowerCase() === lower, for any strings', () => {
    const names = fc.constantFrom(
      'content-type',
      'Content-Type',
      'CONTENT-TYPE',
      'content-typ',
      'İ',
      'i̇',
      'K',
      'k',
      'À',
      'à',
      ''
    )
    fc.assert(
      fc.property(
        fc.oneof(names, fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 })),
        names,
        (s, other) => {
          const lower = other.toLowerCase()
          expect(equalsLowerCase(s, lower)).toBe(s.toLowerCase() === lower)
          expect(equalsLowerCase(s, other)).toBe(s.toLowerCase() === other)
        }
      ),
      params
    )
    // U+212A KELVIN SIGN lower-cases to ASCII k; U+0130 to two chars.
    expect(equalsLowerCase('\u212a', 'k')).toBe(true)
    expect(equalsLowerCase('\u0130', 'i\u0307')).toBe(true)
  })

  it('utf8Bytes encodes like TextEncoder', () => {
    const enc = new TextEncoder()
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 })),
        (s) => {
          expect([...utf8Bytes(s)]).toEqual([...enc.encode(s)])
        }
      ),
      params
    )
  })

  it('BoundedBytes keeps the first bytes, counts all, and gives one empty array for none', () => {
    const b = new BoundedBytes(5)
    expect(b.bytes().length).toBe(0)
    b.push(Uint8Array.of(1, 2, 3))
    b.push(Uint8Array.of(4, 5, 6, 7))
    expect([...b.bytes()]).toEqual([1, 2, 3, 4, 5])
    expect(b.total).toBe(7)
    expect(b.truncated).toBe(true)
    // The kept bytes are copies: the caller's chunk may be reused.
    const chunk = Uint8Array.of(9, 9)
    const c = new BoundedBytes(10)
    c.push(chunk)
    chunk.fill(0)
    expect([...c.bytes()]).toEqual([9, 9])
  })
})
