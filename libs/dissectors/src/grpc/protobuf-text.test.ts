import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import { renderProtobuf } from './protobuf-text.js'
import {
  protobufMessage as message,
  referenceRenderProtobuf as referenceRender,
  varint,
} from './test-support.js'

describe('renderProtobuf', () => {
  it('renders valid messages exactly as the reference renderer', () => {
    fc.assert(
      fc.property(message(3), (m) => {
        const b = Uint8Array.from(m)
        expect(renderProtobuf(b)).toBe(referenceRender(b))
      }),
      params
    )
  })

  it('renders random bytes exactly as the reference renderer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(renderProtobuf(b)).toBe(referenceRender(b))
      }),
      params
    )
  })

  it('reads long and non-minimal varints like the reference', () => {
    const cases = [
      // field 1: 2^63 (ten bytes), 2^49 (eight bytes), 1 written with eight bytes
      [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
      [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
      [0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
      // 2^55 + 1: eight bytes, beyond a double's precision
      [0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],
      // a tag written with eight bytes, an eleven-byte varint (invalid)
      [0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01],
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    ]
    for (const c of cases) {
      const b = Uint8Array.from(c)
      expect(renderProtobuf(b)).toBe(referenceRender(b))
    }
    expect(renderProtobuf(Uint8Array.from(cases[0]!))).toBe('{1: 9223372036854775808}')
    expect(renderProtobuf(Uint8Array.from(cases[3]!))).toBe('{1: 36028797018963969}')
  })
})

// Edge cases of the allocation-free renderer (typed-array field stack, UTF-8 output buffer, no
// BigInt): each against the reference above.
describe('renderProtobuf edge cases against the reference', () => {
  const enc = new TextEncoder()
  const same = (bytes: number[] | Uint8Array) => {
    const b = Uint8Array.from(bytes)
    expect(renderProtobuf(b)).toBe(referenceRender(b))
  }
  const tag = (num: number, wt: number) => varint(BigInt(num) * 8n + BigInt(wt))
  const ld = (num: number, content: number[]) => [
    ...tag(num, 2),
    ...varint(BigInt(content.length)),
    ...content,
  ]
  const text = (s: string) => [...enc.encode(s)]

  it('nests messages up to the depth limit, then shows hex (depths 14 to 18)', () => {
    for (let depth = 14; depth <= 18; depth++) {
      let m = [0x08, 0x96, 0x01, 0x15, 1, 2, 3, 4] // {1: 150, 2: 0x04030201}
      for (let d = 0; d < depth; d++) m = [...ld(1, m), 0x10, d]
      same(m)
      same(ld(3, m))
    }
  })

  it('groups repeated fields of small and large messages (pairs compared, hash table)', () => {
    for (const count of [15, 16, 17, 18, 40, 300, 5000]) {
      same(Array.from({ length: count }, (_, i) => [...tag(1 + (i % 3), 0), i & 0x7f]).flat())
      same(Array.from({ length: count }, (_, i) => [...tag(count - i, 0), 1]).flat())
      // Numbers that share their low bits (multiples of 2^12), and the largest field number.
      same(
        Array.from({ length: count }, (_, i) => [
          ...tag(4096 * (1 + (i % 97)), 5),
          1,
          2,
          3,
          4,
        ]).flat()
      )
      same(Array.from({ length: count }, (_, i) => [...tag(0x1fffffff - (i % 2), 0), 1]).flat())
      // Nested repeated messages under a repeated field.
      const inner = Array.from({ length: count % 23 }, (_, i) => [...tag(i % 4 || 7, 0), i]).flat()
      same(Array.from({ length: Math.min(count, 40) }, () => ld(2, inner)).flat())
    }
  })

  it('renders varints of one to ten bytes, minimal or not, at every boundary', () => {
    const values = [0n, 1n, 9n, 10n, 99n, 100n, 999n, 1000n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n]
    for (let k = 1n; k <= 10n; k++) values.push((1n << (7n * k)) - 1n, 1n << (7n * k))
    values.push(2n ** 49n - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 10n ** 15n, 10n ** 16n)
    values.push(10n ** 19n - 1n, 10n ** 19n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 10n ** 10n)
    for (const v of values.filter((x) => x < 2n ** 64n)) {
      const bytes = varint(v)
      same([...tag(1, 0), ...bytes])
      // The same value padded with continuation bytes up to ten bytes.
      for (let extra = 1; bytes.length + extra <= 10; extra++) {
        const padded = [...bytes.slice(0, -1), bytes[bytes.length - 1]! | 0x80]
        for (let i = 1; i < extra; i++) padded.push(0x80)
        padded.push(0)
        same([...tag(1, 0), ...padded])
      }
    }
    // A tenth byte with bits past 2^64 (dropped), an eleventh byte (invalid), a cut varint.
    for (const last of [0x01, 0x02, 0x03, 0x7e, 0x7f]) {
      same([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, last])
      same([0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last, 0x01])
      same([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last])
    }
    same([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01])
    same([0x08, 0xff, 0xff, 0xff])
    // Ten-byte tags and lengths whose tenth byte carries bits past 2^64: masked, they are small.
    for (const last of [0x00, 0x01, 0x02, 0x7e, 0x7f]) {
      same([0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last, 0x01])
      same([0x0a, 0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last, 0x61, 0x62])
    }
  })

  it('rejects invalid tags and wire types and truncated fields like the reference', () => {
    for (let wt = 0; wt < 8; wt++)
      same([...tag(1, wt), 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
    same([0x00, 0x01]) // field number 0
    same([0x80, 0x00, 0x01]) // field number 0, written with two bytes
    same([0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01]) // tag 2^32 - 8: the largest field number
    same([0xf8, 0xff, 0xff, 0xff, 0x1f, 0x01]) // tag above 2^32 - 1
    same([0x09, 1, 2, 3, 4, 5, 6, 7]) // fixed64 cut
    same([0x0d, 1, 2, 3]) // fixed32 cut
    same([0x0a, 0x05, 0x61, 0x62]) // length past the end
    same([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61]) // a huge length
    same([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]) // 2^64 - 1
    same([0x08]) // a tag alone
    same([0x08, 0x01, 0x0a]) // a valid field, then a tag alone
  })

  it('renders fixed32 and fixed64 values', () => {
    for (const fill of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
      same([
        ...tag(1, 1),
        ...new Array<number>(8).fill(fill),
        ...tag(2, 5),
        ...new Array<number>(4).fill(fill),
      ])
    }
    same([...tag(5, 1), 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, ...tag(6, 5), 0xef, 0xbe, 0xad, 0xde])
  })

  it('quotes text exactly as JSON.stringify of its strict UTF-8 decoding', () => {
    const texts = [
      'plain',
      'say "hi"',
      'back\\slash',
      'tab\there',
      'line\nfeed\r\n',
      '"\\\t\n\r',
      'café crème',
      '日本語のテキスト',
      'emoji 😀 and 🇫🇷',
      '\u{10ffff}\u{10000}\u0080\u009f\u00a0\u2028\u2029\ufffd',
      '\ufeffBOM first',
      'BOM \ufeff inside',
      '\ufeff',
      '\ufeff\ufeff',
      '{"json":true,"n":[1,2,3]}',
      '[1, 2]',
      'x'.repeat(64),
      'long '.repeat(40),
      'naïve "quote" and \\ 😀'.repeat(5),
      // Escapes past the initial output buffer (it grows in the middle of the text).
      '"\\\t'.repeat(1500),
      'é"'.repeat(1200),
      'x'.repeat(1020) + '""""""',
      'hi', // also a valid message ({13: 105}): text wins inside a field
    ]
    for (const s of texts) {
      same(text(s)) // top level: message first, then text
      same(ld(1, text(s)))
      same([...ld(1, text(s)), ...ld(2, text(s)), ...tag(3, 0), 5])
    }
    // Control characters and DEL make it not text.
    for (const c of [0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1f, 0x7f]) {
      same(ld(1, [0x61, c, 0x62]))
      same(ld(1, [0xc3, 0xa9, c]))
    }
    same(ld(1, [])) // empty bytes
  })

  it('grows its output buffer in the middle of an escaped text', () => {
    // Longer than the buffer it keeps between calls (256 KiB) once escaped, whatever came before:
    // in the ASCII loop, and in the loop after a non-ASCII char.
    for (const s of ['"'.repeat(200_000), 'é' + '\\'.repeat(200_000), 'a\t'.repeat(70_000)]) {
      same(text(s))
      same([...ld(1, text(s)), 0x10, 0x01])
    }
  })

  it('accepts exactly the well-formed UTF-8 the strict decoder accepts', () => {
    const tails = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff]
    const check = (seq: number[]) => {
      same(ld(1, seq))
      same(ld(1, [0x61, ...seq, 0x62]))
    }
    // Every lead byte; every second byte after it; past that, bytes at the class boundaries.
    for (let b0 = 0x80; b0 <= 0xff; b0++) {
      check([b0])
      for (let b1 = 0; b1 <= 0xff; b1++) check([b0, b1])
      for (const b1 of b0 >= 0xe0 ? tails : [])
        for (const b2 of tails) {
          check([b0, b1, b2])
          if (b0 >= 0xf0) for (const b3 of tails) check([b0, b1, b2, b3])
        }
    }
  })

  it('renders random text and bytes in fields exactly as the reference', () => {
    const content = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }).map((s) => [...enc.encode(s)]),
      fc.string({ maxLength: 30 }).map((s) => [...enc.encode(s)]),
      fc.uint8Array({ maxLength: 30 }).map((b) => [...b]),
      fc
        .array(
          fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })),
          {
            maxLength: 12,
          }
        )
        .map((b) => [0xef, 0xbb, 0xbf, ...b])
    )
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), content), { maxLength: 6 }),
        (fields) => {
          const m = fields.flatMap(([num, c]) => ld(num, c))
          same(m)
          for (const [, c] of fields) same(c)
        }
      ),
      params
    )
  })
})
