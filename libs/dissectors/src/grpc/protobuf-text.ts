/**
 * Schema-less protobuf rendering (the idea of `protoc --decode_raw`): field numbers with their
 * values, e.g. `{1: "widget", 2: 3}`. The encoding is in the Protocol Buffers docs ("Encoding"):
 * tag = field number << 3 | wire type; 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 */

const utf8Strict = new TextDecoder('utf-8', { fatal: true })
const MAX_DEPTH = 16
const SHORT_TEXT = 12
/** Up to this many fields, repeated numbers are found by scanning rather than with a Map. */
const SCAN_FIELDS = 16

type Value =
  | { kind: 'varint'; v: number | bigint }
  | { kind: 'fixed64'; v: bigint }
  | { kind: 'fixed32'; v: number }
  | { kind: 'bytes'; start: number; end: number }

interface Field {
  num: number
  value: Value
}

/**
 * Reads a varint at `pos.o` (at most 10 bytes); undefined when truncated or too long. Up to seven
 * bytes (below 2^49, nearly every tag, length and value) it is read as a number: BigInt arithmetic
 * allocates per operation. Longer ones are read again as a bigint.
 */
function readVarint(b: Uint8Array, pos: { o: number }, end: number): number | bigint | undefined {
  const start = pos.o
  let result = 0
  let mul = 1
  for (let i = 0; i < 7; i++) {
    if (pos.o >= end) return undefined
    const byte = b[pos.o++]!
    result += (byte & 0x7f) * mul
    if ((byte & 0x80) === 0) return result
    mul *= 128
  }
  pos.o = start
  return readVarintBig(b, pos, end)
}

function readVarintBig(b: Uint8Array, pos: { o: number }, end: number): bigint | undefined {
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
    if (tag === undefined || tag > 0xffffffff) return undefined
    const num = typeof tag === 'number' ? tag >>> 3 : Number(tag >> 3n)
    const wt = typeof tag === 'number' ? tag & 7 : Number(tag & 7n)
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
        if (len === undefined || len > end - pos.o) return undefined
        const s = pos.o
        pos.o += Number(len)
        fields.push({ num, value: { kind: 'bytes', start: s, end: pos.o } })
        break
      }
      case 5: {
        if (pos.o + 4 > end) return undefined
        const o = pos.o
        const v = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
        fields.push({ num, value: { kind: 'fixed32', v } })
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
  let ascii = true
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return undefined
    if (c > 0x7f) ascii = false
  }
  if (ascii && end - start <= SHORT_TEXT) {
    // Short ASCII (most string fields): cheaper than a decoder call, and flat below 13 chars.
    let s = ''
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!)
    return s
  }
  try {
    return utf8Strict.decode(b.subarray(start, end))
  } catch {
    return undefined
  }
}

function hexBytes(b: Uint8Array, start: number, end: number, max = 64): string {
  let s = '0x'
  for (let i = start; i < Math.min(end, start + max); i++) s += b[i]!.toString(16).padStart(2, '0')
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
  if (fields.length <= SCAN_FIELDS) return renderFew(b, fields, depth)
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

/** `renderFields` for a few fields (the usual message), without the Map and arrays. */
function renderFew(b: Uint8Array, fields: Field[], depth: number): string {
  let out = '{'
  for (let i = 0; i < fields.length; i++) {
    const num = fields[i]!.num
    let first = true
    for (let j = 0; j < i && first; j++) if (fields[j]!.num === num) first = false
    if (!first) continue // already rendered with its first appearance
    let count = 1
    for (let j = i + 1; j < fields.length; j++) if (fields[j]!.num === num) count++
    if (i > 0) out += ', '
    if (count === 1) {
      out += `${num}: ${renderValue(b, fields[i]!.value, depth)}`
      continue
    }
    out += `${num}: [`
    for (let j = i, k = 0; j < fields.length; j++) {
      if (fields[j]!.num !== num) continue
      if (k++ > 0) out += ', '
      out += renderValue(b, fields[j]!.value, depth)
    }
    out += ']'
  }
  return `${out}}`
}

/**
 * Renders one serialized message without its schema. Bytes that are not a valid message are
 * shown as text when they are printable UTF-8 (gRPC also carries JSON), else as hex.
 */
export function renderProtobuf(b: Uint8Array): string {
  const fields = parseFields(b, 0, b.length)
  if (fields !== undefined) return renderFields(b, fields, 0)
  const text = printable(b, 0, b.length)
  return text !== undefined ? JSON.stringify(text) : hexBytes(b, 0, b.length)
}
