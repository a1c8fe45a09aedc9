import type { Context, Hono } from 'hono'
import { ApiError, ErrorCode } from '../errors.js'
import type { NodeRegistry } from '../nodes/node-registry.js'
import { validateBody, validateQuery } from '../routes/params.js'
import { LIST_DISSECTIONS_PARAMS, START_DISSECTION_PARAMS } from '../routes/route-defs.js'
import { checkName } from '../snapshots/validate.js'
import type { DissectionManager } from './dissection-manager.js'
import { jobDetails, jobSummary } from './dissection-manager.js'

export interface DissectionRoutesDeps {
  dissections?: DissectionManager | undefined
  registry: NodeRegistry
}

type Audit = (c: Context, action: string) => void

function manager(deps: DissectionRoutesDeps): DissectionManager {
  if (!deps.dissections)
    throw new ApiError(
      503,
      ErrorCode.NOT_CONFIGURED,
      'delayed dissection is not available on this hub'
    )
  return deps.dissections
}

/** Delayed dissection jobs (`/mcp/dissections`) and the database list (`/mcp/databases`). */
export function mountDissections(app: Hono, deps: DissectionRoutesDeps, audit: Audit): void {
  app.post('/mcp/dissections', async (c) => {
    let body: unknown
    try {
      body = await c.req.json()
    } catch {
      throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be a JSON object')
    }
    const b = validateBody(START_DISSECTION_PARAMS, body)
    const snapshot = checkName('snapshot', b.snapshot)
    const name = checkName('dissection', b.name)
    const j = await manager(deps).start(snapshot, name)
    audit(c, `dissection start ${snapshot}/${name}`)
    return c.json(
      { success: true, snapshot, name, status: j.status === 'running' ? 'pending' : j.status },
      201
    )
  })

  app.get('/mcp/dissections', (c) => {
    const q = validateQuery(LIST_DISSECTIONS_PARAMS, c.req.queries())
    if (q.snapshot !== undefined) checkName('snapshot', q.snapshot)
    return c.json({ dissections: manager(deps).list(q.snapshot).map(jobSummary) })
  })

  app.get('/mcp/dissections/:snapshot/:name', (c) => {
    validateQuery([], c.req.queries())
    return c.json(jobDetails(manager(deps).get(c.req.param('snapshot'), c.req.param('name'))))
  })

  app.post('/mcp/dissections/:snapshot/:name/stop', async (c) => {
    // No body parameters: an empty body is fine, anything else must be an empty object.
    const text = await c.req.text()
    if (text.trim() !== '') {
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be a JSON object')
      }
      validateBody([], body)
    }
    const snapshot = c.req.param('snapshot')
    const name = c.req.param('name')
    const j = await manager(deps).stop(snapshot, name)
    audit(c, `dissection stop ${snapshot}/${name}`)
    return c.json({ success: true, snapshot, name, status: j.status })
  })

  app.delete('/mcp/dissections/:snapshot/:name', async (c) => {
    validateQuery([], c.req.queries())
    const snapshot = c.req.param('snapshot')
    const name = c.req.param('name')
    await manager(deps).delete(snapshot, name)
    audit(c, `dissection delete ${snapshot}/${name}`)
    return c.json({ success: true, snapshot, name })
  })

  app.get('/mcp/databases', (c) => {
    validateQuery([], c.req.queries())
    const realtime = deps.registry.all().map((r) => ({
      type: 'realtime',
      node: r.status.node ?? '',
      entry_count: Number(r.status.stats?.entriesPublished ?? 0),
      first_ts: r.status.entriesOldestTs ?? 0,
      last_ts: r.status.entriesNewestTs ?? 0,
    }))
    const delayed = (deps.dissections?.list() ?? []).map((j) => ({
      type: 'dissection',
      snapshot: j.snapshot,
      name: j.name,
      entry_count: j.stats.entries_created,
      status: j.status,
      first_ts: j.first_ts ?? 0,
      last_ts: j.last_ts ?? 0,
    }))
    return c.json({ databases: [...realtime, ...delayed] })
  })
}
