import { compile, KflError } from '@tapwire/kfl'
import { ApiError, ErrorCode } from './errors.js'
import type { CallFilter } from './routes/calls.js'

/**
 * Compiles a KFL filter for /mcp/calls once per query. A syntax or type error is a 400 that
 * names the position (`span`, [start, end) offsets) and, where one exists, a fix (`hint`).
 */
export function compileKflFilter(kfl: string): CallFilter | undefined {
  try {
    const c = compile(kfl)
    if (c.ast === null) return undefined
    return { predicate: c.predicate, protocols: c.protocolHint }
  } catch (e) {
    if (e instanceof KflError) {
      const { code, span, hint } = e.toJSON()
      throw new ApiError(400, ErrorCode.INVALID_KFL, e.message, { kfl_code: code, span, ...(hint ? { hint } : {}) })
    }
    throw e
  }
}
