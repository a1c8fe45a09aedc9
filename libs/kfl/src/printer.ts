import type { Expr, LiteralValue } from './ast.js'

/**
 * Prints an AST as canonical CEL (no sugar, every operator parenthesized), so that
 * `parse(print(ast))` gives the same tree back. Used for logs, cache keys and the property tests.
 */
export function print(e: Expr): string {
  switch (e.kind) {
    case 'literal':
      return printLiteral(e.lit)
    case 'ident':
      return e.name
    case 'select':
      return `${operand(e.operand)}.${e.field}`
    case 'index':
      return `${operand(e.operand)}[${print(e.index)}]`
    case 'call': {
      const args = e.args.map(print).join(', ')
      return e.target === null ? `${e.fn}(${args})` : `${operand(e.target)}.${e.fn}(${args})`
    }
    case 'list':
      return `[${e.elements.map(print).join(', ')}]`
    case 'map':
      return `{${e.entries.map((x) => `${print(x.key)}: ${print(x.value)}`).join(', ')}}`
    case 'unary':
      return `${e.op}${print(e.operand)}`
    case 'binary':
      return `(${print(e.left)} ${e.op} ${print(e.right)})`
    case 'cond':
      return `(${print(e.cond)} ? ${print(e.then)} : ${print(e.otherwise)})`
  }
}

// `(-a).b` must not print as `-a.b`, which reads back as `-(a.b)`.
const operand = (e: Expr): string => (e.kind === 'unary' ? `(${print(e)})` : print(e))

function printLiteral(lit: LiteralValue): string {
  switch (lit.type) {
    case 'string':
      return JSON.stringify(lit.value)
    case 'bytes':
      return `b${JSON.stringify(lit.value)}`
    case 'int':
      return String(lit.value)
    case 'double':
      return formatDouble(lit.value)
    case 'bool':
      return String(lit.value)
    case 'null':
      return 'null'
  }
}

function formatDouble(x: number): string {
  const s = String(x)
  // `1` would read back as an int; `1e+21` already reads back as a double.
  return /[.eE]/.test(s) || !Number.isFinite(x) ? s : `${s}.0`
}
