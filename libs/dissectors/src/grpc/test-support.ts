/**
 * Oracles for the gRPC preview tests: the straightforward renderers the fast ones replaced (they
 * must render every input exactly as these do), and generators of protobuf bytes.
 */
import fc from 'fast-check'

/**
 * The straightforward renderer this module replaced (BigInt varints, a Map per message): the
 * oracle for the faster one, which must render every input exactly as it did.
 */
export const referenceRenderProtobuf = (() => {
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

/**
 * The gRPC preview before it was made allocation-free: each length-prefixed message rendered by
 * the reference renderer, one per line, placeholders and cuts counted against `maxChars`.
 */
export function referenceRenderGrpcMessages(body: Uint8Array, maxChars: number): string {
  const lines: string[] = []
  let chars = 0
  let o = 0
  while (o < body.length) {
    if (chars >= maxChars) {
      lines.push('…')
      break
    }
    let line: string
    let end = body.length
    if (o + 5 > body.length) line = `<incomplete message prefix: ${body.length - o} bytes>`
    else {
      const len = new DataView(body.buffer, body.byteOffset + o + 1, 4).getUint32(0)
      const start = o + 5
      end = start + len
      if (body[o]! !== 0) line = `<compressed ${len} bytes>`
      else if (end > body.length)
        line = `<message of ${len} bytes, ${body.length - start} captured>`
      else line = referenceRenderProtobuf(body.subarray(start, end))
    }
    // Every line, the placeholders too, counts against the budget (found by fuzzing).
    if (line.length > maxChars - chars) line = `${line.slice(0, Math.max(0, maxChars - chars))}…`
    lines.push(line)
    chars += line.length + 1
    o = end
  }
  return lines.join('\n')
}

/** Protocol Buffers "Encoding": varint, then tag = field << 3 | wire type. */
export function varint(v: bigint): number[] {
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v > 0n) byte |= 0x80
    out.push(byte)
  } while (v > 0n)
  return out
}

const enc = new TextEncoder()

/** A length-delimited field `num` holding `content`. */
export const ld = (num: number, content: number[]): number[] => [
  ...varint(BigInt(num * 8 + 2)),
  ...varint(BigInt(content.length)),
  ...content,
]

/** Valid messages: nested, repeated, every wire type, long varints, text of every kind. */
export const protobufMessage: fc.Memo<number[]> = fc.memo((depth) =>
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 0x1fffffff })),
        fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ wt: 0, bytes: varint(v) })),
          fc.integer({ min: 0, max: 300 }).map((v) => ({ wt: 0, bytes: varint(BigInt(v)) })),
          fc.integer({ min: 0, max: 2 ** 49 }).map((v) => ({ wt: 0, bytes: varint(BigInt(v)) })),
          fc.bigInt({ min: 1n << 48n, max: 1n << 57n }).map((v) => ({ wt: 0, bytes: varint(v) })),
          fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => ({ wt: 1, bytes: [...b] })),
          fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ({ wt: 5, bytes: [...b] })),
          fc
            .oneof(
              fc.string({ maxLength: 40 }).map((s) => [...enc.encode(s)]),
              fc.string({ unit: 'binary', maxLength: 20 }).map((s) => [...enc.encode(s)]),
              fc.uint8Array({ maxLength: 90 }).map((b) => [...b]),
              depth > 1 ? protobufMessage(depth - 1) : fc.constant([] as number[])
            )
            .map((b) => ({ wt: 2, bytes: [...varint(BigInt(b.length)), ...b] }))
        )
      ),
      { maxLength: 24 }
    )
    .map((fields) => fields.flatMap(([num, f]) => [...varint(BigInt(num * 8 + f.wt)), ...f.bytes]))
)
