import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import type { Expr } from './ast.js'
import { compile, KflError, KflEvalError, parse, print } from './index.js'
import { FIXTURES } from './test-fixtures.js'

/** Compiles; the only acceptable failure is a KflError. Runs the predicate over the fixtures. */
function compileSafely(source: string): void {
  let compiled
  try {
    compiled = compile(source)
  } catch (err) {
    if (err instanceof KflError) return
    throw err
  }
  for (const entry of FIXTURES) {
    compiled.predicate(entry)
  }
  // Evaluation failures must be the language's own run-time errors, never a JS TypeError.
  const bad: unknown[] = []
  const strict = compile(source, {
    onEvalError: (err) => err instanceof KflEvalError || bad.push(err),
  })
  for (const entry of FIXTURES) strict.predicate(entry)
  expect(bad).toEqual([])
}

const TOKENS = [
  'http',
  'grpc',
  'dns',
  '&&',
  '||',
  'and',
  'or',
  'not',
  '!',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '.',
  ',',
  ':',
  '?',
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  '+',
  '-',
  '*',
  '/',
  '%',
  'in',
  'status_code',
  'method',
  'path',
  '"GET"',
  '200',
  '0',
  '1.5',
  '-1',
  'src',
  'dst',
  'pod',
  'name',
  'ns',
  'request',
  'headers',
  'response',
  'latency',
  '"a"',
  "'b'",
  'contains',
  'startsWith',
  'matches',
  '"["',
  '"^/api"',
  'size',
  'has',
  'exists',
  'all',
  'filter',
  'map',
  'x',
  'true',
  'false',
  'null',
  'map_get',
  'local_labels',
  'now',
  '()',
  'duration',
  '"5m"',
  'timestamp',
  'namespaces',
  'dns_questions',
  'elapsed_time',
  'r"\\d"',
  '0xff',
  '"',
  "'",
  '\\',
  '=',
  '&',
  'lower',
  'upper',
  'int',
  'string',
  'b"x"',
]

const tokenSource = fc
  .array(fc.constantFrom(...TOKENS), { maxLength: 40 })
  .chain((tokens) =>
    fc
      .array(fc.constantFrom(' ', ''), { minLength: tokens.length, maxLength: tokens.length })
      .map((seps) => tokens.map((t, i) => t + seps[i]!).join(''))
  )

describe('robustness', () => {
  it('random strings never throw anything but KflError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), compileSafely), {
      numRuns: 2000,
    })
  })

  it('random token sequences never throw anything but KflError', () => {
    fc.assert(fc.property(tokenSource, compileSafely), { numRuns: 5000 })
  })

  it('compile time stays bounded for inputs up to the size limit', () => {
    const big = fc
      .array(fc.constantFrom(...TOKENS), { minLength: 500, maxLength: 1500 })
      .map((t) => t.join(' ').slice(0, 4096))
    fc.assert(
      fc.property(big, (source) => {
        const start = performance.now()
        compileSafely(source)
        expect(performance.now() - start).toBeLessThan(200)
      }),
      { numRuns: 200 }
    )
    const worst = [
      `${'('.repeat(47)}http${')'.repeat(47)}`,
      `${'http && '.repeat(199)}http`,
      `[${'status_code, '.repeat(300)}1] == []`,
      `${'"a" + '.repeat(600)}"a" == ""`,
    ]
    for (const source of worst) {
      const start = performance.now()
      compileSafely(source)
      expect(performance.now() - start).toBeLessThan(200)
    }
  })
})

// ---- printing then re-parsing a generated tree gives the same tree ----

const SPAN = [0, 0] as const
const IDENTS = ['a', 'b', 'x_1', 'status_code', 'src', 'has', 'exists', 'r', 'B', 'rb']

const literal: fc.Arbitrary<Expr> = fc.oneof(
  fc
    .string({ unit: 'binary', maxLength: 6 })
    .map((value): Expr => ({ kind: 'literal', lit: { type: 'string', value }, span: SPAN })),
  fc
    .string({ unit: 'binary', maxLength: 4 })
    .map((value): Expr => ({ kind: 'literal', lit: { type: 'bytes', value }, span: SPAN })),
  fc
    .maxSafeNat()
    .map((value): Expr => ({ kind: 'literal', lit: { type: 'int', value }, span: SPAN })),
  fc
    .double({ min: 0, noNaN: true, noDefaultInfinity: true })
    .filter((v) => !Object.is(v, -0))
    .map((value): Expr => ({ kind: 'literal', lit: { type: 'double', value }, span: SPAN })),
  fc
    .boolean()
    .map((value): Expr => ({ kind: 'literal', lit: { type: 'bool', value }, span: SPAN })),
  fc.constant<Expr>({ kind: 'literal', lit: { type: 'null', value: null }, span: SPAN })
)

const ident = fc.constantFrom(...IDENTS)
const BINARY = [
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  '+',
  '-',
  '*',
  '/',
  '%',
  'in',
] as const

const { expr } = fc.letrec<{ expr: Expr }>((tie) => {
  const sub = tie('expr')
  return {
    expr: fc.oneof(
      { maxDepth: 5, depthIdentifier: 'expr' },
      literal,
      ident.map((name): Expr => ({ kind: 'ident', name, span: SPAN })),
      fc
        .tuple(sub, ident)
        .map(([operand, field]): Expr => ({ kind: 'select', operand, field, span: SPAN })),
      fc
        .tuple(sub, sub)
        .map(([operand, index]): Expr => ({ kind: 'index', operand, index, span: SPAN })),
      fc
        .tuple(fc.option(sub, { nil: null }), ident, fc.array(sub, { maxLength: 3 }))
        .map(([target, fn, args]): Expr => ({
          kind: 'call',
          target,
          fn,
          fnSpan: SPAN,
          args,
          span: SPAN,
        })),
      fc
        .array(sub, { maxLength: 3 })
        .map((elements): Expr => ({ kind: 'list', elements, span: SPAN })),
      fc
        .array(fc.record({ key: sub, value: sub }), { maxLength: 2 })
        .map((entries): Expr => ({ kind: 'map', entries, span: SPAN })),
      fc
        .tuple(fc.constantFrom('!' as const, '-' as const), sub)
        .map(([op, operand]): Expr => ({ kind: 'unary', op, operand, span: SPAN })),
      fc.tuple(fc.constantFrom(...BINARY), sub, sub).map(([op, left, right]): Expr => ({
        kind: 'binary',
        op,
        left,
        right,
        opSpan: SPAN,
        span: SPAN,
      })),
      fc.tuple(sub, sub, sub).map(([cond, then, otherwise]): Expr => ({
        kind: 'cond',
        cond,
        then,
        otherwise,
        span: SPAN,
      }))
    ),
  }
})

/** The tree without positions, for structural comparison. */
function shape(e: unknown): unknown {
  if (Array.isArray(e)) return e.map(shape)
  if (e !== null && typeof e === 'object') {
    return Object.fromEntries(
      Object.entries(e)
        .filter(([k]) => k !== 'span' && k !== 'fnSpan' && k !== 'opSpan')
        .map(([k, v]) => [k, shape(v)])
    )
  }
  return e
}

describe('printer', () => {
  it('print → parse gives the same tree, and printing is stable', () => {
    fc.assert(
      fc.property(expr, (ast) => {
        const printed = print(ast)
        const reparsed = parse(printed)
        expect(shape(reparsed)).toEqual(shape(ast))
        expect(print(reparsed!)).toBe(printed)
      }),
      { numRuns: 3000 }
    )
  })

  it('printed filters select the same entries as their source', () => {
    const filters = [
      'http and response.status >= 400',
      'request.path contains "/api/v1"',
      'not src.ns == "kube-system" and dst.port >= 8000',
      'http && url.matches(".*/api/v[0-9]+/.*") || dns && "A" in dns_question_types',
      'namespaces.exists(n, n.startsWith("prod")) ? elapsed_time > 1000 : !http',
    ]
    for (const f of filters) {
      const a = compile(f).predicate
      const b = compile(print(parse(f)!)).predicate
      expect(FIXTURES.map(b)).toEqual(FIXTURES.map(a))
    }
  })
})
