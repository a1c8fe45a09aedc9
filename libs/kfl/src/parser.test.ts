import { describe, it, expect } from 'vitest'
import { parse, print } from './index.js'
import { tokenize } from './lexer.js'

const canon = (source: string): string => {
  const ast = parse(source)
  return ast === null ? '' : print(ast)
}

describe('lexer', () => {
  it('produces tokens with spans', () => {
    const tokens = tokenize('src.ip >= "10.1." && !x')
    expect(tokens.map((t) => [t.kind, t.text, t.span])).toEqual([
      ['ident', 'src', [0, 3]],
      ['op', '.', [3, 4]],
      ['ident', 'ip', [4, 6]],
      ['op', '>=', [7, 9]],
      ['string', '10.1.', [10, 17]],
      ['op', '&&', [18, 20]],
      ['op', '!', [21, 22]],
      ['ident', 'x', [22, 23]],
      ['eof', '', [23, 23]],
    ])
  })

  it('reads numbers, raw strings, escapes and comments', () => {
    const t = tokenize('1 2.5 3e2 0xff r"\\d+" R\'a\\n\' "\\t\\u00e9" // comment')
    expect(t.map((x) => (x.kind === 'int' || x.kind === 'double' ? x.num : x.text))).toEqual([
      1,
      2.5,
      300,
      255,
      '\\d+',
      'a\\n',
      '\té',
      '',
    ])
    expect(t.map((x) => x.kind)).toEqual([
      'int',
      'double',
      'double',
      'int',
      'string',
      'string',
      'string',
      'eof',
    ])
  })
})

describe('parser', () => {
  it.each([
    ['a || b && c', '(a || (b && c))'],
    ['a && b || c', '((a && b) || c)'],
    ['a == 1 + 2 * 3', '(a == (1 + (2 * 3)))'],
    ['1 - 2 - 3', '((1 - 2) - 3)'],
    ['!a.b', '!a.b'],
    ['-a[1]', '-a[1]'],
    ['(-a).b', '(-a).b'],
    ['a ? b : c ? d : e', '(a ? b : (c ? d : e))'],
    ['a < b == c', '((a < b) == c)'],
    ['x in [1, 2,]', '(x in [1, 2])'],
    ['{"a": 1, 2: b,}', '{"a": 1, 2: b}'],
    ['f(a, b).g(c)', 'f(a, b).g(c)'],
    ['a.b.c[d].e(f)', 'a.b.c[d].e(f)'],
    ['1.0 == 1.5e3', '(1.0 == 1500.0)'],
    // The spec documents' sugar desugars to CEL.
    ['a and b or not c', '((a && b) || !c)'],
    ['not a == b', '!(a == b)'],
    ['!a == b', '(!a == b)'],
    ['path contains "x" and url startsWith "/"', '(path.contains("x") && url.startsWith("/"))'],
    ['a endsWith "x" || b matches "y"', '(a.endsWith("x") || b.matches("y"))'],
    ['a contains "x" + "y"', 'a.contains(("x" + "y"))'],
    ['contains.contains(contains)', 'contains.contains(contains)'],
    ['  ', ''],
  ])('%s → %s', (source, printed) => {
    expect(canon(source)).toBe(printed)
  })

  it('records spans of nodes', () => {
    const ast = parse('http && status_code >= 500')
    expect(ast?.span).toEqual([0, 26])
    expect(ast?.kind === 'binary' && [ast.opSpan, ast.left.span, ast.right.span]).toEqual([
      [5, 7],
      [0, 4],
      [8, 26],
    ])
  })
})
