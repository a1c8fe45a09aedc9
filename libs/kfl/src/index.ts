/**
 * @module @tapwire/kfl
 * KFL, the filter language of /mcp/calls: CEL (KFL2) plus the spec documents' sugar and aliases,
 * type-checked against the dissectors' field catalogue and compiled to a predicate over entries.
 */
export { compile } from './kfl.js'
export type { CompileOptions, CompiledFilter } from './kfl.js'
export { parse, LIMITS } from './parser.js'
export { print } from './printer.js'
export { KflError, KflEvalError } from './errors.js'
export type { KflErrorCode, Span } from './errors.js'
export type { Expr, BinaryOp, UnaryOp, LiteralValue } from './ast.js'
export { ALIASES } from './aliases.js'
export { ENTRY_SELF, PROTOCOL_FLAGS } from './entry-env.js'
