import type { BinaryOp, Expr } from './ast.js'
import { KflError } from './errors.js'
import type { Span } from './errors.js'
import { tokenize } from './lexer.js'
import type { Token } from './lexer.js'

/** Bounds that keep hostile filters from exhausting the stack or the CPU. */
export const LIMITS = Object.freeze({
  /** Source length in UTF-16 code units (4 KiB of ASCII). */
  maxSourceLength: 4096,
  /** Nested parentheses, brackets, unary operators and ternaries. */
  maxNesting: 48,
  /** Depth of the resulting tree (long `a && b && ...` chains nest on the left). */
  maxTreeDepth: 200,
  maxNodes: 2000,
})

const RELATIONS = new Set(['==', '!=', '<', '<=', '>', '>='])
// The spec documents' infix string operators, desugared to CEL method calls.
const INFIX_METHODS = new Set(['contains', 'startsWith', 'endsWith', 'matches'])
const KEYWORDS = new Set(['and', 'or', 'not', 'in'])

/** Parses a filter; `null` for an empty (or comment-only) filter, which matches everything. */
export function parse(source: string): Expr | null {
  if (source.length > LIMITS.maxSourceLength) {
    throw new KflError(
      'KFL_TOO_COMPLEX',
      `filter is longer than ${LIMITS.maxSourceLength} characters`,
      [LIMITS.maxSourceLength, source.length]
    )
  }
  const parser = new Parser(tokenize(source))
  const ast = parser.parseFilter()
  if (ast !== null) checkSize(ast)
  return ast
}

const describe = (t: Token): string =>
  t.kind === 'eof' ? 'end of filter' : t.kind === 'string' ? 'a string' : `'${t.text}'`

class Parser {
  private pos = 0
  private nesting = 0

  constructor(private readonly tokens: readonly Token[]) {}

  parseFilter(): Expr | null {
    if (this.peek().kind === 'eof') return null
    const expr = this.expr()
    const t = this.peek()
    if (t.kind !== 'eof') {
      const hint =
        t.text === ')'
          ? "there is no '(' to close"
          : t.kind === 'ident' || t.kind === 'string'
            ? 'join conditions with && or ||'
            : undefined
      throw new KflError('KFL_SYNTAX', `unexpected ${describe(t)}`, t.span, hint)
    }
    return expr
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!
  }

  private next(): Token {
    const t = this.peek()
    if (t.kind !== 'eof') this.pos++
    return t
  }

  private isOp(text: string): boolean {
    const t = this.peek()
    return t.kind === 'op' && t.text === text
  }

  private isWord(text: string): boolean {
    const t = this.peek()
    return t.kind === 'ident' && t.text === text
  }

  private expect(text: string, what: string, opener?: Token): Token {
    if (this.isOp(text)) return this.next()
    const t = this.peek()
    const hint = opener === undefined ? undefined : `to close '${opener.text}' at ${opener.span[0]}`
    throw new KflError(
      'KFL_SYNTAX',
      `expected '${text}' ${what}, found ${describe(t)}`,
      t.span,
      hint
    )
  }

  private enter(at: Token): void {
    if (++this.nesting > LIMITS.maxNesting) {
      throw new KflError(
        'KFL_TOO_COMPLEX',
        `filter nests deeper than ${LIMITS.maxNesting} levels`,
        at.span
      )
    }
  }

  private expr(): Expr {
    this.enter(this.peek())
    const cond = this.or()
    let result = cond
    if (this.isOp('?')) {
      this.next()
      const then = this.or()
      this.expect(':', 'in the conditional')
      const otherwise = this.expr()
      result = { kind: 'cond', cond, then, otherwise, span: [cond.span[0], otherwise.span[1]] }
    }
    this.nesting--
    return result
  }

  private binary(op: BinaryOp, left: Expr, opSpan: Span, operand: () => Expr): Expr {
    if (this.peek().kind === 'eof') {
      throw new KflError('KFL_SYNTAX', `expected an expression after '${op}'`, this.peek().span)
    }
    const right = operand()
    return { kind: 'binary', op, left, right, opSpan, span: [left.span[0], right.span[1]] }
  }

  private or(): Expr {
    let left = this.and()
    while (this.isOp('||') || this.isWord('or')) {
      const t = this.next()
      left = this.binary('||', left, t.span, () => this.and())
    }
    return left
  }

  private and(): Expr {
    let left = this.not()
    while (this.isOp('&&') || this.isWord('and')) {
      const t = this.next()
      left = this.binary('&&', left, t.span, () => this.not())
    }
    return left
  }

  // The word `not` binds looser than comparisons (`not a == b` is `!(a == b)`), as in the spec
  // documents and Python; the CEL `!` binds tightest.
  private not(): Expr {
    if (!this.isWord('not')) return this.relation()
    const t = this.next()
    this.enter(t)
    const operand = this.not()
    this.nesting--
    return { kind: 'unary', op: '!', operand, span: [t.span[0], operand.span[1]] }
  }

  private relation(): Expr {
    let left = this.additive()
    for (;;) {
      const t = this.peek()
      if (t.kind === 'op' && RELATIONS.has(t.text)) {
        this.next()
        left = this.binary(t.text as BinaryOp, left, t.span, () => this.additive())
      } else if (t.kind === 'ident' && t.text === 'in') {
        this.next()
        left = this.binary('in', left, t.span, () => this.additive())
      } else if (t.kind === 'ident' && INFIX_METHODS.has(t.text)) {
        this.next()
        if (this.peek().kind === 'eof') {
          throw new KflError(
            'KFL_SYNTAX',
            `expected an expression after '${t.text}'`,
            this.peek().span
          )
        }
        const arg = this.additive()
        left = {
          kind: 'call',
          target: left,
          fn: t.text,
          fnSpan: t.span,
          args: [arg],
          span: [left.span[0], arg.span[1]],
        }
      } else {
        return left
      }
    }
  }

  private additive(): Expr {
    let left = this.multiplicative()
    while (this.isOp('+') || this.isOp('-')) {
      const t = this.next()
      left = this.binary(t.text as BinaryOp, left, t.span, () => this.multiplicative())
    }
    return left
  }

  private multiplicative(): Expr {
    let left = this.unary()
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const t = this.next()
      left = this.binary(t.text as BinaryOp, left, t.span, () => this.unary())
    }
    return left
  }

  private unary(): Expr {
    if (this.isOp('!') || this.isOp('-')) {
      const t = this.next()
      this.enter(t)
      const operand = this.unary()
      this.nesting--
      return { kind: 'unary', op: t.text as '!' | '-', operand, span: [t.span[0], operand.span[1]] }
    }
    return this.member()
  }

  private member(): Expr {
    let expr = this.primary()
    for (;;) {
      if (this.isOp('.')) {
        this.next()
        const name = this.peek()
        if (name.kind !== 'ident') {
          throw new KflError(
            'KFL_SYNTAX',
            `expected a field name after '.', found ${describe(name)}`,
            name.span
          )
        }
        this.next()
        if (this.isOp('(')) {
          const open = this.next()
          const { args, end } = this.args(open)
          expr = {
            kind: 'call',
            target: expr,
            fn: name.text,
            fnSpan: name.span,
            args,
            span: [expr.span[0], end],
          }
        } else {
          expr = {
            kind: 'select',
            operand: expr,
            field: name.text,
            span: [expr.span[0], name.span[1]],
          }
        }
      } else if (this.isOp('[')) {
        const open = this.next()
        this.enter(open)
        const index = this.expr()
        const close = this.expect(']', 'after the index', open)
        this.nesting--
        expr = { kind: 'index', operand: expr, index, span: [expr.span[0], close.span[1]] }
      } else {
        return expr
      }
    }
  }

  private args(open: Token): { args: Expr[]; end: number } {
    this.enter(open)
    const args: Expr[] = []
    while (!this.isOp(')')) {
      args.push(this.expr())
      if (!this.isOp(',')) break
      this.next()
    }
    const close = this.expect(')', 'after the arguments', open)
    this.nesting--
    return { args, end: close.span[1] }
  }

  private primary(): Expr {
    const t = this.next()
    switch (t.kind) {
      case 'int':
        return { kind: 'literal', lit: { type: 'int', value: t.num }, span: t.span }
      case 'double':
        return { kind: 'literal', lit: { type: 'double', value: t.num }, span: t.span }
      case 'string':
        return { kind: 'literal', lit: { type: 'string', value: t.text }, span: t.span }
      case 'bytes':
        return { kind: 'literal', lit: { type: 'bytes', value: t.text }, span: t.span }
      case 'ident':
        return this.identifier(t)
      case 'op':
        return this.bracketed(t)
      case 'eof':
        throw new KflError('KFL_SYNTAX', 'expected an expression, found end of filter', t.span)
    }
  }

  private identifier(t: Token): Expr {
    if (t.text === 'true' || t.text === 'false') {
      return { kind: 'literal', lit: { type: 'bool', value: t.text === 'true' }, span: t.span }
    }
    if (t.text === 'null')
      return { kind: 'literal', lit: { type: 'null', value: null }, span: t.span }
    if (KEYWORDS.has(t.text)) {
      throw new KflError('KFL_SYNTAX', `expected an expression, found '${t.text}'`, t.span)
    }
    if (this.isOp('(')) {
      const open = this.next()
      const { args, end } = this.args(open)
      return {
        kind: 'call',
        target: null,
        fn: t.text,
        fnSpan: t.span,
        args,
        span: [t.span[0], end],
      }
    }
    return { kind: 'ident', name: t.text, span: t.span }
  }

  private bracketed(t: Token): Expr {
    if (t.text === '(') {
      this.enter(t)
      const inner = this.expr()
      this.expect(')', 'after the expression', t)
      this.nesting--
      return inner
    }
    if (t.text === '[') {
      this.enter(t)
      const elements: Expr[] = []
      while (!this.isOp(']')) {
        elements.push(this.expr())
        if (!this.isOp(',')) break
        this.next()
      }
      const close = this.expect(']', 'after the list', t)
      this.nesting--
      return { kind: 'list', elements, span: [t.span[0], close.span[1]] }
    }
    if (t.text === '{') {
      this.enter(t)
      const entries: { key: Expr; value: Expr }[] = []
      while (!this.isOp('}')) {
        const key = this.expr()
        this.expect(':', 'after the map key')
        entries.push({ key, value: this.expr() })
        if (!this.isOp(',')) break
        this.next()
      }
      const close = this.expect('}', 'after the map', t)
      this.nesting--
      return { kind: 'map', entries, span: [t.span[0], close.span[1]] }
    }
    throw new KflError('KFL_SYNTAX', `expected an expression, found '${t.text}'`, t.span)
  }
}

/** Children of a node, for the walkers that must not recurse (size checks, printing limits). */
export function children(e: Expr): Expr[] {
  switch (e.kind) {
    case 'literal':
    case 'ident':
      return []
    case 'select':
      return [e.operand]
    case 'index':
      return [e.operand, e.index]
    case 'call':
      return e.target === null ? [...e.args] : [e.target, ...e.args]
    case 'list':
      return [...e.elements]
    case 'map':
      return e.entries.flatMap((x) => [x.key, x.value])
    case 'unary':
      return [e.operand]
    case 'binary':
      return [e.left, e.right]
    case 'cond':
      return [e.cond, e.then, e.otherwise]
  }
}

// Iterative, so that measuring a hostile tree cannot itself overflow the stack.
function checkSize(root: Expr): void {
  const stack: [Expr, number][] = [[root, 1]]
  let nodes = 0
  while (stack.length > 0) {
    const [e, depth] = stack.pop()!
    if (++nodes > LIMITS.maxNodes) {
      throw new KflError(
        'KFL_TOO_COMPLEX',
        `filter has more than ${LIMITS.maxNodes} terms`,
        root.span
      )
    }
    if (depth > LIMITS.maxTreeDepth) {
      throw new KflError(
        'KFL_TOO_COMPLEX',
        `filter nests deeper than ${LIMITS.maxTreeDepth} levels`,
        e.span,
        'split long chains with parentheses'
      )
    }
    for (const c of children(e)) stack.push([c, depth + 1])
  }
}
