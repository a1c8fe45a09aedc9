import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nsToHiLo, tsConverter } from './timestamp.js'

function exact(hi: number, lo: number, units: bigint, offset: number): [number, number] {
  const v = (BigInt(hi) << 32n) | BigInt(lo)
  return [Number(v / units) + offset, Number(((v % units) * 1000000000n) / units)]
}

describe('pcapng timestamp conversion', () => {
  const resolutions: [number, bigint][] = [
    [1e9, 1000000000n],
    [1e6, 1000000n],
    [1e3, 1000n],
    [1, 1n],
    [10, 10n],
    [2 ** 20, 1n << 20n],
    [2 ** 30, 1n << 30n],
    [2 ** 36, 1n << 36n],
    [1e12, 1000000000000n],
    [2 ** 40, 1n << 40n],
  ]
  for (const [units, big] of resolutions) {
    it(`converts ${units} units/s exactly (vs BigInt)`, () => {
      const conv = tsConverter(units, 7, big)
      const out = new Float64Array(2)
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: 0xffffffff }),
          (hi, lo) => {
            conv.convert(hi, lo, out)
            expect([out[0], out[1]]).toEqual(exact(hi, lo, big, 7))
          }
        ),
        { numRuns: 2000 }
      )
    })
  }

  it('splits seconds + nanoseconds into a 64-bit nanosecond count exactly', () => {
    const out = new Float64Array(2)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 999999999 }),
        (sec, ns) => {
          nsToHiLo(sec, ns, out)
          const v = BigInt(sec) * 1000000000n + BigInt(ns)
          expect([out[0], out[1]]).toEqual([Number(v >> 32n), Number(v & 0xffffffffn)])
        }
      ),
      { numRuns: 5000 }
    )
  })
})
