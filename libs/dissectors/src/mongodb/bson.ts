// A bounded BSON decoder (bsonspec.org, version 1.1): enough to read commands and replies and to
// render them as relaxed Extended JSON for previews. Depth and element counts are capped, so
// a hostile document costs bounded time and memory; anything malformed throws `RangeError`.
import { hex, Reader, text } from '../generic/framer.js'

export type BsonValue =
  | null
  | undefined
  | boolean
  | number
  | string
  | BsonDoc
  | BsonValue[]
  | { $oid: string }
  | { $date: number }
  | { $binary: string; subType: number }
  | { $numberLong: string }
  | { $other: string }

/** Keys in wire order (the first key of a command document is the command name). */
export interface BsonDoc {
  keys: string[]
  values: BsonValue[]
}

export interface BsonLimits {
  maxDepth: number
  maxElements: number
}

export const DEFAULT_BSON_LIMITS: BsonLimits = { maxDepth: 32, maxElements: 10_000 }

/** Decodes the document at `offset`; returns it and the offset after it. */
export function decodeDocument(
  b: Uint8Array,
  offset = 0,
  limits: BsonLimits = DEFAULT_BSON_LIMITS
): { doc: BsonDoc; end: number } {
  const budget = { left: limits.maxElements }
  const r = new Reader(b, offset)
  const doc = readDoc(r, 0, limits.maxDepth, budget)
  return { doc, end: r.pos }
}

function readDoc(r: Reader, depth: number, maxDepth: number, budget: { left: number }): BsonDoc {
  if (depth > maxDepth) throw new RangeError('BSON nesting too deep')
  const start = r.pos
  const size = r.i32(true)
  if (size < 5) throw new RangeError('BSON document too short')
  const end = start + size
  if (end > r.end) throw new RangeError('BSON document truncated')
  const inner = new Reader(r.b, r.pos, end)
  const doc: BsonDoc = { keys: [], values: [] }
  for (;;) {
    const type = inner.u8()
    if (type === 0) break
    if (--budget.left < 0) throw new RangeError('too many BSON elements')
    doc.keys.push(cstring(inner))
    doc.values.push(readValue(inner, type, depth, maxDepth, budget))
  }
  r.pos = end
  return doc
}

function cstring(r: Reader): string {
  const start = r.pos
  while (r.u8() !== 0) {
    // scan to NUL
  }
  return text(r.b.subarray(start, r.pos - 1))
}

function string(r: Reader): string {
  const n = r.i32(true)
  if (n < 1) throw new RangeError('bad BSON string length')
  const s = text(r.bytes(n - 1))
  r.skip(1)
  return s
}

function readValue(
  r: Reader,
  type: number,
  depth: number,
  maxDepth: number,
  budget: { left: number }
): BsonValue {
  switch (type) {
    case 0x01:
      return r.f64(true)
    case 0x02:
    case 0x0d:
    case 0x0e:
      return string(r)
    case 0x03:
      return readDoc(r, depth + 1, maxDepth, budget)
    case 0x04:
      return readDoc(r, depth + 1, maxDepth, budget).values
    case 0x05: {
      const n = r.i32(true)
      const subType = r.u8()
      const data = r.bytes(n)
      return { $binary: hex(data, 64), subType }
    }
    case 0x06:
      return undefined
    case 0x07:
      return { $oid: hex(r.bytes(12)) }
    case 0x08:
      return r.u8() !== 0
    case 0x09:
      return { $date: Number(r.i64(true)) }
    case 0x0a:
      return null
    case 0x0b:
      return { $other: `/${cstring(r)}/${cstring(r)}` }
    case 0x0c: {
      const ns = string(r)
      return { $other: `DBPointer(${ns}, ${hex(r.bytes(12))})` }
    }
    case 0x0f: {
      const start = r.pos
      const n = r.i32(true)
      const code = string(r)
      r.pos = start + n
      if (n < 14 || r.pos > r.end) throw new RangeError('bad code with scope')
      return { $other: `Code(${code})` }
    }
    case 0x10:
      return r.i32(true)
    case 0x11: {
      // Little-endian uint64: increment in the low 32 bits, seconds in the high 32.
      const inc = r.u32(true)
      return { $other: `Timestamp(${r.u32(true)}, ${inc})` }
    }
    case 0x12: {
      const v = r.i64(true)
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : { $numberLong: v.toString() }
    }
    case 0x13:
      return { $other: `Decimal128(${hex(r.bytes(16))})` }
    case 0xff:
      return { $other: 'MinKey' }
    case 0x7f:
      return { $other: 'MaxKey' }
    default:
      throw new RangeError(`unknown BSON type ${type}`)
  }
}

export function isDoc(v: BsonValue): v is BsonDoc {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'keys' in v && 'values' in v
}

export function get(doc: BsonDoc, key: string): BsonValue {
  const i = doc.keys.indexOf(key)
  return i < 0 ? undefined : doc.values[i]
}

/** Relaxed Extended JSON text, cut at `max` characters. */
export function renderJson(v: BsonValue, max = 16_384): string {
  let out = ''
  const w = (s: string): boolean => {
    out += s
    return out.length < max
  }
  const walk = (x: BsonValue): boolean => {
    if (x === undefined) return w('undefined')
    if (x === null || typeof x === 'boolean' || typeof x === 'string') return w(JSON.stringify(x))
    if (typeof x === 'number') return w(Number.isFinite(x) ? String(x) : JSON.stringify(String(x)))
    if (Array.isArray(x)) {
      if (!w('[')) return false
      for (let i = 0; i < x.length; i++) if ((i > 0 && !w(',')) || !walk(x[i])) return false
      return w(']')
    }
    if (isDoc(x)) {
      if (!w('{')) return false
      for (let i = 0; i < x.keys.length; i++) {
        if ((i > 0 && !w(',')) || !w(`${JSON.stringify(x.keys[i])}:`) || !walk(x.values[i]))
          return false
      }
      return w('}')
    }
    return w(JSON.stringify(x))
  }
  walk(v)
  return out.length > max ? out.slice(0, max) : out
}
