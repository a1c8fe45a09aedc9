import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { params } from '../test-support/fuzz.js'
import { renderProtobuf } from './protobuf-text.js'

/**
 * The straightforward renderer this module replaced (BigInt varints, a Map per message): the
 * oracle for the faster one, which must render every input exactly as it did.
 */
const referenceRender = (() => {
  const utf8Strict = new TextDecoder('utf-8', { fatal: true })
  const MAX_DEPTH = 16

  type Value =
    | { kind: 'varint'; v: bigint }
    | { kind: 'fixed64'; v: bigint }
    | { kind: 'fixed32'; v: number }
    | { kind: 'bytes'; start: number; end: number }

  interface Field {
    num: number
    value: Value
  }

  /** Reads a varint at `pos.o` (at most 10 bytes); undefined when truncated or too long. */
  function readVarint(b: Uint8Array, pos: { o: number }, end: number): bigint | undefined {
    let result = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (pos.o >= end) return undefined
      const byte = b[pos.o++]!
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result & 0xffffffffffffffffn
      shift += 7n
    }
    return undefined
  }

  /** Parses [start, end) as a message; undefined unless every byte belongs to a valid field. */
  function parseFields(b: Uint8Array, start: number, end: number): Field[] | undefined {
    const fields: Field[] = []
    const pos = { o: start }
    while (pos.o < end) {
      const tag = readVarint(b, pos, end)
      if (tag === undefined || tag > 0xffffffffn) return undefined
      const num = Number(tag >> 3n)
      const wt = Number(tag & 7n)
      // Field numbers are 1 .. 2^29 - 1.
      if (num === 0 || num > 0x1fffffff) return undefined
      switch (wt) {
        case 0: {
          const v = readVarint(b, pos, end)
          if (v === undefined) return undefined
          fields.push({ num, value: { kind: 'varint', v } })
          break
        }
        case 1: {
          if (pos.o + 8 > end) return undefined
          const dv = new DataView(b.buffer, b.byteOffset + pos.o, 8)
          fields.push({ num, value: { kind: 'fixed64', v: dv.getBigUint64(0, true) } })
          pos.o += 8
          break
        }
        case 2: {
          const len = readVarint(b, pos, end)
          if (len === undefined || len > BigInt(end - pos.o)) return undefined
          const s = pos.o
          pos.o += Number(len)
          fields.push({ num, value: { kind: 'bytes', start: s, end: pos.o } })
          break
        }
        case 5: {
          if (pos.o + 4 > end) return undefined
          const dv = new DataView(b.buffer, b.byteOffset + pos.o, 4)
          fields.push({ num, value: { kind: 'fixed32', v: dv.getUint32(0, true) } })
          pos.o += 4
          break
        }
        default:
          // Groups (3, 4) are deprecated and 6, 7 do not exist: not a message we can show.
          return undefined
      }
    }
    return fields
  }

  /** Valid UTF-8 without control characters other than tab, CR and LF. */
  function printable(b: Uint8Array, start: number, end: number): string | undefined {
    for (let i = start; i < end; i++) {
      const c = b[i]!
      if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return undefined
    }
    try {
      return utf8Strict.decode(b.subarray(start, end))
    } catch {
      return undefined
    }
  }

  function hexBytes(b: Uint8Array, start: number, end: number, max = 64): string {
    let s = '0x'
    for (let i = start; i < Math.min(end, start + max); i++)
      s += b[i]!.toString(16).padStart(2, '0')
    return end - start > max ? `${s}… (${end - start} bytes)` : s
  }

  function renderValue(b: Uint8Array, v: Value, depth: number): string {
    switch (v.kind) {
      case 'varint':
        return v.v.toString()
      case 'fixed64':
        return `0x${v.v.toString(16).padStart(16, '0')}`
      case 'fixed32':
        return `0x${v.v.toString(16).padStart(8, '0')}`
      case 'bytes': {
        if (v.start === v.end) return '""'
        // Text first: short strings often parse as messages by accident ("hi" is {13: 105}).
        const text = printable(b, v.start, v.end)
        if (text !== undefined) return JSON.stringify(text)
        if (depth < MAX_DEPTH) {
          const nested = parseFields(b, v.start, v.end)
          if (nested !== undefined) return renderFields(b, nested, depth + 1)
        }
        return hexBytes(b, v.start, v.end)
      }
    }
  }

  function renderFields(b: Uint8Array, fields: Field[], depth: number): string {
    // Repeated fields become lists, in the order of each number's first appearance.
    const groups = new Map<number, Value[]>()
    for (const f of fields) {
      const g = groups.get(f.num)
      if (g) g.push(f.value)
      else groups.set(f.num, [f.value])
    }
    const parts: string[] = []
    for (const [num, values] of groups) {
      const rendered = values.map((v) => renderValue(b, v, depth))
      parts.push(`${num}: ${rendered.length === 1 ? rendered[0]! : `[${rendered.join(', ')}]`}`)
    }
    return `{${parts.join(', ')}}`
  }

  /**
   * Renders one serialized message without its schema. Bytes that are not a valid message are
   * shown as text when they are printable UTF-8 (gRPC also carries JSON), else as hex.
   */
  function referenceRender(b: Uint8Array): string {
    const fields = parseFields(b, 0, b.length)
    if (fields !== undefined) return renderFields(b, fields, 0)
    const text = printable(b, 0, b.length)
    return text !== undefined ? JSON.stringify(text) : hexBytes(b, 0, b.length)
  }

  return referenceRender
})()

/** Protocol Buffers "Encoding": varint, then tag = field << 3 | wire type. */
function varint(v: bigint): number[] {
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return out
}

/** Random messages that are valid (nested, repeated, every wire type, long varints, text). */
const message: fc.Memo<number[]> = fc.memo((depth) =>
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 0x1fffffff })),
        fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ wt: 0, bytes: varint(v) })),
          fc.integer({ min: 0, max: 2 ** 49 }).map((v) => ({ wt: 0, bytes: varint(BigInt(v)) })),
          fc.bigInt({ min: 1n << 48n, max: 1n << 57n }).map((v) => ({ wt: 0, bytes: varint(v) })),
          fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => ({ wt: 1, bytes: [...b] })),
          fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ({ wt: 5, bytes: [...b] })),
          fc
            .oneof(
              fc.string({ maxLength: 40 }).map((s) => [...new TextEncoder().encode(s)]),
              fc.uint8Array({ maxLength: 20 }).map((b) => [...b]),
              depth > 1 ? message(depth - 1) : fc.constant([] as number[])
            )
            .map((b) => ({ wt: 2, bytes: [...varint(BigInt(b.length)), ...b] }))
        )
      ),
      { maxLength: 24 }
    )
    .map((fields) => fields.flatMap(([num, f]) => [...varint(BigInt(num * 8 + f.wt)), ...f.bytes]))
)

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
