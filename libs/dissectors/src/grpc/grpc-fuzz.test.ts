import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import { renderGrpcMessages } from './grpc.js'
import { renderProtobuf } from './protobuf-text.js'

// gRPC previews render length-prefixed messages (gRPC over HTTP/2 §Length-Prefixed-Message) as
// schema-less protobuf text: whatever the bytes, rendering never throws and stays within its
// character budget. HTTP/2 framing and HPACK are fuzzed in ../http2 and ../hpack.

/** A well-formed message: field 1 varint 150, field 2 string "hi", field 3 nested { 1: 1 }. */
const MESSAGE = Uint8Array.of(0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69, 0x1a, 0x02, 0x08, 0x01)
const framed = (m: Uint8Array, compressed = 0): Uint8Array => {
  const out = new Uint8Array(5 + m.length)
  out[0] = compressed
  new DataView(out.buffer).setUint32(1, m.length)
  out.set(m, 5)
  return out
}

describe('gRPC message preview fuzzing', () => {
  it('the seed renders its fields', () => {
    const text = renderGrpcMessages(framed(MESSAGE), 1000)
    expect(text).toContain('150')
    expect(text).toContain('hi')
  })

  it('random bytes never throw and stay within the budget', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.integer({ min: 0, max: 500 }),
        (b, max) => {
          expect(renderGrpcMessages(b, max).length).toBeLessThanOrEqual(max + 3)
          expect(typeof renderProtobuf(b)).toBe('string')
        }
      ),
      params
    )
  })

  it('mutated messages (flipped bytes, cut, repeated, compressed flag) never throw', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(MESSAGE.length + 4), fc.integer({ min: 0, max: 255 })), {
          maxLength: 6,
        }),
        fc.nat(3),
        fc.nat(60),
        fc.integer({ min: 0, max: 300 }),
        (flips, repeat, cut, max) => {
          const one = framed(MESSAGE)
          for (const [at, v] of flips) one[at % one.length] = v
          const all = new Uint8Array(one.length * (repeat + 1))
          for (let i = 0; i <= repeat; i++) all.set(one, i * one.length)
          const b = all.subarray(0, Math.max(0, all.length - cut))
          expect(renderGrpcMessages(b, max).length).toBeLessThanOrEqual(max + 3)
        }
      ),
      params
    )
  })
})
