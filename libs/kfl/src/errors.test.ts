import { describe, it, expect } from 'vitest'
import { compile, KflError } from './index.js'
import type { KflErrorCode } from './index.js'

const failure = (source: string): KflError => {
  try {
    compile(source)
  } catch (err) {
    if (err instanceof KflError) return err
    throw err
  }
  throw new Error(`compiled: ${source}`)
}

type Case = [source: string, code: KflErrorCode, span: [number, number], hint?: string]

const CASES: Case[] = [
  ['status_code == "200"', 'KFL_TYPE', [0, 20], 'write 200 without quotes'],
  ['statuscode == 200', 'KFL_UNKNOWN_VARIABLE', [0, 10], 'did you mean status_code?'],
  ['http && stauts_code >= 500', 'KFL_UNKNOWN_VARIABLE', [8, 19], 'did you mean status_code?'],
  ['http &&', 'KFL_SYNTAX', [7, 7]],
  ['http and', 'KFL_SYNTAX', [8, 8]],
  ['"unterminated', 'KFL_SYNTAX', [0, 13]],
  ["method == 'GET", 'KFL_SYNTAX', [10, 14]],
  ['url.matches("[")', 'KFL_BAD_REGEX', [12, 15]],
  ['path matches "(a)\\\\1"', 'KFL_BAD_REGEX', [13, 21]],
  ['(http', 'KFL_SYNTAX', [5, 5], "to close '(' at 0"],
  ['((http && grpc)', 'KFL_SYNTAX', [15, 15], "to close '(' at 0"],
  ['http)', 'KFL_SYNTAX', [4, 5], "no '(' to close"],
  ['request.headers["a" == ""', 'KFL_SYNTAX', [25, 25], "to close '[' at 15"],
  ['status_code = 200', 'KFL_SYNTAX', [12, 13], 'use =='],
  ['http & grpc', 'KFL_SYNTAX', [5, 6], 'use &&'],
  ['http grpc', 'KFL_SYNTAX', [5, 9], 'join conditions'],
  ['src.pod.nam == "x"', 'KFL_UNKNOWN_VARIABLE', [0, 11], 'did you mean src.pod.name?'],
  ['request.header["x"] == ""', 'KFL_UNKNOWN_VARIABLE', [0, 14], 'did you mean request.headers?'],
  ['src == "x"', 'KFL_UNKNOWN_VARIABLE', [0, 3], 'src is not a variable by itself'],
  ['lowr(method) == "get"', 'KFL_UNKNOWN_FUNCTION', [0, 4], 'did you mean lower?'],
  ['method.foo()', 'KFL_UNKNOWN_FUNCTION', [7, 10]],
  ['contains(method, "x")', 'KFL_UNKNOWN_FUNCTION', [0, 8], 'is a method'],
  ['method.duration()', 'KFL_UNKNOWN_FUNCTION', [7, 15], 'is a function'],
  ['dns_questions.contains("a")', 'KFL_TYPE', [0, 27], 'value in list'],
  ['status_code', 'KFL_TYPE', [0, 11], 'compare it'],
  ['http && status_code', 'KFL_TYPE', [8, 19]],
  ['method in "GET"', 'KFL_TYPE', [7, 9], 'contains'],
  ['timestamp > "2026-01-01"', 'KFL_TYPE', [0, 24], 'timestamp("'],
  ['elapsed_time > "5s"', 'KFL_TYPE', [0, 19]],
  ['method == null', 'KFL_TYPE', [0, 14], 'default'],
  ['"a" + 1 == "a1"', 'KFL_TYPE', [0, 7]],
  ['-method == ""', 'KFL_TYPE', [0, 7]],
  ['1 ? true : false', 'KFL_TYPE', [0, 1]],
  ['status_code ? true : "x"', 'KFL_TYPE', [0, 11]],
  ['true ? 1 : "x"', 'KFL_TYPE', [0, 14]],
  ['method[0] == "G"', 'KFL_TYPE', [0, 9]],
  ['namespaces["a"] == ""', 'KFL_TYPE', [11, 14]],
  ['size(1) == 1', 'KFL_TYPE', [0, 7]],
  ['map_get(local_labels, "app", 0) == 0', 'KFL_TYPE', [0, 31]],
  ['duration("5 minutes") > duration("1m")', 'KFL_BAD_ARGUMENT', [0, 21]],
  ['timestamp("yesterday") < now()', 'KFL_BAD_ARGUMENT', [0, 22]],
  ['now(1) == now()', 'KFL_TYPE', [0, 6]],
  ['has(dns_questions)', 'KFL_SYNTAX', [0, 18]],
  ['has(method.x)', 'KFL_TYPE', [4, 12]],
  ['namespaces.exists(1, true)', 'KFL_SYNTAX', [0, 26]],
  ['namespaces.all(n, n)', 'KFL_TYPE', [18, 19]],
  ['method.exists(c, true)', 'KFL_TYPE', [0, 6]],
  ['"\\q" == ""', 'KFL_SYNTAX', [1, 3]],
  ['"\\x4" == ""', 'KFL_SYNTAX', [1, 5]],
  ['99999999999999999999 > 0', 'KFL_SYNTAX', [0, 20]],
  ['12abc == 1', 'KFL_SYNTAX', [0, 3]],
  ['in', 'KFL_SYNTAX', [0, 2]],
  ['and http', 'KFL_SYNTAX', [0, 3]],
  ['http && #', 'KFL_SYNTAX', [8, 9]],
  ['f(', 'KFL_SYNTAX', [2, 2]],
  ['[1, 2', 'KFL_SYNTAX', [5, 5]],
  ['{"a" 1}', 'KFL_SYNTAX', [5, 6]],
  ['method.', 'KFL_SYNTAX', [7, 7]],
  ['1 ? 2', 'KFL_SYNTAX', [5, 5]],
  ['{[1]: 2} == {}', 'KFL_TYPE', [1, 4]],
  ['x.y == 1', 'KFL_UNKNOWN_VARIABLE', [0, 3]],
]

describe('invalid filters', () => {
  it.each(CASES)('%s → %s %j', (source, code, span, hint) => {
    const err = failure(source)
    expect({ code: err.code, span: err.span }).toEqual({ code, span })
    if (hint !== undefined) expect(err.hint).toContain(hint)
    expect(err.message.length).toBeGreaterThan(0)
  })

  it('serializes for 400 responses', () => {
    const json = JSON.parse(JSON.stringify(failure('statuscode == 200'))) as unknown
    expect(json).toEqual({
      code: 'KFL_UNKNOWN_VARIABLE',
      message: "unknown variable 'statuscode'",
      span: [0, 10],
      hint: 'did you mean status_code?',
    })
  })
})

describe('limits', () => {
  it.each([
    ['a 5 KiB filter', `${'method == "x" || '.repeat(300)}http`, 'KFL_TOO_COMPLEX'],
    ['deep parentheses', `${'('.repeat(100)}http${')'.repeat(100)}`, 'KFL_TOO_COMPLEX'],
    ['deep brackets', `${'['.repeat(100)}${']'.repeat(100)} == []`, 'KFL_TOO_COMPLEX'],
    ['a long unary chain', `${'!'.repeat(500)}http`, 'KFL_TOO_COMPLEX'],
    ['a long `not` chain', `${'not '.repeat(500)}http`, 'KFL_TOO_COMPLEX'],
    ['a long && chain', `${'http && '.repeat(300)}http`, 'KFL_TOO_COMPLEX'],
    ['a long member chain', `src${'.a'.repeat(1500)}`, 'KFL_TOO_COMPLEX'],
  ])('rejects %s', (_name, source, code) => {
    expect(failure(source).code).toBe(code)
  })

  it('accepts realistic long filters', () => {
    const f = compile(`${'http && '.repeat(100)}status_code >= 500`)
    expect(f.predicate({ proto: 'http', status: 503 })).toBe(true)
    expect(compile(`${'('.repeat(20)}http${')'.repeat(20)}`).predicate({ proto: 'grpc' })).toBe(
      true
    )
  })
})
