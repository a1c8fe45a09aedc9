import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import { renderGrpcMessages, renderGrpcMessagesUtf8 } from './grpc.js'
import { renderProtobuf } from './protobuf-text.js'
import { ld, protobufMessage as message, referenceRenderGrpcMessages } from './test-support.js'

const enc = new TextEncoder()
const utf8 = enc

/** One length-prefixed message: flag (mostly 0), a length that may lie, the message bytes. */
const frame = fc
  .record({
    flag: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      fc.constant(1),
      fc.integer({ min: 2, max: 255 })
    ),
    msg: fc.oneof(
      { weight: 4, arbitrary: message(3) },
      fc.uint8Array({ maxLength: 60 }).map((b) => [...b]),
      fc.string({ unit: 'binary', maxLength: 30 }).map((s) => [...enc.encode(s)])
    ),
    lie: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, fc.integer({ min: -3, max: 3 })),
  })
  .map(({ flag, msg, lie }) => {
    const len = Math.max(0, msg.length + lie)
    return [flag, len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255, ...msg]
  })

/** Bodies of whole frames, cut anywhere (the body limit), at a byte offset in a larger buffer. */
const body = fc
  .tuple(
    fc.array(frame, { maxLength: 5 }),
    fc.nat(40),
    fc.boolean(),
    fc.nat(7),
    fc.uint8Array({ maxLength: 8 })
  )
  .map(([frames, cut, doCut, offset, junk]) => {
    const all = [...frames.flat(), ...(doCut ? [] : junk)]
    const bytes = doCut ? all.slice(0, Math.max(0, all.length - cut)) : all
    const buffer = new Uint8Array(offset + bytes.length + 3).fill(0xee)
    buffer.set(bytes, offset)
    return buffer.subarray(offset, offset + bytes.length)
  })

const budget = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 400 }) },
  fc.integer({ min: 0, max: 5000 }),
  fc.constantFrom(0, 1, 65536, -1, -100, Infinity, -Infinity, Number.NaN),
  fc.double({ min: -3, max: 300, noNaN: true })
)

describe('renderGrpcMessages against the previous implementation', () => {
  it('renders random bodies and budgets exactly as before', () => {
    fc.assert(
      fc.property(body, budget, (b, max) => {
        expect(renderGrpcMessages(b, max)).toBe(referenceRenderGrpcMessages(b, max))
        // The bytes form is the string's UTF-8, lone surrogates (a cut pair) as U+FFFD.
        expect(renderGrpcMessagesUtf8(b, max)).toEqual(
          utf8.encode(referenceRenderGrpcMessages(b, max))
        )
      }),
      params
    )
  })

  it('renders random bytes exactly as before', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), budget, (b, max) => {
        expect(renderGrpcMessages(b, max)).toBe(referenceRenderGrpcMessages(b, max))
      }),
      params
    )
  })

  const framed = (...msgs: number[][]) =>
    Uint8Array.from(
      msgs.flatMap((m) => [
        0,
        m.length >>> 24,
        (m.length >>> 16) & 255,
        (m.length >>> 8) & 255,
        m.length & 255,
        ...m,
      ])
    )

  it('cuts lines at every budget, inside surrogate pairs and multi-byte chars too', () => {
    const texts = ['😀😀 a😀', 'café 日本 😀', 'ascii only here', '"q" \\ \t 😀', '🇫🇷🇫🇷🇫🇷']
    const bodies = [
      ...texts.map((s) => framed(ld(1, [...enc.encode(s)]))),
      framed(...texts.map((s) => ld(1, [...enc.encode(s)]))),
      framed(...texts.map((s) => [...enc.encode(s)])), // top-level text (no message)
      framed(ld(1, [...enc.encode('😀')]), [0xff, 0xfe], ld(2, [0x08, 0x01])),
      Uint8Array.of(...framed(ld(1, [...enc.encode('é😀')])), 1, 0, 0, 0, 3, 1, 2, 3, 0, 0),
    ]
    for (const b of bodies) {
      const full = referenceRenderGrpcMessages(b, Infinity).length
      for (let max = -1; max <= full + 3; max++) {
        expect(renderGrpcMessages(b, max), `${max}`).toBe(referenceRenderGrpcMessages(b, max))
        // A cut inside a surrogate pair leaves a lone surrogate: U+FFFD in the UTF-8 form.
        expect(renderGrpcMessagesUtf8(b, max)).toEqual(
          utf8.encode(referenceRenderGrpcMessages(b, max))
        )
      }
      for (const max of [2.5, 7.9, Number.NaN])
        expect(renderGrpcMessages(b, max)).toBe(referenceRenderGrpcMessages(b, max))
    }
  })

  it('renders long bodies (buffers grown past their kept size) and then short ones', () => {
    const hexField = ld(
      1,
      Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)
    )
    const many = framed(...Array.from({ length: 3000 }, (_, i) => [...hexField, 0x10, i & 0x7f]))
    const wide = framed(
      Array.from({ length: 20000 }, (_, i) => [0x08 + 8 * (i % 5), i & 0x7f]).flat()
    )
    const deep = framed(
      Array.from({ length: 200 }, () =>
        ld(2, Array.from({ length: 300 }, () => [0x08, 1]).flat())
      ).flat()
    )
    const small = framed([0x0a, 0x03, 0x61, 0x62, 0x63, 0x10, 0x07])
    for (const b of [many, wide, deep, small, many, small]) {
      for (const max of [1e7, 65536, 100, 0])
        expect(renderGrpcMessages(b, max)).toBe(referenceRenderGrpcMessages(b, max))
      // The first message alone, through renderProtobuf.
      const end = 5 + (((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0)
      expect(renderProtobuf(b.subarray(5, end))).toBe(
        referenceRenderGrpcMessages(b.subarray(0, end), Infinity)
      )
    }
  })
})
