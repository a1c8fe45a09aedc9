/** Stable error codes: the hub turns them into 400 responses, assistants and tests match on them. */
export type KflErrorCode =
  | 'KFL_SYNTAX'
  | 'KFL_TYPE'
  | 'KFL_UNKNOWN_VARIABLE'
  | 'KFL_UNKNOWN_FUNCTION'
  | 'KFL_BAD_REGEX'
  | 'KFL_BAD_ARGUMENT'
  | 'KFL_TOO_COMPLEX'

/** Half-open `[start, end)` UTF-16 offsets into the filter source. */
export type Span = readonly [start: number, end: number]

/** A filter that cannot be compiled. Everything `compile` throws is a KflError. */
export class KflError extends Error {
  readonly code: KflErrorCode
  readonly span: Span
  readonly hint: string | undefined

  constructor(code: KflErrorCode, message: string, span: Span, hint?: string) {
    super(message)
    this.name = 'KflError'
    this.code = code
    this.span = span
    this.hint = hint
  }

  toJSON(): { code: KflErrorCode; message: string; span: [number, number]; hint?: string } {
    const out = {
      code: this.code,
      message: this.message,
      span: [this.span[0], this.span[1]] as [number, number],
    }
    return this.hint === undefined ? out : { ...out, hint: this.hint }
  }
}

/**
 * A runtime failure of one evaluation (integer division by zero, a bad regex built at run time, an
 * out-of-range list index). The entry simply does not match, as in CEL where errors are not values.
 */
export class KflEvalError extends Error {
  readonly code = 'KFL_EVAL'
  constructor(message: string) {
    super(message)
    this.name = 'KflEvalError'
  }
}
