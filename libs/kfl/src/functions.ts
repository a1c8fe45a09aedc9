import { KflEvalError } from './errors.js'
import { T, isNumeric, typeName } from './types.js'
import type { KType } from './types.js'

// Runtime representation: string/bytes → string, int/double → number, timestamp → Unix ms,
// duration → ms, list → array, map → Map (header/cookie maps: a case-insensitive Map).

/** CEL equality: structural for lists and maps, numeric across int and double. */
export function valueEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => valueEquals(x, b[i]))
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false
    for (const [k, v] of a) if (!b.has(k) || !valueEquals(v, b.get(k))) return false
    return true
  }
  return false
}

/** Ordering of two values of one primitive type (checked at run time for dyn operands). */
export function compareValues(a: unknown, b: unknown): number {
  const ta = typeof a
  if ((ta === 'number' || ta === 'string' || ta === 'boolean') && ta === typeof b) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0
  }
  throw new KflEvalError(`cannot order ${ta} and ${typeof b}`)
}

export function sizeOf(x: unknown): number {
  if (typeof x === 'string') return [...x].length
  if (Array.isArray(x)) return x.length
  if (x instanceof Map) return x.size
  throw new KflEvalError('size() needs a string, list or map')
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y

/** Go/CEL duration syntax ("5m", "1h30m", "250ms", "-1.5h", "0") → milliseconds. */
export function parseDuration(text: string): number {
  let s = text
  let sign = 1
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1
    s = s.slice(1)
  }
  if (s === '0') return 0
  if (s === '') throw new KflEvalError(`invalid duration "${text}"`)
  let total = 0
  DURATION_PART.lastIndex = 0
  while (DURATION_PART.lastIndex < s.length) {
    const m = DURATION_PART.exec(s)
    if (m === null)
      throw new KflEvalError(`invalid duration "${text}"; write e.g. "5m", "1h30m", "250ms"`)
    total += Number(m[1]) * UNIT_MS[m[2]!]!
  }
  return sign * total
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** RFC 3339 text → Unix ms (fractions below a millisecond are kept). */
export function parseTimestamp(text: string): number {
  const m = RFC3339.exec(text)
  const base = m === null ? NaN : Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`)
  if (m === null || Number.isNaN(base)) {
    throw new KflEvalError(
      `invalid timestamp "${text}"; write RFC 3339, e.g. "2026-03-14T22:00:00Z"`
    )
  }
  return base + (m[3] === undefined ? 0 : Number(m[3]) * 1000)
}

// RE2 (what KFL2 documents) has no backreferences or lookaround; refusing them keeps filters
// portable and removes the worst backtracking cases. A leading `(?i)` is RE2's case-insensitive flag.
const NOT_RE2 = /\\[1-9]|\(\?<?[=!]|\\k</

export function compileRegex(pattern: string): RegExp {
  let source = pattern
  let flags = ''
  if (source.startsWith('(?i)')) {
    source = source.slice(4)
    flags = 'i'
  }
  if (NOT_RE2.test(source)) {
    throw new KflEvalError('backreferences and lookaround are not supported (RE2 syntax)')
  }
  try {
    return new RegExp(source, flags)
  } catch (e) {
    throw new KflEvalError(`invalid regular expression: ${(e as Error).message}`)
  }
}

const regexCache = new Map<string, RegExp>()

/** For patterns only known at run time (constant patterns are compiled once by the checker). */
export function dynamicRegex(pattern: string): RegExp {
  let re = regexCache.get(pattern)
  if (re === undefined) {
    re = compileRegex(pattern)
    if (regexCache.size > 256) regexCache.clear()
    regexCache.set(pattern, re)
  }
  return re
}

export function toInt(x: unknown): number {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new KflEvalError('int() of a non-finite number')
    return Math.trunc(x)
  }
  if (typeof x === 'boolean') return x ? 1 : 0
  if (typeof x === 'string' && /^\s*[-+]?\d+\s*$/.test(x)) return Number.parseInt(x, 10)
  throw new KflEvalError(`cannot convert ${JSON.stringify(x)} to int`)
}

export function toDouble(x: unknown): number {
  if (typeof x === 'number') return x
  if (typeof x === 'string' && x.trim() !== '' && !Number.isNaN(Number(x))) return Number(x)
  throw new KflEvalError(`cannot convert ${JSON.stringify(x)} to double`)
}

/** A function's static signature check: the result type, or a message naming the problem. */
type Check = (args: readonly KType[]) => KType | string

export interface Builtin {
  readonly check: Check
  readonly impl: (...args: unknown[]) => unknown
  /** Callable as `f(x, ...)` and/or as `x.f(...)` (the receiver is the first argument). */
  readonly global: boolean
  readonly method: boolean
}

const accepts = (t: KType, ...kinds: KType['k'][]): boolean => t.k === 'dyn' || kinds.includes(t.k)

const stringPredicate =
  (name: string): Check =>
  (a) =>
    a.length === 2 && accepts(a[0]!, 'string', 'bytes') && accepts(a[1]!, 'string', 'bytes')
      ? T.bool
      : `${name} needs a string receiver and one string argument`

const str = (x: unknown): string => x as string

export const BUILTINS: Readonly<Record<string, Builtin>> = {
  contains: {
    global: false,
    method: true,
    check: stringPredicate('contains'),
    impl: (s, x) => str(s).includes(str(x)),
  },
  startsWith: {
    global: false,
    method: true,
    check: stringPredicate('startsWith'),
    impl: (s, x) => str(s).startsWith(str(x)),
  },
  endsWith: {
    global: false,
    method: true,
    check: stringPredicate('endsWith'),
    impl: (s, x) => str(s).endsWith(str(x)),
  },
  matches: {
    global: true,
    method: true,
    check: stringPredicate('matches'),
    impl: (s, re) => dynamicRegex(str(re)).test(str(s)),
  },
  size: {
    global: true,
    method: true,
    check: (a) =>
      a.length === 1 && accepts(a[0]!, 'string', 'bytes', 'list', 'map')
        ? T.int
        : 'size() needs one string, list or map',
    impl: sizeOf,
  },
  lower: {
    global: true,
    method: true,
    check: unaryString('lower'),
    impl: (s) => str(s).toLowerCase(),
  },
  upper: {
    global: true,
    method: true,
    check: unaryString('upper'),
    impl: (s) => str(s).toUpperCase(),
  },
  timestamp: {
    global: true,
    method: false,
    check: (a) =>
      a.length === 1 && accepts(a[0]!, 'string', 'int', 'timestamp')
        ? T.timestamp
        : 'timestamp() needs an RFC 3339 string, e.g. timestamp("2026-03-14T22:00:00Z")',
    impl: (x) => (typeof x === 'string' ? parseTimestamp(x) : toInt(x) * 1000),
  },
  duration: {
    global: true,
    method: false,
    check: (a) =>
      a.length === 1 && accepts(a[0]!, 'string', 'duration')
        ? T.duration
        : 'duration() needs a string such as "5m"',
    impl: (x) => (typeof x === 'string' ? parseDuration(x) : x),
  },
  map_get: {
    global: true,
    method: false,
    check: (a) => {
      const [m, k, d] = a
      if (a.length !== 3 || m === undefined || k === undefined || d === undefined)
        return 'map_get() needs (map, key, default)'
      if (m.k === 'dyn') return T.dyn
      if (m.k !== 'map') return `map_get() needs a map, got ${typeName(m)}`
      if (k.k !== 'dyn' && m.key.k !== 'dyn' && k.k !== m.key.k)
        return `map_get() key must be ${typeName(m.key)}`
      if (
        d.k !== 'dyn' &&
        m.value.k !== 'dyn' &&
        d.k !== m.value.k &&
        !(isNumeric(d) && isNumeric(m.value))
      ) {
        return `map_get() default must be ${typeName(m.value)}, got ${typeName(d)}`
      }
      return m.value
    },
    impl: (m, k, d) => {
      if (!(m instanceof Map)) throw new KflEvalError('map_get() needs a map')
      const map = m as Map<unknown, unknown>
      return map.has(k) ? map.get(k) : d
    },
  },
  int: {
    global: true,
    method: false,
    check: (a) =>
      a.length === 1 && accepts(a[0]!, 'int', 'double', 'string', 'bool', 'timestamp', 'duration')
        ? T.int
        : 'int() needs one number or string',
    impl: toInt,
  },
  double: {
    global: true,
    method: false,
    check: (a) =>
      a.length === 1 && accepts(a[0]!, 'int', 'double', 'string')
        ? T.double
        : 'double() needs one number or string',
    impl: toDouble,
  },
  string: {
    global: true,
    method: false,
    check: (a) =>
      a.length === 1 && !accepts(a[0]!, 'list', 'map') ? T.string : 'string() needs one scalar',
    impl: (x) =>
      typeof x === 'string'
        ? x
        : typeof x === 'number' || typeof x === 'boolean'
          ? String(x)
          : 'null',
  },
}

function unaryString(name: string): Check {
  return (a) =>
    a.length === 1 && accepts(a[0]!, 'string') ? T.string : `${name}() needs one string`
}
