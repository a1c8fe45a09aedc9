import type { Entry } from '@tapwire/wire'
import { PROTOCOL_FLAGS, accessor, headerLookup } from './entry-env.js'
import { KflEvalError } from './errors.js'
import { BUILTINS, compareValues, valueEquals } from './functions.js'
import type { IR } from './ir.js'
import { defaultValue } from './types.js'

type Fn = (e: Entry) => unknown

/** Closures known to return a constant, with that constant: lets parents specialize and fold. */
const constants = new WeakMap<Fn, { value: unknown }>()
// Constant folding evaluates closures that read no entry; they still receive one.
const NO_ENTRY: Entry = {}

const constant = (value: unknown): Fn => {
  const f: Fn = () => value
  constants.set(f, { value })
  return f
}

const asBool = (v: unknown): boolean => {
  if (typeof v !== 'boolean') throw new KflEvalError(`expected a bool, got ${typeof v}`)
  return v
}

/**
 * Turns checked IR into a tree of closures, built once per filter: evaluating an entry never
 * walks the AST. `locals` holds comprehension variables (evaluation is synchronous, one slot each).
 */
export function buildClosure(ir: IR, locals: unknown[]): Fn {
  const kids: Fn[] = []
  const sub = (x: IR): Fn => {
    const f = buildClosure(x, locals)
    kids.push(f)
    return f
  }
  if (ir.op === 'const') return constant(ir.value)
  const fn = buildNode(ir, sub, locals)
  // Only nodes built from constant children fold: variables, comprehension locals and direct
  // entry scans (which build no children) read the entry.
  const foldable =
    ir.op !== 'var' &&
    ir.op !== 'local' &&
    ir.op !== 'comp' &&
    (kids.length > 0 || ir.op === 'list' || ir.op === 'map')
  if (foldable && kids.every((k) => constants.has(k))) {
    try {
      return constant(fn(NO_ENTRY))
    } catch (err) {
      if (!(err instanceof KflEvalError)) throw err
      // e.g. `1 / 0`: stays a run-time error, so the filter matches nothing, as in CEL.
    }
  }
  return fn
}

function buildNode(ir: IR, sub: (x: IR) => Fn, locals: unknown[]): Fn {
  switch (ir.op) {
    case 'const':
      return constant(ir.value)
    case 'var':
      return accessor(ir.name, ir.type)
    case 'local': {
      const slot = ir.slot
      return () => locals[slot]
    }
    case 'not': {
      const x = bool(ir.x, sub)
      return (e) => !x(e)
    }
    case 'neg': {
      const x = sub(ir.x)
      return (e) => {
        const v = x(e)
        if (typeof v !== 'number') throw new KflEvalError('cannot negate a non-number')
        return -v
      }
    }
    case 'and': {
      const a = bool(ir.a, sub)
      const b = bool(ir.b, sub)
      return (e) => a(e) && b(e)
    }
    case 'or': {
      const a = bool(ir.a, sub)
      const b = bool(ir.b, sub)
      return (e) => a(e) || b(e)
    }
    case 'cond': {
      const c = bool(ir.c, sub)
      const t = sub(ir.t)
      const f = sub(ir.e)
      return (e) => (c(e) ? t(e) : f(e))
    }
    case 'eq':
    case 'ne':
      return equality(ir.op === 'ne', sub(ir.a), sub(ir.b), ir.primitive)
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      return ordering(ir.op, sub(ir.a), sub(ir.b), ir.primitive)
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
    case 'mod':
      return arithmetic(ir.op, ir.mode, ir.type.k === 'list', sub(ir.a), sub(ir.b))
    case 'in': {
      const direct = literalHeader(ir.b, ir.a)
      if (direct !== undefined) return direct.has
      return membership(ir.container, ir.primitive, sub(ir.a), sub(ir.b))
    }
    case 'index': {
      const direct = literalHeader(ir.x, ir.i)
      if (direct !== undefined) return direct.value
      return indexing(ir.container, defaultValue(ir.type), sub(ir.x), sub(ir.i))
    }
    case 'call': {
      const impl = BUILTINS[ir.fn]!.impl
      const args = ir.args.map(sub)
      const [a, b, c] = args
      if (args.length === 1) return (e) => impl(a!(e))
      if (args.length === 2) return (e) => impl(a!(e), b!(e))
      if (args.length === 3) return (e) => impl(a!(e), b!(e), c!(e))
      return (e) => impl(...args.map((f) => f(e)))
    }
    case 'regex': {
      const x = sub(ir.x)
      const re = ir.re
      return (e) => re.test(x(e) as string)
    }
    case 'list': {
      const items = ir.items.map(sub)
      return (e) => items.map((f) => f(e))
    }
    case 'map': {
      const entries = ir.entries.map(([k, v]) => [sub(k), sub(v)] as const)
      return (e) => new Map(entries.map(([k, v]) => [k(e), v(e)]))
    }
    case 'comp':
      return comprehension(
        ir.kind,
        ir.slot,
        sub(ir.range),
        sub(ir.body),
        locals,
        ir.body.type.k === 'dyn'
      )
    case 'present': {
      const x = sub(ir.x)
      const dflt = defaultValue(ir.x.type)
      return (e) => {
        const v = x(e)
        return Array.isArray(v) ? v.length > 0 : v instanceof Map ? v.size > 0 : v !== dflt
      }
    }
  }
}

/** Direct header-line scans for a header map indexed by a literal key. */
function literalHeader(map: IR, key: IR): ReturnType<typeof headerLookup> {
  if (map.op !== 'var' || key.op !== 'const' || typeof key.value !== 'string') return undefined
  return headerLookup(map.name, key.value)
}

/** A bool-typed operand; dyn operands are checked at run time. */
function bool(ir: IR, sub: (x: IR) => Fn): (e: Entry) => boolean {
  const f = sub(ir)
  if (ir.type.k === 'bool') return f as (e: Entry) => boolean
  return (e) => asBool(f(e))
}

function equality(negate: boolean, a: Fn, b: Fn, primitive: boolean): Fn {
  if (primitive) {
    // The common shape `variable == literal` reads one value and compares.
    const kb = constants.get(b)
    if (kb !== undefined) {
      const k = kb.value
      return negate ? (e) => a(e) !== k : (e) => a(e) === k
    }
    return negate ? (e) => a(e) !== b(e) : (e) => a(e) === b(e)
  }
  return negate ? (e) => !valueEquals(a(e), b(e)) : (e) => valueEquals(a(e), b(e))
}

type Ordered = number | string | boolean

function ordering(op: 'lt' | 'le' | 'gt' | 'ge', a: Fn, b: Fn, primitive: boolean): Fn {
  if (!primitive) {
    const test = {
      lt: (c: number) => c < 0,
      le: (c: number) => c <= 0,
      gt: (c: number) => c > 0,
      ge: (c: number) => c >= 0,
    }[op]
    return (e) => test(compareValues(a(e), b(e)))
  }
  const kb = constants.get(b)
  if (kb !== undefined) {
    const k = kb.value as Ordered
    switch (op) {
      case 'lt':
        return (e) => (a(e) as Ordered) < k
      case 'le':
        return (e) => (a(e) as Ordered) <= k
      case 'gt':
        return (e) => (a(e) as Ordered) > k
      case 'ge':
        return (e) => (a(e) as Ordered) >= k
    }
  }
  switch (op) {
    case 'lt':
      return (e) => (a(e) as Ordered) < (b(e) as Ordered)
    case 'le':
      return (e) => (a(e) as Ordered) <= (b(e) as Ordered)
    case 'gt':
      return (e) => (a(e) as Ordered) > (b(e) as Ordered)
    case 'ge':
      return (e) => (a(e) as Ordered) >= (b(e) as Ordered)
  }
}

function intDivisor(v: number): number {
  if (v === 0) throw new KflEvalError('integer division by zero')
  return v
}

function arithmetic(
  op: 'add' | 'sub' | 'mul' | 'div' | 'mod',
  mode: string,
  list: boolean,
  a: Fn,
  b: Fn
): Fn {
  if (mode === 'concat') {
    return list
      ? (e) => [...(a(e) as unknown[]), ...(b(e) as unknown[])]
      : (e) => (a(e) as string) + (b(e) as string)
  }
  if (mode === 'dyn') return (e) => dynArithmetic(op, a(e), b(e))
  const n = (f: Fn) => f as (e: Entry) => number
  const [x, y] = [n(a), n(b)]
  switch (op) {
    case 'add':
      return (e) => x(e) + y(e)
    case 'sub':
      return (e) => x(e) - y(e)
    case 'mul':
      return mode === 'int' ? (e) => Math.trunc(x(e) * y(e)) : (e) => x(e) * y(e)
    case 'div':
      // CEL integer division truncates toward zero and fails on zero; doubles follow IEEE 754.
      return mode === 'int' ? (e) => Math.trunc(x(e) / intDivisor(y(e))) : (e) => x(e) / y(e)
    case 'mod':
      return mode === 'int' ? (e) => x(e) % intDivisor(y(e)) : (e) => x(e) % y(e)
  }
}

function dynArithmetic(op: string, a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case 'add':
        return a + b
      case 'sub':
        return a - b
      case 'mul':
        return a * b
      case 'div':
        return a / b
      default:
        return a % b
    }
  }
  if (op === 'add' && typeof a === 'string' && typeof b === 'string') return a + b
  if (op === 'add' && Array.isArray(a) && Array.isArray(b))
    return [...(a as unknown[]), ...(b as unknown[])]
  throw new KflEvalError(`cannot apply ${op} to ${typeof a} and ${typeof b}`)
}

function membership(container: 'list' | 'map' | 'dyn', primitive: boolean, a: Fn, b: Fn): Fn {
  if (container === 'map') return (e) => (b(e) as Map<unknown, unknown>).has(a(e))
  if (container === 'list') {
    const kb = constants.get(b)
    // A literal list of scalars (`method in ["GET", "HEAD"]`) becomes a Set lookup.
    if (primitive && kb !== undefined) {
      const set = new Set(kb.value as unknown[])
      return (e) => set.has(a(e))
    }
    if (primitive) return (e) => (b(e) as unknown[]).includes(a(e))
    return (e) => {
      const x = a(e)
      return (b(e) as unknown[]).some((y) => valueEquals(x, y))
    }
  }
  return (e) => {
    const x = a(e)
    const c = b(e)
    if (Array.isArray(c)) return c.some((y) => valueEquals(x, y))
    if (c instanceof Map) return c.has(x)
    throw new KflEvalError("'in' needs a list or map")
  }
}

function indexing(container: 'list' | 'map' | 'dyn', dflt: unknown, x: Fn, i: Fn): Fn {
  const fromList = (l: unknown[], k: unknown): unknown => {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= l.length) {
      throw new KflEvalError(`list index ${String(k)} out of range`)
    }
    return l[k]
  }
  // Missing map keys read as the value type's default (`request.headers["x"] == ""`).
  const fromMap = (m: Map<unknown, unknown>, k: unknown, d: unknown): unknown => {
    const v = m.get(k)
    return v === undefined ? d : v
  }
  if (container === 'list') return (e) => fromList(x(e) as unknown[], i(e))
  if (container === 'map') return (e) => fromMap(x(e) as Map<unknown, unknown>, i(e), dflt)
  return (e) => {
    const c = x(e)
    if (Array.isArray(c)) return fromList(c, i(e))
    if (c instanceof Map) return fromMap(c, i(e), null)
    throw new KflEvalError('cannot index this value')
  }
}

function comprehension(
  kind: string,
  slot: number,
  range: Fn,
  body: Fn,
  locals: unknown[],
  dynBody: boolean
): Fn {
  const items = (e: Entry): unknown[] => {
    const r = range(e)
    if (Array.isArray(r)) return r
    if (r instanceof Map) return [...r.keys()]
    throw new KflEvalError('comprehension needs a list or map')
  }
  const test = dynBody ? (e: Entry) => asBool(body(e)) : (body as (e: Entry) => boolean)
  switch (kind) {
    case 'all':
      return (e) => items(e).every((v) => ((locals[slot] = v), test(e)))
    case 'exists':
      return (e) => items(e).some((v) => ((locals[slot] = v), test(e)))
    case 'exists_one':
      return (e) => items(e).filter((v) => ((locals[slot] = v), test(e))).length === 1
    case 'filter':
      return (e) => items(e).filter((v) => ((locals[slot] = v), test(e)))
    default:
      return (e) => items(e).map((v) => ((locals[slot] = v), body(e)))
  }
}

/**
 * The protocols an entry must have for the filter to possibly match, or undefined when any
 * protocol may match. Lets the store skip whole protocol partitions.
 */
export function protocolHint(ir: IR): Set<string> | undefined {
  switch (ir.op) {
    case 'var': {
      const flag = PROTOCOL_FLAGS[ir.name]
      return flag === undefined ? undefined : new Set(flag)
    }
    case 'const':
      return ir.value === false ? new Set() : undefined
    case 'and': {
      const a = protocolHint(ir.a)
      const b = protocolHint(ir.b)
      if (a === undefined || b === undefined) return a ?? b
      return new Set([...a].filter((p) => b.has(p)))
    }
    case 'or': {
      const a = protocolHint(ir.a)
      const b = protocolHint(ir.b)
      return a === undefined || b === undefined ? undefined : new Set([...a, ...b])
    }
    case 'eq': {
      const [v, k] = ir.a.op === 'var' ? [ir.a, ir.b] : [ir.b, ir.a]
      if (v.op !== 'var' || k.op !== 'const' || typeof k.value !== 'string') return undefined
      if (v.name === 'proto') return new Set([k.value])
      if (v.name === 'protocol')
        return new Set(k.value === k.value.toUpperCase() ? [k.value.toLowerCase()] : [])
      return undefined
    }
    default:
      return undefined
  }
}
