import { parseDuration } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'

/** Snapshot and dissection names: one safe path segment, no traversal, no hidden files. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/
export const NAME_EXPECTED =
  'a name of 1-63 characters: lowercase letters, digits, . _ - (starting with a letter or digit)'

export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_PARAMETER,
      `invalid ${kind} name ${JSON.stringify(name)}: expected ${NAME_EXPECTED}`,
      {
        param: 'name',
        value: name,
        expected: NAME_EXPECTED,
      }
    )
  }
  return name
}

/** The longest window a snapshot may cover (a ring holds far less in practice). */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000
/** How far into the future `end` may reach (a forward capture). */
export const MAX_FORWARD_MS = 3_600_000

export function checkDuration(text: unknown): number {
  let ms: number
  try {
    if (typeof text !== 'string') throw new Error('not a string')
    ms = parseDuration(text)
  } catch {
    throw new ApiError(
      400,
      ErrorCode.INVALID_PARAMETER,
      `invalid duration ${JSON.stringify(text)}: expected a Go-style duration such as 30m, 1h, 2h30m`,
      {
        param: 'duration',
        value: text,
        expected: 'a duration such as 30m, 1h, 2h30m',
      }
    )
  }
  if (ms <= 0 || ms > MAX_DURATION_MS) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_PARAMETER,
      `invalid duration ${JSON.stringify(text)}: must be more than 0 and at most 168h`,
      {
        param: 'duration',
        value: text,
      }
    )
  }
  return ms
}

/** Go-style rendering of a window length (1h, 30m, 2h30m, 1m30s, 250ms). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s'
  if (ms < 1000) return `${Math.round(ms)}ms`
  let s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  s -= h * 3600
  const m = Math.floor(s / 60)
  s -= m * 60
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s'
}

export interface Boundaries {
  cluster: { oldest_ts: number; newest_ts: number }
  nodes: { name: string; oldest_ts: number; newest_ts: number }[]
}

export interface WindowInput {
  duration?: string | undefined
  start?: number | undefined
  end?: number | undefined
}

/**
 * The snapshot window: the last `duration` up to now by default; `start`/`end` (Unix ms) pin it;
 * an `end` in the future captures forward. The window must overlap the data the rings hold (or,
 * for a forward capture, reach past now): otherwise 400 with the boundaries, so the caller can fix it.
 */
export function resolveWindow(
  input: WindowInput,
  boundaries: Boundaries,
  now: number
): { start: number; end: number; durationMs: number } {
  const dur = input.duration !== undefined ? checkDuration(input.duration) : undefined
  if (dur === undefined && (input.start === undefined || input.end === undefined)) {
    throw new ApiError(
      400,
      ErrorCode.MISSING_PARAMETER,
      'missing duration: expected a duration such as 30m, 1h (or both start and end)',
      {
        param: 'duration',
      }
    )
  }
  const end =
    input.end ?? (input.start !== undefined && dur !== undefined ? input.start + dur : now)
  const start = input.start ?? end - dur!
  const details = { start, end, boundaries }
  if (start > end)
    throw new ApiError(
      400,
      ErrorCode.INVALID_TIME_RANGE,
      `start (${start}) is after end (${end})`,
      details
    )
  if (end - start > MAX_DURATION_MS)
    throw new ApiError(400, ErrorCode.INVALID_TIME_RANGE, 'the window is longer than 168h', details)
  if (end > now + MAX_FORWARD_MS) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_TIME_RANGE,
      `end is more than ${MAX_FORWARD_MS / 60_000} minutes in the future`,
      details
    )
  }
  if (start > now)
    throw new ApiError(400, ErrorCode.INVALID_TIME_RANGE, 'start is in the future', details)
  const { oldest_ts: oldest, newest_ts: newest } = boundaries.cluster
  const forward = end > now
  if (oldest === 0 && newest === 0 && !forward) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_TIME_RANGE,
      'no node holds any raw capture yet',
      details
    )
  }
  if (!forward && (end < oldest || start > newest)) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_TIME_RANGE,
      `the window ${start}..${end} is outside the captured data (${oldest}..${newest}); see /mcp/data-boundaries`,
      details
    )
  }
  return { start, end, durationMs: end - start }
}
