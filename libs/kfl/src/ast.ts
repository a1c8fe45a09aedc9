import type { Span } from './errors.js'

export type BinaryOp =
  '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||' | '+' | '-' | '*' | '/' | '%' | 'in'
export type UnaryOp = '!' | '-'
export type LiteralValue =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'bytes'; readonly value: string }
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'double'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'null'; readonly value: null }

/** The parsed filter. Sugar (`and`, `not`, infix `contains`...) is already desugared to CEL. */
export type Expr =
  | { readonly kind: 'literal'; readonly lit: LiteralValue; readonly span: Span }
  | { readonly kind: 'ident'; readonly name: string; readonly span: Span }
  | { readonly kind: 'select'; readonly operand: Expr; readonly field: string; readonly span: Span }
  | { readonly kind: 'index'; readonly operand: Expr; readonly index: Expr; readonly span: Span }
  | {
      readonly kind: 'call'
      readonly target: Expr | null
      readonly fn: string
      readonly fnSpan: Span
      readonly args: readonly Expr[]
      readonly span: Span
    }
  | { readonly kind: 'list'; readonly elements: readonly Expr[]; readonly span: Span }
  | {
      readonly kind: 'map'
      readonly entries: readonly { readonly key: Expr; readonly value: Expr }[]
      readonly span: Span
    }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly operand: Expr; readonly span: Span }
  | {
      readonly kind: 'binary'
      readonly op: BinaryOp
      readonly left: Expr
      readonly right: Expr
      readonly opSpan: Span
      readonly span: Span
    }
  | {
      readonly kind: 'cond'
      readonly cond: Expr
      readonly then: Expr
      readonly otherwise: Expr
      readonly span: Span
    }
