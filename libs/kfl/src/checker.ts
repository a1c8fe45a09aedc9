import { ALIASES, LATENCY_ALIAS } from './aliases.js'
import type { BinaryOp, Expr } from './ast.js'
import { KflError, KflEvalError } from './errors.js'
import type { Span } from './errors.js'
import { BUILTINS, compileRegex } from './functions.js'
import { didYouMean } from './hint.js'
import type { ArithOp, CmpOp, CompKind, IR } from './ir.js'
import { T, comparable, isNumeric, join, listOf, mapOf, typeName } from './types.js'
import type { KType } from './types.js'

export interface CheckOptions {
  /** Catalogue variables and their types. */
  readonly fields: ReadonlyMap<string, KType>
  /** What `now()` returns, Unix ms: frozen when the filter is compiled. */
  readonly now: number
}

export interface Checked {
  readonly ir: IR
  /** Comprehension variable slots the program needs. */
  readonly slots: number
  /** Catalogue variables the filter reads (aliases resolved). */
  readonly used: ReadonlySet<string>
}

const MACROS: Readonly<Record<string, CompKind>> = {
  all: 'all',
  exists: 'exists',
  exists_one: 'exists_one',
  existsOne: 'exists_one',
  filter: 'filter',
  map: 'map',
}

const CMP: Readonly<Record<string, CmpOp>> = { '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge' }
const ARITH: Readonly<Record<string, ArithOp>> = {
  '+': 'add',
  '-': 'sub',
  '*': 'mul',
  '/': 'div',
  '%': 'mod',
}
const SCALARS = new Set([
  'string',
  'int',
  'double',
  'bool',
  'timestamp',
  'duration',
  'bytes',
  'null',
])
const ORDERED = new Set(['string', 'int', 'double', 'bool', 'timestamp', 'duration', 'bytes'])
const FUNCTION_NAMES = [...Object.keys(BUILTINS), ...Object.keys(MACROS), 'has', 'now']

const isScalar = (t: KType): boolean => SCALARS.has(t.k)

/** Type-checks a parsed filter against the catalogue and lowers it to IR. */
export function check(ast: Expr, options: CheckOptions): Checked {
  const checker = new Checker(options)
  const ir = checker.expr(ast)
  if (ir.type.k !== 'bool' && ir.type.k !== 'dyn') {
    throw new KflError(
      'KFL_TYPE',
      `a filter must be a condition (bool), this one is ${typeName(ir.type)}`,
      ast.span,
      hintForNonBool(ast)
    )
  }
  return { ir, slots: checker.slots, used: checker.used }
}

function hintForNonBool(ast: Expr): string | undefined {
  return ast.kind === 'ident' || ast.kind === 'select'
    ? 'compare it, e.g. status_code == 200 or src.ip == "10.0.0.1"'
    : undefined
}

function dotted(e: Expr): string | undefined {
  if (e.kind === 'ident') return e.name
  if (e.kind === 'select') {
    const base = dotted(e.operand)
    return base === undefined ? undefined : `${base}.${e.field}`
  }
  return undefined
}

class Checker {
  slots = 0
  readonly used = new Set<string>()
  private readonly scope = new Map<string, { slot: number; type: KType }>()
  private readonly names: string[]

  constructor(private readonly options: CheckOptions) {
    this.names = [...options.fields.keys(), ...Object.keys(ALIASES), LATENCY_ALIAS]
  }

  expr(e: Expr): IR {
    switch (e.kind) {
      case 'literal':
        return { op: 'const', type: T[e.lit.type], value: e.lit.value, span: e.span }
      case 'ident':
      case 'select':
        return this.path(e)
      case 'index':
        return this.index(e.operand, e.index, e.span)
      case 'call':
        return this.call(e)
      case 'list': {
        const items = e.elements.map((x) => this.expr(x))
        const elem = items.length === 0 ? T.dyn : items.map((x) => x.type).reduce(join)
        return { op: 'list', type: listOf(elem), items, span: e.span }
      }
      case 'map': {
        const entries = e.entries.map((x) => [this.expr(x.key), this.expr(x.value)] as const)
        for (const [k] of entries) {
          if (!['string', 'int', 'bool', 'dyn'].includes(k.type.k)) {
            throw new KflError(
              'KFL_TYPE',
              `map keys must be string, int or bool, not ${typeName(k.type)}`,
              k.span
            )
          }
        }
        const key = entries.length === 0 ? T.dyn : entries.map(([k]) => k.type).reduce(join)
        const value = entries.length === 0 ? T.dyn : entries.map(([, v]) => v.type).reduce(join)
        return { op: 'map', type: mapOf(key, value), entries, span: e.span }
      }
      case 'unary':
        return this.unary(e.op, this.expr(e.operand), e.span)
      case 'binary':
        return this.binary(e.op, e.left, e.right, e.opSpan, e.span)
      case 'cond': {
        const c = this.expect(this.expr(e.cond), 'the condition of ?:', 'bool')
        const t = this.expr(e.then)
        const f = this.expr(e.otherwise)
        if (!comparable(t.type, f.type)) {
          throw new KflError(
            'KFL_TYPE',
            `the branches of ?: have different types: ${typeName(t.type)} and ${typeName(f.type)}`,
            e.span
          )
        }
        const type =
          isNumeric(t.type) && isNumeric(f.type) && t.type.k !== f.type.k
            ? T.double
            : join(t.type, f.type)
        return { op: 'cond', type, c, t, e: f, span: e.span }
      }
    }
  }

  private expect(ir: IR, what: string, kind: KType['k']): IR {
    if (ir.type.k === kind || ir.type.k === 'dyn') return ir
    throw new KflError('KFL_TYPE', `${what} must be ${kind}, got ${typeName(ir.type)}`, ir.span)
  }

  // ---- variables ----

  /** A catalogue variable, an alias, or undefined. */
  private variable(name: string, span: Span): IR | undefined {
    if (name === LATENCY_ALIAS) {
      // The spec's latency is milliseconds; elapsed_time is microseconds.
      this.used.add('elapsed_time')
      const us: IR = { op: 'var', type: T.int, name: 'elapsed_time', span }
      const k: IR = { op: 'const', type: T.double, value: 1000, span }
      return { op: 'div', type: T.double, a: us, b: k, mode: 'double', span }
    }
    const target = ALIASES[name] ?? name
    const type = this.options.fields.get(target)
    if (type === undefined) return undefined
    this.used.add(target)
    return { op: 'var', type, name: target, span }
  }

  private isVariable(name: string): boolean {
    return name === LATENCY_ALIAS || this.options.fields.has(ALIASES[name] ?? name)
  }

  private path(e: Expr): IR {
    const parts: { name: string; span: Span }[] = []
    let base = e
    while (base.kind === 'select') {
      parts.unshift({ name: base.field, span: base.span })
      base = base.operand
    }
    const applyFields = (start: IR, from: number): IR => {
      let ir = start
      for (let i = from; i < parts.length; i++)
        ir = this.field(ir, parts[i]!.name, parts[i]!.span, e)
      return ir
    }
    if (base.kind !== 'ident') return applyFields(this.expr(base), 0)
    const local = this.scope.get(base.name)
    if (local !== undefined)
      return applyFields({ op: 'local', type: local.type, slot: local.slot, span: base.span }, 0)
    const names = [base.name, ...parts.map((p) => p.name)]
    // Longest known prefix wins: `src.pod.name` is a variable, `src.pod` an alias of it.
    for (let n = names.length; n >= 1; n--) {
      const ir = this.variable(
        names.slice(0, n).join('.'),
        n === 1 ? base.span : parts[n - 2]!.span
      )
      if (ir !== undefined) return applyFields(ir, n - 1)
    }
    throw this.unknownVariable(names.join('.'), e.span)
  }

  private unknownVariable(name: string, span: Span): KflError {
    const children = this.names.filter((n) => n.startsWith(`${name}.`))
    const hint =
      didYouMean(name, this.names) ??
      (children.length > 0
        ? `${name} is not a variable by itself; use ${children.slice(0, 4).join(', ')}`
        : undefined)
    return new KflError('KFL_UNKNOWN_VARIABLE', `unknown variable '${name}'`, span, hint)
  }

  /** `x.f`: a map entry (`query_string.page`); anything else has no fields. */
  private field(ir: IR, name: string, span: Span, whole: Expr): IR {
    if (ir.type.k === 'map' && (ir.type.key.k === 'string' || ir.type.key.k === 'dyn')) {
      const key: IR = { op: 'const', type: T.string, value: name, span }
      return { op: 'index', type: ir.type.value, x: ir, i: key, container: 'map', span }
    }
    if (ir.type.k === 'dyn') {
      const key: IR = { op: 'const', type: T.string, value: name, span }
      return { op: 'index', type: T.dyn, x: ir, i: key, container: 'dyn', span }
    }
    const full = dotted(whole)
    if (full !== undefined && ir.op === 'var') throw this.unknownVariable(full, whole.span)
    throw new KflError('KFL_TYPE', `${typeName(ir.type)} has no field '${name}'`, span)
  }

  private index(operand: Expr, index: Expr, span: Span): IR {
    const x = this.expr(operand)
    const i = this.expr(index)
    const t = x.type
    if (t.k === 'list') {
      if (i.type.k !== 'int' && i.type.k !== 'dyn') {
        throw new KflError('KFL_TYPE', `a list index must be int, got ${typeName(i.type)}`, i.span)
      }
      return { op: 'index', type: t.elem, x, i, container: 'list', span }
    }
    if (t.k === 'map') {
      if (!comparable(t.key, i.type)) {
        throw new KflError(
          'KFL_TYPE',
          `this map's keys are ${typeName(t.key)}, got ${typeName(i.type)}`,
          i.span
        )
      }
      return { op: 'index', type: t.value, x, i, container: 'map', span }
    }
    if (t.k === 'dyn') return { op: 'index', type: T.dyn, x, i, container: 'dyn', span }
    throw new KflError('KFL_TYPE', `cannot index ${typeName(t)}`, span)
  }

  // ---- operators ----

  private unary(op: '!' | '-', x: IR, span: Span): IR {
    if (op === '!')
      return { op: 'not', type: T.bool, x: this.expect(x, "the operand of '!'", 'bool'), span }
    if (isNumeric(x.type) || x.type.k === 'duration' || x.type.k === 'dyn')
      return { op: 'neg', type: x.type, x, span }
    throw new KflError('KFL_TYPE', `cannot negate ${typeName(x.type)}`, span)
  }

  private binary(op: BinaryOp, left: Expr, right: Expr, opSpan: Span, span: Span): IR {
    const a = this.expr(left)
    const b = this.expr(right)
    if (op === '&&' || op === '||') {
      const what = (side: string): string => `the ${side} operand of '${op}'`
      return {
        op: op === '&&' ? 'and' : 'or',
        type: T.bool,
        a: this.expect(a, what('left'), 'bool'),
        b: this.expect(b, what('right'), 'bool'),
        span,
      }
    }
    if (op === '==' || op === '!=') {
      if (!comparable(a.type, b.type)) throw this.mismatch(op, a, b, span)
      return {
        op: op === '==' ? 'eq' : 'ne',
        type: T.bool,
        a,
        b,
        primitive: isScalar(a.type) && isScalar(b.type),
        span,
      }
    }
    const cmp = CMP[op]
    if (cmp !== undefined) {
      const ok =
        a.type.k === 'dyn' ||
        b.type.k === 'dyn' ||
        (isNumeric(a.type) && isNumeric(b.type)) ||
        (a.type.k === b.type.k && ORDERED.has(a.type.k))
      if (!ok) throw this.mismatch(op, a, b, span)
      return {
        op: cmp,
        type: T.bool,
        a,
        b,
        primitive: a.type.k !== 'dyn' && b.type.k !== 'dyn',
        span,
      }
    }
    if (op === 'in') return this.membership(a, b, opSpan, span)
    return this.arithmetic(ARITH[op]!, op, a, b, span)
  }

  private mismatch(op: string, a: IR, b: IR, span: Span): KflError {
    let hint: string | undefined
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      if (
        isNumeric(x.type) &&
        y.op === 'const' &&
        typeof y.value === 'string' &&
        /^-?\d+(\.\d+)?$/.test(y.value)
      ) {
        hint = `${x.op === 'var' ? x.name : 'the left side'} is ${x.type.k}: write ${y.value} without quotes`
      } else if (y.op === 'const' && y.value === null) {
        hint = `absent values read as their type's default; compare with ${x.type.k === 'string' ? '""' : 'that'}`
      } else if (x.type.k === 'timestamp' && y.type.k === 'string') {
        hint = 'parse it: timestamp("2026-03-14T22:00:00Z")'
      } else if (x.type.k === 'duration' && y.type.k === 'string') {
        hint = 'parse it: duration("5m")'
      }
    }
    return new KflError(
      'KFL_TYPE',
      `cannot apply '${op}' to ${typeName(a.type)} and ${typeName(b.type)}`,
      span,
      hint
    )
  }

  private membership(a: IR, b: IR, opSpan: Span, span: Span): IR {
    const t = b.type
    if (t.k === 'list') {
      if (!comparable(a.type, t.elem)) throw this.mismatch('in', a, b, span)
      return {
        op: 'in',
        type: T.bool,
        a,
        b,
        container: 'list',
        primitive: isScalar(a.type) && isScalar(t.elem),
        span,
      }
    }
    if (t.k === 'map') {
      if (!comparable(a.type, t.key)) throw this.mismatch('in', a, b, span)
      return { op: 'in', type: T.bool, a, b, container: 'map', primitive: true, span }
    }
    if (t.k === 'dyn')
      return { op: 'in', type: T.bool, a, b, container: 'dyn', primitive: false, span }
    const hint =
      t.k === 'string' ? 'for substrings write s.contains("x") or s contains "x"' : undefined
    throw new KflError(
      'KFL_TYPE',
      `'in' needs a list or map on the right, got ${typeName(t)}`,
      opSpan,
      hint
    )
  }

  private arithmetic(fn: ArithOp, op: string, a: IR, b: IR, span: Span): IR {
    const [x, y] = [a.type, b.type]
    const result = (type: KType, mode: 'int' | 'double' | 'concat' | 'dyn'): IR => ({
      op: fn,
      type,
      a,
      b,
      mode,
      span,
    })
    if (x.k === 'dyn' || y.k === 'dyn') return result(T.dyn, 'dyn')
    if (isNumeric(x) && isNumeric(y)) {
      return x.k === 'int' && y.k === 'int' ? result(T.int, 'int') : result(T.double, 'double')
    }
    if (fn === 'add') {
      if ((x.k === 'string' && y.k === 'string') || (x.k === 'bytes' && y.k === 'bytes'))
        return result(x, 'concat')
      if (x.k === 'list' && y.k === 'list') return result(listOf(join(x.elem, y.elem)), 'concat')
      if (x.k === 'timestamp' && y.k === 'duration') return result(T.timestamp, 'double')
      if (x.k === 'duration' && y.k === 'timestamp') return result(T.timestamp, 'double')
      if (x.k === 'duration' && y.k === 'duration') return result(T.duration, 'double')
    }
    if (fn === 'sub') {
      if (x.k === 'timestamp' && y.k === 'timestamp') return result(T.duration, 'double')
      if (x.k === 'timestamp' && y.k === 'duration') return result(T.timestamp, 'double')
      if (x.k === 'duration' && y.k === 'duration') return result(T.duration, 'double')
    }
    throw this.mismatch(op, a, b, span)
  }

  // ---- calls and macros ----

  private call(e: Extract<Expr, { kind: 'call' }>): IR {
    if (e.target === null && e.fn === 'has') return this.has(e)
    if (e.target === null && e.fn === 'now') {
      if (e.args.length !== 0) throw new KflError('KFL_TYPE', 'now() takes no arguments', e.span)
      return { op: 'const', type: T.timestamp, value: this.options.now, span: e.span }
    }
    const macro = MACROS[e.fn]
    if (e.target !== null && macro !== undefined) return this.comprehension(macro, e.target, e)
    const builtin = BUILTINS[e.fn]
    if (builtin === undefined || (e.target === null ? !builtin.global : !builtin.method)) {
      let hint = didYouMean(e.fn, FUNCTION_NAMES)
      if (builtin !== undefined)
        hint =
          e.target === null
            ? `${e.fn} is a method: write x.${e.fn}(...)`
            : `${e.fn} is a function: write ${e.fn}(x)`
      throw new KflError('KFL_UNKNOWN_FUNCTION', `unknown function '${e.fn}'`, e.fnSpan, hint)
    }
    const args = [
      ...(e.target === null ? [] : [this.expr(e.target)]),
      ...e.args.map((x) => this.expr(x)),
    ]
    const type = builtin.check(args.map((x) => x.type))
    if (typeof type === 'string') {
      const receiver = args[0]?.type.k
      const hint =
        e.fn === 'contains' && receiver === 'list' ? 'for lists write value in list' : undefined
      throw new KflError('KFL_TYPE', type, e.span, hint)
    }
    const pattern = args[1]
    if (e.fn === 'matches' && pattern?.op === 'const' && typeof pattern.value === 'string') {
      try {
        return {
          op: 'regex',
          type: T.bool,
          x: args[0]!,
          re: compileRegex(pattern.value),
          span: e.span,
        }
      } catch (err) {
        throw new KflError(
          'KFL_BAD_REGEX',
          (err as Error).message,
          pattern.span,
          'KFL regexes use RE2 syntax; escape literal brackets: \\\\['
        )
      }
    }
    if (args.every((x) => x.op === 'const')) {
      // Literal arguments are evaluated now, so `duration("5x")` is a compile error, not no-match.
      try {
        const value = builtin.impl(...args.map((x) => (x.op === 'const' ? x.value : undefined)))
        return { op: 'const', type, value, span: e.span }
      } catch (err) {
        if (!(err instanceof KflEvalError)) throw err
        throw new KflError('KFL_BAD_ARGUMENT', err.message, e.span)
      }
    }
    return { op: 'call', type, fn: e.fn, args, span: e.span }
  }

  private has(e: Extract<Expr, { kind: 'call' }>): IR {
    const arg = e.args[0]
    if (e.args.length !== 1 || arg === undefined || arg.kind !== 'select') {
      throw new KflError(
        'KFL_SYNTAX',
        'has() needs one field selection, e.g. has(request.headers.authorization)',
        e.span
      )
    }
    const full = dotted(arg)
    if (full !== undefined && !this.scope.has(full.split('.')[0]!) && this.isVariable(full)) {
      return { op: 'present', type: T.bool, x: this.path(arg), span: e.span }
    }
    const operand = this.expr(arg.operand)
    const key: IR = { op: 'const', type: T.string, value: arg.field, span: arg.span }
    if (operand.type.k === 'map' || operand.type.k === 'dyn') {
      return {
        op: 'in',
        type: T.bool,
        a: key,
        b: operand,
        container: operand.type.k === 'map' ? 'map' : 'dyn',
        primitive: true,
        span: e.span,
      }
    }
    throw new KflError(
      'KFL_TYPE',
      `has() needs a map field, ${typeName(operand.type)} has no fields`,
      arg.span
    )
  }

  private comprehension(kind: CompKind, target: Expr, e: Extract<Expr, { kind: 'call' }>): IR {
    const [v, body] = e.args
    if (e.args.length !== 2 || v === undefined || body === undefined || v.kind !== 'ident') {
      throw new KflError(
        'KFL_SYNTAX',
        `${e.fn}() needs a variable name and an expression: l.${e.fn}(x, x > 0)`,
        e.span
      )
    }
    const range = this.expr(target)
    const t = range.type
    const elem = t.k === 'list' ? t.elem : t.k === 'map' ? t.key : t.k === 'dyn' ? T.dyn : undefined
    if (elem === undefined) {
      throw new KflError(
        'KFL_TYPE',
        `${e.fn}() needs a list or map, got ${typeName(t)}`,
        range.span
      )
    }
    const slot = this.slots++
    const outer = this.scope.get(v.name)
    this.scope.set(v.name, { slot, type: elem })
    try {
      const b = this.expr(body)
      if (kind !== 'map') this.expect(b, `the predicate of ${e.fn}()`, 'bool')
      const type = kind === 'map' ? listOf(b.type) : kind === 'filter' ? listOf(elem) : T.bool
      return { op: 'comp', type, kind, range, slot, body: b, span: e.span }
    } finally {
      if (outer === undefined) this.scope.delete(v.name)
      else this.scope.set(v.name, outer)
    }
  }
}
