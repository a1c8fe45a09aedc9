import type { Context, Hono } from 'hono'
import type { DissectionControl } from '../control/dissection-control.js'
import { ApiError, ErrorCode } from '../errors.js'

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
  app.get('/mcp/dissection', async (c) => c.json({ enabled: await control().enabled() }))
  for (const enabled of [true, false]) {
    app.post(`/mcp/dissection/${enabled ? 'enable' : 'disable'}`, async (c) => {
      await control().set(enabled)
      audit(c, `dissection ${enabled ? 'enabled' : 'disabled'}`)
      return c.json({ success: true, enabled })
    })
  }
}
