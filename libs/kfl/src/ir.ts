import type { Span } from './errors.js'
import type { KType } from './types.js'

export type CmpOp = 'lt' | 'le' | 'gt' | 'ge'
export type ArithOp = 'add' | 'sub' | 'mul' | 'div' | 'mod'
export type CompKind = 'all' | 'exists' | 'exists_one' | 'filter' | 'map'

/**
 * The checked, typed program: aliases resolved, sugar and macros expanded, constant regexes and
 * literal timestamps/durations validated. The compiler turns it into closures.
 */
export type IR = { readonly type: KType; readonly span: Span } & (
  | { readonly op: 'const'; readonly value: unknown }
  | { readonly op: 'var'; readonly name: string }
  | { readonly op: 'local'; readonly slot: number }
  | { readonly op: 'not' | 'neg'; readonly x: IR }
  | { readonly op: 'and' | 'or'; readonly a: IR; readonly b: IR }
  | { readonly op: 'cond'; readonly c: IR; readonly t: IR; readonly e: IR }
  | { readonly op: 'eq' | 'ne'; readonly a: IR; readonly b: IR; readonly primitive: boolean }
  | { readonly op: CmpOp; readonly a: IR; readonly b: IR; readonly primitive: boolean }
  | {
      readonly op: ArithOp
      readonly a: IR
      readonly b: IR
      readonly mode: 'int' | 'double' | 'concat' | 'dyn'
    }
  | {
      readonly op: 'in'
      readonly a: IR
      readonly b: IR
      readonly container: 'list' | 'map' | 'dyn'
      readonly primitive: boolean
    }
  | {
      readonly op: 'index'
      readonly x: IR
      readonly i: IR
      readonly container: 'list' | 'map' | 'dyn'
    }
  | { readonly op: 'call'; readonly fn: string; readonly args: readonly IR[] }
  | { readonly op: 'regex'; readonly x: IR; readonly re: RegExp }
  | { readonly op: 'list'; readonly items: readonly IR[] }
  | { readonly op: 'map'; readonly entries: readonly (readonly [IR, IR])[] }
  | {
      readonly op: 'comp'
      readonly kind: CompKind
      readonly range: IR
      readonly slot: number
      readonly body: IR
    }
  | { readonly op: 'present'; readonly x: IR }
)
