import type { Context, Hono } from 'hono'
import type { DissectionControl } from '../control/dissection-control.js'
import { ApiError, ErrorCode } from '../errors.js'
import { validateBody, validateQuery } from './params.js'

export interface DissectionDeps {
  /** Read per request: the hub fills it in once NATS is connected. */
  control?: DissectionControl | undefined
}

/** GET /mcp/dissection, POST /mcp/dissection/enable|disable: one switch for every agent. */
export function mountDissection(app: Hono, deps: DissectionDeps, audit: (c: Context, action: string) => void): void {
  const control = (): DissectionControl => {
    if (!deps.control) throw new ApiError(503, ErrorCode.NOT_CONFIGURED, 'the hub has no control store')
    return deps.control
  }
  app.get('/mcp/dissection', async (c) => {
    validateQuery([], c.req.queries())
    return c.json({ enabled: await control().enabled() })
  })
  for (const enabled of [true, false]) {
    app.post(`/mcp/dissection/${enabled ? 'enable' : 'disable'}`, async (c) => {
      // No parameters; an empty body or {} is fine, anything else is refused like every route.
      const text = await c.req.text()
      if (text.trim() !== '') {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be JSON')
        }
        validateBody([], body)
      }
      await control().set(enabled)
      audit(c, `dissection ${enabled ? 'enabled' : 'disabled'}`)
      return c.json({ success: true, enabled })
    })
  }
}
