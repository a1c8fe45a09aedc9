import type { ContentfulStatusCode } from 'hono/utils/http-status'

/**
 * Every error the hub answers with: `{ "error": { "code", "message", "details" } }`, a 4xx for bad
 * input and 5xx only for real faults. Codes are stable; messages are for people (and models).
 */
export const ErrorCode = {
  INVALID_PARAMETER: 'INVALID_PARAMETER',
  UNKNOWN_PARAMETER: 'UNKNOWN_PARAMETER',
  MISSING_PARAMETER: 'MISSING_PARAMETER',
  INVALID_TIME_RANGE: 'INVALID_TIME_RANGE',
  INVALID_BODY: 'INVALID_BODY',
  INVALID_KFL: 'INVALID_KFL',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  DATABASE_NOT_FOUND: 'DATABASE_NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  ORIGIN_NOT_ALLOWED: 'ORIGIN_NOT_ALLOWED',
  NODE_UNAVAILABLE: 'NODE_UNAVAILABLE',
  NOT_READY: 'NOT_READY',
  ENTRY_NOT_FOUND: 'ENTRY_NOT_FOUND',
  NOT_CONFIGURED: 'NOT_CONFIGURED',
  AGENT_TIMEOUT: 'AGENT_TIMEOUT',
  INTERNAL: 'INTERNAL',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

export class ApiError extends Error {
  readonly status: ContentfulStatusCode
  readonly code: ErrorCode
  readonly details: Record<string, unknown> | undefined

  constructor(status: ContentfulStatusCode, code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
  }

  toJSON(): { error: { code: string; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } }
  }
}
