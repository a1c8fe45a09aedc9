/**
 * Schema-less protobuf rendering (the idea of `protoc --decode_raw`): field numbers with their
 * values, e.g. `{1: "widget", 2: 3}`. The encoding is in the Protocol Buffers docs ("Encoding"):
 * tag = field number << 3 | wire type; 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 *
 * This runs for every gRPC message in both directions, so it allocates next to nothing but the
 * string it returns. Fields are parsed into module-level typed arrays (one stack shared by the
 * nesting levels) rather than objects, and the text is written as UTF-8 into a module-level
 * buffer that becomes one flat string at the end: no per-value strings, no cons strings for the
 * caller to flatten. Rendering is synchronous and never re-entered, which is what makes the shared
 * scratch state safe. The output is exactly that of the straightforward renderer kept as the
 * oracle in protobuf-text.test.ts.
 */

const MAX_DEPTH = 16
/** Up to this many fields, repeated numbers are found by comparing pairs, above with a table. */
const SCAN_FIELDS = 16

// ---------------------------------------------------------------------------------------------
// Output: UTF-8 in `out[0, n)`. Budgets count UTF-16 code units (String#length), which are
// `n - extra`. The hot writers copy `out` and `n` into locals: module-level `let` bindings are
// context slots, each access checked for the temporal dead zone.

const OUT_INITIAL = 1024
/**
 * A buffer grown past this is dropped after use rather than kept for good: previews stop near
 * their budget (64 KiB chars by default) plus one value, a few bytes a char at most.
 */
const OUT_KEEP = 1 << 18
let out: Uint8Array = new Uint8Array(OUT_INITIAL)
let n = 0
/** UTF-8 bytes minus UTF-16 code units written so far. */
let extra = 0
/** A cut left half a surrogate pair, written in its WTF-8 form (see `truncateText`). */
let loneSurrogate = false

/** A bigger buffer, with its first `used` bytes (`n`, or more while text is being checked). */
function grow(need: number, used = n): Uint8Array {
  let cap = out.length * 2
  while (cap < need) cap *= 2
  const bigger = new Uint8Array(cap)
  bigger.set(out.subarray(0, used))
  return (out = bigger)
}

/** Room for `k` more bytes. */
function room(k: number): void {
  if (n + k > out.length) grow(n + k)
}

/** A well-formed string (placeholders, '…'), as UTF-8. */
function putString(s: string): void {
  room(3 * s.length)
  const o = out
  let k = n
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) o[k++] = c
    else if (c < 0x800) {
      o[k++] = 0xc0 | (c >> 6)
      o[k++] = 0x80 | (c & 63)
      extra += 1
    } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
      o[k++] = 0xf0 | (cp >> 18)
      o[k++] = 0x80 | ((cp >> 12) & 63)
      o[k++] = 0x80 | ((cp >> 6) & 63)
      o[k++] = 0x80 | (cp & 63)
      extra += 2
    } else {
      o[k++] = 0xe0 | (c >> 12)
      o[k++] = 0x80 | ((c >> 6) & 63)
      o[k++] = 0x80 | (c & 63)
      extra += 2
    }
  }
  n = k
}

/**
 * Writes the decimal digits of `v`, a non-negative integer below 2^53 (Number#toString gives the
 * same), at `o[k]` (room for 16 made by the caller); returns the index after them. Below 2^31 in
 * int32 arithmetic, where `(x / 10) | 0` compiles to a multiplication, not a division.
 */
function writeUint(o: Uint8Array, k: number, v: number): number {
  if (v < 10) {
    o[k] = 48 + v
    return k + 1
  }
  if (v > 0x7fffffff) return writeBigUint(o, k, v)
  let x = v | 0
  let digits = 2
  for (let t = 100; digits < 10 && x >= t; t *= 10) digits++
  const after = k + digits
  let i = after
  do {
    const q = (x / 10) | 0
    o[--i] = 48 + x - q * 10
    x = q
  } while (x !== 0)
  return after
}

/** `writeUint` from 2^31 to 2^53: the low nine digits, then the rest (below 2^24), in int32. */
function writeBigUint(o: Uint8Array, k: number, v: number): number {
  // The products and differences are exact integers; the quotient's rounding is corrected.
  let high = Math.floor(v / 1e9)
  let low = v - high * 1e9
  if (low < 0) {
    high--
    low += 1e9
  } else if (low >= 1e9) {
    high++
    low -= 1e9
  }
  k = writeUint(o, k, high)
  return writeDigits(o, k, low, 9)
}

/** Exactly `count` digits of `x` (below 10^count, an int32), with leading zeros. */
function writeDigits(o: Uint8Array, k: number, x: number, count: number): number {
  const after = k + count
  for (let i = after; i > k;) {
    const q = (x / 10) | 0
    o[--i] = 48 + x - q * 10
    x = q
  }
  return after
}

function putUint(v: number): void {
  room(16)
  n = writeUint(out, n, v)
}

/** '0'-'9', 'a'-'f'. */
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0))

/** Writes `count` bytes of `b` from `from` as hex (the last first when `step` is -1). */
function writeHex(
  o: Uint8Array,
  k: number,
  b: Uint8Array,
  from: number,
  count: number,
  step: number
): number {
  for (let i = 0, at = from; i < count; i++, at += step) {
    const c = b[at]!
    o[k++] = HEX[c >> 4]!
    o[k++] = HEX[c & 15]!
  }
  return k
}

/**
 * Short ASCII text: `String.fromCharCode.apply` over a plain array of exactly the right length
 * makes the string in one allocation, quicker than a decoder call up to a few dozen chars. One
 * array per length, made on first use.
 */
const OUT_SMALL = 32
const charArrays: number[][] = []

function smallString(o: Uint8Array, len: number): string {
  let a = charArrays[len]
  if (a === undefined) {
    a = []
    for (let i = 0; i < len; i++) a.push(0)
    charArrays[len] = a
  }
  for (let i = 0; i < len; i++) a[i] = o[i]!
  return String.fromCharCode.apply(null, a)
}

/** Longer or non-ASCII text: one UTF-8 decode (a fixed cost, then a fraction of a ns a byte). */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })
const textEncoder = new TextEncoder()

/**
 * The text with its lone high surrogates (cuts inside a pair): valid UTF-8 never holds ED A0-BF,
 * so those three bytes can only be one of them.
 */
function decodeWithLoneSurrogates(): string {
  const o = out
  let s = ''
  let from = 0
  for (let k = 0; k < n; k++) {
    if (o[k] !== 0xed || o[k + 1]! < 0xa0) continue
    const unit = ((o[k]! & 15) << 12) | ((o[k + 1]! & 63) << 6) | (o[k + 2]! & 63)
    s += utf8.decode(o.subarray(from, k)) + String.fromCharCode(unit)
    from = k + 3
    k += 2
  }
  return s + utf8.decode(o.subarray(from, n))
}

/** Starts a text: what the `append…` functions write is returned by `finishText`. */
export function beginText(): void {
  n = 0
  extra = 0
  loneSurrogate = false
}

/** The text's length so far in UTF-16 code units (String#length). */
export function textLength(): number {
  return n - extra
}

/**
 * Keeps the first `len` (an integer) code units, as `String#slice(0, len)` would: a cut between
 * the halves of a surrogate pair keeps the high one.
 */
export function truncateText(len: number): void {
  if (len >= n - extra) return
  if (extra === 0) {
    n = len // ASCII so far: one byte a code unit
    return
  }
  const o = out
  let units = 0
  let k = 0
  while (units < len) {
    const lead = o[k]!
    if (lead < 0x80) k++
    else if (lead < 0xe0) k += 2
    else if (lead < 0xf0) k += 3
    else if (units + 2 <= len) {
      k += 4
      units++
    } else {
      // The high surrogate alone, in its WTF-8 form (ED A0-AF xx): see decodeWithLoneSurrogates.
      const cp =
        ((lead & 7) << 18) | ((o[k + 1]! & 63) << 12) | ((o[k + 2]! & 63) << 6) | (o[k + 3]! & 63)
      const high = 0xd800 + ((cp - 0x10000) >> 10)
      o[k] = 0xe0 | (high >> 12)
      o[k + 1] = 0x80 | ((high >> 6) & 63)
      o[k + 2] = 0x80 | (high & 63)
      k += 3
      loneSurrogate = true
    }
    units++
  }
  n = k
  extra = n - len
}

/** Appends a well-formed string (a placeholder, a separator). */
export function appendText(s: string): void {
  putString(s)
}

/**
 * The text written since `beginText` as UTF-8 bytes (a copy): what `TextEncoder` makes of
 * `finishText()`'s string, without the string when the bytes are already well-formed.
 */
export function finishTextUtf8(): Uint8Array {
  if (loneSurrogate) return textEncoder.encode(finishText()) // a lone surrogate becomes U+FFFD
  const bytes = out.slice(0, n)
  beginText()
  if (out.length > OUT_KEEP) out = new Uint8Array(OUT_INITIAL)
  return bytes
}

/** The text written since `beginText`, as one flat string; the buffer is then free again. */
export function finishText(): string {
  let s: string
  if (loneSurrogate) s = decodeWithLoneSurrogates()
  else if (extra === 0 && n <= OUT_SMALL) s = smallString(out, n)
  else s = utf8.decode(out.subarray(0, n))
  beginText()
  if (out.length > OUT_KEEP) out = new Uint8Array(OUT_INITIAL)
  return s
}

// ---------------------------------------------------------------------------------------------
// Parsed fields: a stack of records in typed arrays. A message's fields are [base, base + count);
// a nested message parsed while rendering them goes above, and is popped when rendered.

const FIELDS_INITIAL = 256
const FIELDS_KEEP = 1 << 14
let fieldCap = FIELDS_INITIAL
/** Field number; 0 once linked after an earlier field of the same number (see `link`). */
let fNum = new Int32Array(fieldCap)
let fWt = new Uint8Array(fieldCap)
/**
 * The value's bytes: the varint, the fixed bytes, or a length-delimited field's content. Int32
 * (integer loop indexes for the JIT) unless a message reaches past 2^31 - 1 bytes.
 */
let fStart: Int32Array | Float64Array = new Int32Array(fieldCap)
let fEnd: Int32Array | Float64Array = new Int32Array(fieldCap)
/** The next field of the same number, or -1. */
let fNext = new Int32Array(fieldCap)
let top = 0

function allocFields(cap: number, wideOffsets = fStart instanceof Float64Array): void {
  const [num, wt, start, end, next] = [fNum, fWt, fStart, fEnd, fNext]
  fieldCap = cap
  fNum = new Int32Array(cap)
  fWt = new Uint8Array(cap)
  fStart = wideOffsets ? new Float64Array(cap) : new Int32Array(cap)
  fEnd = wideOffsets ? new Float64Array(cap) : new Int32Array(cap)
  fNext = new Int32Array(cap)
  if (top > 0) {
    fNum.set(num.subarray(0, top))
    fWt.set(wt.subarray(0, top))
    fStart.set(start.subarray(0, top))
    fEnd.set(end.subarray(0, top))
    fNext.set(next.subarray(0, top))
  }
}

/** End of the varint last read by `readVarint`. */
let vEnd = 0

/**
 * Reads the varint at `p` (at most 10 bytes, taken modulo 2^64); -1 when truncated or too long.
 * Up to seven bytes (below 2^49: nearly every tag, length and value) the result is exact. Longer
 * ones come back as a double, exact below 2^53 and never rounded below it above: enough for the
 * only uses of a long one here, comparing a tag with 2^32 - 1 or a length with the bytes left
 * (the rendering re-reads the value exactly). No BigInt, no allocation.
 */
function readVarint(b: Uint8Array, p: number, end: number): number {
  let result = 0
  let mul = 1
  for (let i = 0; i < 10; i++) {
    if (p >= end) return -1
    const byte = b[p++]!
    // The tenth byte holds bit 63 only: the rest is beyond 64 bits (the reference masks it away).
    result += (i === 9 ? byte & 1 : byte & 0x7f) * mul
    if (byte < 0x80) {
      vEnd = p
      return result
    }
    mul *= 128
  }
  return -1
}

/**
 * Parses [start, end) as a message onto the field stack; its field count, or -1 (nothing pushed)
 * unless every byte belongs to a valid field. One-byte varints (most tags, lengths and small
 * values) are read inline.
 */
function parseFields(b: Uint8Array, start: number, end: number): number {
  const base = top
  let t = base
  let p = start
  while (p < end) {
    let tag = b[p]!
    if (tag < 0x80) p++
    else {
      tag = readVarint(b, p, end)
      // A tag ≤ 2^32 - 1 has a field number ≤ 2^29 - 1.
      if (tag < 0 || tag > 0xffffffff) return fail(base)
      p = vEnd
    }
    if (tag < 8) return fail(base) // field number 0
    let s = p
    let e: number
    const wt = tag & 7
    switch (wt) {
      case 0:
        if (p < end && b[p]! < 0x80) e = p + 1
        else {
          if (readVarint(b, p, end) < 0) return fail(base)
          e = vEnd
        }
        break
      case 1:
        if (p + 8 > end) return fail(base)
        e = p + 8
        break
      case 2: {
        let len: number
        if (p < end && b[p]! < 0x80) {
          len = b[p]!
          s = p + 1
        } else {
          len = readVarint(b, p, end)
          if (len < 0) return fail(base)
          s = vEnd
        }
        if (len > end - s) return fail(base)
        e = s + len
        break
      }
      case 5:
        if (p + 4 > end) return fail(base)
        e = p + 4
        break
      default:
        // Groups (3, 4) are deprecated and 6, 7 do not exist: not a message we can show.
        return fail(base)
    }
    if (t === fieldCap) {
      top = t
      allocFields(fieldCap * 2)
    }
    fNum[t] = tag >>> 3
    fWt[t] = wt
    fStart[t] = s
    fEnd[t] = e
    t++
    p = e
  }
  top = t
  return t - base
}

function fail(base: number): number {
  top = base
  return -1
}

/**
 * Open-addressing table (field number → last field index) for messages of more than SCAN_FIELDS
 * fields: a Map costs tens of ns a lookup and update. Multiplicative hashing with a random odd
 * multiplier, so that crafted field numbers cannot make every probe collide.
 */
let hashKeys = new Int32Array(64)
let hashLast = new Int32Array(64)
const HASH_MUL = ((Math.random() * 0x100000000) >>> 0) | 1

/**
 * Chains the fields of [base, stop) by number (`fNext`) and zeroes the number of every field but
 * the first of each chain: repeated fields are rendered as one list where the number first
 * appears.
 */
function link(base: number, stop: number): void {
  const num = fNum
  const next = fNext
  if (stop - base <= SCAN_FIELDS) {
    for (let i = base; i < stop; i++) {
      const f = num[i]!
      if (f === 0) continue // already in an earlier chain
      let last = i
      for (let j = i + 1; j < stop; j++) {
        if (num[j] !== f) continue
        next[last] = j
        num[j] = 0
        last = j
      }
      next[last] = -1
    }
    return
  }
  // A power of two at least twice the field count: probes stay short.
  let bits = 6
  while (1 << bits < 2 * (stop - base)) bits++
  const size = 1 << bits
  if (hashKeys.length < size) {
    hashKeys = new Int32Array(size)
    hashLast = new Int32Array(size)
  }
  const keys = hashKeys
  const lastOf = hashLast
  keys.fill(0, 0, size) // field numbers are ≥ 1: 0 is an empty slot
  const mask = size - 1
  for (let i = base; i < stop; i++) {
    const f = num[i]!
    next[i] = -1
    let h = Math.imul(f, HASH_MUL) >>> (32 - bits)
    for (;;) {
      const key = keys[h]!
      if (key === 0) {
        keys[h] = f
        lastOf[h] = i
        break
      }
      if (key === f) {
        next[lastOf[h]!] = i
        num[i] = 0
        lastOf[h] = i
        break
      }
      h = (h + 1) & mask
    }
  }
  if (size > FIELDS_KEEP) {
    hashKeys = new Int32Array(64)
    hashLast = new Int32Array(64)
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/** Rendering may stop once the text is longer than this: the caller cuts it there anyway. */
let limit = Infinity

/**
 * ASCII classes for text: 0 printable; 1 escaped by JSON.stringify (", \, tab, LF, CR); 4 not
 * text (other C0 controls, DEL); 2 not ASCII (validated as UTF-8 separately).
 */
const TEXT_CLASS = new Uint8Array(256)
TEXT_CLASS.fill(4, 0, 0x20)
TEXT_CLASS[0x09] = TEXT_CLASS[0x0a] = TEXT_CLASS[0x0d] = TEXT_CLASS[0x22] = TEXT_CLASS[0x5c] = 1
TEXT_CLASS[0x7f] = 4
TEXT_CLASS.fill(2, 0x80)

/** JSON.stringify's short escapes (ECMA-262 QuoteJSONString): the char after the backslash. */
const ESCAPE = new Uint8Array(128)
ESCAPE[0x09] = 0x74 // \t
ESCAPE[0x0a] = 0x6e // \n
ESCAPE[0x0d] = 0x72 // \r
ESCAPE[0x22] = 0x22 // \"
ESCAPE[0x5c] = 0x5c // \\

/**
 * Writes [start, end) (not empty) as `JSON.stringify` of its strict UTF-8 decoding when that
 * succeeds and holds no control characters other than tab, CR and LF; false (nothing written)
 * otherwise. What the reference did with a TextDecoder and JSON.stringify, on the bytes:
 * - JSON.stringify escapes only ", \, code units below 0x20 and lone surrogates. Other controls
 *   are refused and valid UTF-8 has no lone surrogates, so only ", \, tab, LF and CR get their
 *   two-char escapes, and everything else is copied: UTF-8 in, UTF-8 out.
 * - The strict decoder fails exactly on ill-formed UTF-8 (Unicode Table 3-7: no overlongs, no
 *   surrogates, nothing above U+10FFFF, no truncated sequence), checked here byte by byte, and
 *   drops a leading BOM.
 * ASCII is checked and copied in one loop; `n` moves only once it was all text.
 */
function putText(b: Uint8Array, start: number, end: number): boolean {
  const cls = TEXT_CLASS
  // A nested message usually fails here (its first tag is below 0x20).
  if (cls[b[start]!] === 4) return false
  // Room for the bytes and quotes; an escape makes more (keeping what this text wrote so far).
  room(end - start + 2)
  let o = out
  let k = n
  o[k++] = 0x22
  let i = start
  for (; i < end; i++) {
    const c = b[i]!
    const t = cls[c]!
    if (t === 0) o[k++] = c
    else if (t === 1) {
      if (k + (end - i) + 2 > o.length) o = grow(k + 2 * (end - i) + 2, k)
      o[k++] = 0x5c
      o[k++] = ESCAPE[c]!
    } else break
  }
  if (i < end) {
    if (i === start && end - start >= 3 && b[i] === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf)
      i += 3 // the decoder's BOM
    let wide = 0 // bytes minus UTF-16 code units
    while (i < end) {
      const c = b[i]!
      if (c < 0x80) {
        const t = cls[c]!
        if (t === 4) return false
        if (t === 1) {
          if (k + (end - i) + 2 > o.length) o = grow(k + 2 * (end - i) + 2, k)
          o[k++] = 0x5c
          o[k++] = ESCAPE[c]!
        } else o[k++] = c
        i++
        continue
      }
      let size: number
      let lo = 0x80
      let hi = 0xbf
      if (c < 0xc2)
        return false // a continuation byte, or an overlong lead
      else if (c < 0xe0) size = 2
      else if (c < 0xf0) {
        size = 3
        if (c === 0xe0)
          lo = 0xa0 // overlong
        else if (c === 0xed) hi = 0x9f // surrogates
      } else if (c < 0xf5) {
        size = 4
        if (c === 0xf0)
          lo = 0x90 // overlong
        else if (c === 0xf4) hi = 0x8f // above U+10FFFF
      } else return false
      if (i + size > end) return false
      const c1 = b[i + 1]!
      if (c1 < lo || c1 > hi) return false
      for (let j = 2; j < size; j++) if ((b[i + j]! & 0xc0) !== 0x80) return false
      for (let j = 0; j < size; j++) o[k++] = b[i + j]!
      wide += size === 4 ? 2 : size - 1 // four bytes are two code units (a surrogate pair)
      i += size
    }
    extra += wide
  }
  o[k++] = 0x22
  n = k
  return true
}

function putHexBytes(b: Uint8Array, start: number, end: number, max = 64): void {
  const count = Math.min(end - start, max)
  room(2 + 2 * count)
  const o = out
  o[n] = 0x30 // 0
  o[n + 1] = 0x78 // x
  n = writeHex(o, n + 2, b, start, count, 1)
  if (end - start > max) {
    putString('… (')
    putUint(end - start)
    putString(' bytes)')
  }
}

/** The varint in [start, end), in decimal (modulo 2^64, like the reference). */
function putVarint(b: Uint8Array, start: number, end: number): void {
  if (end - start <= 4) {
    // 28 bits at most: int32 arithmetic.
    let v = 0
    for (let i = end - 1; i >= start; i--) v = (v << 7) | (b[i]! & 0x7f)
    putUint(v)
    return
  }
  if (end - start <= 7) {
    let v = 0
    for (let i = end - 1; i >= start; i--) v = v * 128 + (b[i]! & 0x7f)
    putUint(v)
    return
  }
  // Eight to ten bytes: the low and high 32 bits, then a number when it is exact (below 2^53).
  let lo = 0
  let hi = 0
  for (let i = 0, shift = 0; i < end - start; i++, shift += 7) {
    const byte = b[start + i]! & 0x7f
    if (shift < 28) lo |= byte << shift
    else if (shift === 28) {
      lo |= (byte & 15) << 28
      hi = byte >>> 4
    } else hi |= byte << (shift - 32) // at bit 63 (shift 63) only the byte's lowest bit is kept
  }
  lo >>>= 0
  hi >>>= 0
  if (hi < 0x200000) {
    putUint(hi * 0x100000000 + lo)
    return
  }
  // At least 2^53 (negative int32 and int64 values are ten-byte varints): no BigInt, but
  // hi·2^32 + lo divided by 10^10 in 16-bit limbs, each step exact in a double (remainder · 2^16
  // + limb < 2^53); the quotient is below 2^31, the remainder gets its leading zeros. No `%` on
  // doubles (a call to fmod).
  let r = 0
  let q = 0
  for (let i = 0; i < 4; i++) {
    const limb = i === 0 ? hi >>> 16 : i === 1 ? hi & 0xffff : i === 2 ? lo >>> 16 : lo & 0xffff
    const cur = r * 0x10000 + limb
    const d = Math.floor(cur / 1e10)
    q = q * 0x10000 + d
    r = cur - d * 1e10
  }
  room(32)
  const o = out
  const r5 = Math.floor(r / 1e5)
  let k = writeUint(o, n, q)
  k = writeDigits(o, k, r5, 5)
  n = writeDigits(o, k, r - r5 * 1e5, 5)
}

function putValue(b: Uint8Array, i: number, depth: number): void {
  const start = fStart[i]!
  const end = fEnd[i]!
  switch (fWt[i]) {
    case 0:
      if (end - start === 1) putUint(b[start]!)
      else putVarint(b, start, end)
      return
    case 1:
    case 5: {
      // Little-endian on the wire, shown as one hex number: the last byte first.
      const count = end - start
      room(2 + 2 * count)
      const o = out
      o[n] = 0x30 // 0
      o[n + 1] = 0x78 // x
      n = writeHex(o, n + 2, b, end - 1, count, -1)
      return
    }
    default: {
      if (start === end) {
        room(2)
        out[n] = out[n + 1] = 0x22
        n += 2
        return
      }
      // Text first: short strings often parse as messages by accident ("hi" is {13: 105}).
      if (putText(b, start, end)) return
      if (depth < MAX_DEPTH) {
        const base = top
        const count = parseFields(b, start, end)
        if (count >= 0) {
          putFields(b, base, base + count, depth + 1)
          top = base
          return
        }
      }
      putHexBytes(b, start, end)
    }
  }
}

/** The fields [base, stop) of one message: `{1: …, 2: [a, b]}`. */
function putFields(b: Uint8Array, base: number, stop: number, depth: number): void {
  link(base, stop)
  room(1)
  out[n++] = 0x7b // {
  for (let i = base; i < stop; i++) {
    const num = fNum[i]!
    if (num === 0) continue // rendered in the list of its first appearance
    room(14) // ", " + up to 9 digits + ": " + "["
    const o = out
    let k = n
    if (i > base) {
      o[k++] = 0x2c // ,
      o[k++] = 0x20
    }
    k = writeUint(o, k, num)
    o[k++] = 0x3a // :
    o[k++] = 0x20
    let j = fNext[i]!
    if (j === -1) {
      n = k
      putValue(b, i, depth)
    } else {
      o[k++] = 0x5b // [
      n = k
      putValue(b, i, depth)
      for (; j !== -1; j = fNext[j]!) {
        if (n - extra > limit) return
        room(2)
        out[n] = 0x2c
        out[n + 1] = 0x20
        n += 2
        putValue(b, j, depth)
      }
      room(1)
      out[n++] = 0x5d // ]
    }
    if (n - extra > limit) return
  }
  room(1)
  out[n++] = 0x7d // }
}

/**
 * Appends the rendering of the message in [start, end) of `b` (see `renderProtobuf`). It may stop
 * early once the text is longer than `stopAfter` code units in all: the caller keeps at most that
 * many, and what precedes is final.
 */
export function appendProtobuf(
  b: Uint8Array,
  start: number,
  end: number,
  stopAfter = Infinity
): void {
  top = 0
  if (end > 0x7fffffff && fStart instanceof Int32Array) allocFields(fieldCap, true)
  limit = stopAfter
  const count = parseFields(b, start, end)
  if (count >= 0) putFields(b, 0, count, 0)
  else if (start === end || !putText(b, start, end)) putHexBytes(b, start, end)
  top = 0
  limit = Infinity
  if (fieldCap > FIELDS_KEEP) allocFields(FIELDS_INITIAL)
}

/**
 * Renders one serialized message without its schema. Bytes that are not a valid message are
 * shown as text when they are printable UTF-8 (gRPC also carries JSON), else as hex.
 */
export function renderProtobuf(b: Uint8Array): string {
  beginText()
  appendProtobuf(b, 0, b.length)
  return finishText()
}
