import { ApiError, ErrorCode } from './errors.js'
import type { CallFilter } from './routes/calls.js'

/**
 * Compiles a KFL filter for /mcp/calls. Until libs/kfl is wired in, any non-empty filter is
 * refused with a clear 400 rather than silently ignored.
 */
export function compileKflFilter(kfl: string): CallFilter | undefined {
  throw new ApiError(400, ErrorCode.INVALID_KFL, `KFL filters are not available yet (got '${kfl.slice(0, 80)}')`)
}
