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
  FORBIDDEN: 'FORBIDDEN',
  ORIGIN_NOT_ALLOWED: 'ORIGIN_NOT_ALLOWED',
  NODE_UNAVAILABLE: 'NODE_UNAVAILABLE',
  NOT_READY: 'NOT_READY',
  SNAPSHOT_NOT_FOUND: 'SNAPSHOT_NOT_FOUND',
  ENTRY_NOT_FOUND: 'ENTRY_NOT_FOUND',
  NOT_CONFIGURED: 'NOT_CONFIGURED',
  AGENT_TIMEOUT: 'AGENT_TIMEOUT',
  INTERNAL: 'INTERNAL',
  /** 409: a snapshot or dissection of that name exists already. */
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** 409: the resource is in a state that forbids the action (in progress, in use by a dissection). */
  CONFLICT: 'CONFLICT',
  /** 409: no node has raw capture enabled. */
  RAW_CAPTURE_DISABLED: 'RAW_CAPTURE_DISABLED',
  /** 409: classic pcap needs one link type; the nodes differ (use format=pcapng). */
  LINK_TYPE_MISMATCH: 'LINK_TYPE_MISMATCH',
  /** 507: the snapshot storage quota (--snapshot-quota) is used up. */
  INSUFFICIENT_STORAGE: 'INSUFFICIENT_STORAGE',
  /** 416: a Range header outside the export. */
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
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
