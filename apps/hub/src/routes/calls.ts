import type { Hono } from 'hono'
import type { Entry } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'
import { formatCall } from '../format/call-format.js'
import type { EntryStore } from '../store/entry-store.js'
import { validateQuery } from './params.js'
import { CALLS_PARAMS } from './route-defs.js'

export interface CallFilter {
  predicate: (e: Entry) => boolean
  protocols?: ReadonlySet<string> | undefined
}

export interface CallsDeps {
  store: EntryStore
  /** Compiles a KFL filter; throws ApiError(400, INVALID_KFL) on a bad one. */
  compileFilter: (kfl: string) => CallFilter | undefined
  /** A delayed-dissection database `<snapshot>/<dissection>`; undefined when there is none. */
  lookupDb?: ((db: string) => Promise<EntryStore | undefined>) | undefined
}

/** GET /mcp/calls (tool list_api_calls). */
export function mountCalls(app: Hono, deps: CallsDeps): void {
  app.get('/mcp/calls', async (c) => {
    const q = validateQuery(CALLS_PARAMS, c.req.queries())
    const limit = q.limit ?? 100
    const format = (q.format ?? 'compact')
    if (q.start !== undefined && q.end !== undefined && q.start > q.end) {
      throw new ApiError(400, ErrorCode.INVALID_TIME_RANGE, `start (${q.start}) is after end (${q.end})`, {
        start: q.start,
        end: q.end,
      })
    }
    let store = deps.store
    if (q.db !== undefined) {
      const db = await deps.lookupDb?.(q.db)
      if (db === undefined) throw new ApiError(404, ErrorCode.DATABASE_NOT_FOUND, `no dissection database '${q.db}'`, { db: q.db })
      store = db
    }
    const filter = q.kfl !== undefined && q.kfl.trim() !== '' ? deps.compileFilter(q.kfl) : undefined
    const base = { start: q.start, end: q.end, predicate: filter?.predicate, protocols: filter?.protocols }
    if (q.group_by === undefined) {
      const { items, total } = store.query({ ...base, limit })
      return c.json({ calls: items.map((e) => formatCall(e, format)), total, truncated: total > items.length })
    }
    // Grouped: every match is counted per group; each group lists its newest `limit` calls.
    const by = q.group_by
    // ns groups by the server's namespace, else the client's (a column of the store's segments).
    const grouped = store.groupQuery({ ...base, limit }, by)
    let total = 0
    let truncated = false
    const out = [...grouped.entries()]
      .sort((a, b) => b[1].total - a[1].total || a[0].localeCompare(b[0]))
      .map(([key, g]) => {
        total += g.total
        if (g.total > g.items.length) truncated = true
        return { key, total: g.total, calls: g.items.map((e) => formatCall(e, format)) }
      })
    return c.json({ group_by: by, groups: out, total, truncated })
  })
}
