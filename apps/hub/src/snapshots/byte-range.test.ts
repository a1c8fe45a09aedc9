import { describe, expect, it } from 'vitest'
import { resolveRange } from './byte-range.js'

const E = '"1700000000000-1000"'
const r = (range: string | undefined, ifRange?: string) => resolveRange(range, 1000, E, ifRange)

describe('resolveRange (RFC 9110 §14)', () => {
  it('serves one byte range: first-last, first-, and a suffix', () => {
    expect(r('bytes=0-99')).toEqual({ kind: 'partial', start: 0, end: 99 })
    expect(r('bytes=100-')).toEqual({ kind: 'partial', start: 100, end: 999 })
    expect(r('bytes=-10')).toEqual({ kind: 'partial', start: 990, end: 999 })
    // Clamped to the representation: a last position past the end, a suffix longer than it.
    expect(r('bytes=900-5000')).toEqual({ kind: 'partial', start: 900, end: 999 })
    expect(r('bytes=-5000')).toEqual({ kind: 'partial', start: 0, end: 999 })
    // The unit is case-insensitive; whitespace around the specifier is tolerated.
    expect(r('Bytes= 5-5 ')).toEqual({ kind: 'partial', start: 5, end: 5 })
  })

  it('answers 416 for a range that starts past the end or selects nothing', () => {
    expect(r('bytes=1000-')).toEqual({ kind: 'unsatisfiable' })
    expect(r('bytes=5000-6000')).toEqual({ kind: 'unsatisfiable' })
    expect(r('bytes=-0')).toEqual({ kind: 'unsatisfiable' })
    expect(resolveRange('bytes=0-', 0, E)).toEqual({ kind: 'unsatisfiable' })
  })

  it('sends everything for what it does not serve as a range', () => {
    for (const h of [
      undefined,
      'bytes=5-1', // last below first: invalid
      'bytes=0-1,5-6', // several ranges
      'bytes=abc',
      'bytes=1.5-2',
      'items=0-5',
      'bytes',
      'bytes=',
    ])
      expect(r(h)).toEqual({ kind: 'full' })
  })

  it('applies the range only when If-Range matches the entity tag', () => {
    expect(r('bytes=100-', E)).toEqual({ kind: 'partial', start: 100, end: 999 })
    expect(r('bytes=100-', '"other"')).toEqual({ kind: 'full' })
    expect(r('bytes=100-', `W/${E}`)).toEqual({ kind: 'full' })
    expect(r('bytes=100-', 'Sat, 21 Nov 2026 10:00:00 GMT')).toEqual({ kind: 'full' })
  })
})
