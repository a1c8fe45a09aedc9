import { Hono } from 'hono'
import { ApiError, ErrorCode } from './errors.js'
import type { Context } from 'hono'
import type { AgentGateway } from './agents/agent-gateway.js'
import type { DissectionControl } from './control/dissection-control.js'
import type { NodeRegistry } from './nodes/node-registry.js'
import type { CallsDeps } from './routes/calls.js'
import { mountCalls } from './routes/calls.js'
import { mountDetails } from './routes/details.js'
import { mountDissection } from './routes/dissection.js'
import { mountFlows } from './routes/flows.js'
import { mountResolve } from './resolver/routes.js'
import type { Resolver } from './resolver/index.js'
import type { DissectionManager } from './dissections/dissection-manager.js'
import { mountDissections } from './dissections/routes.js'
import type { SnapshotManager } from './snapshots/snapshot-manager.js'
import { mountSnapshots } from './snapshots/routes.js'
import { discoveryDocument } from './routes/discovery.js'
import { mcpOriginGuard, mountMcp } from './mcp/index.js'
import { authMiddleware, identityOf } from './auth/middleware.js'
import { TokenSet } from './auth/tokens.js'
import { ROUTES } from './routes/route-defs.js'

export const HUB_VERSION = '0.1.0'

export interface AppDeps extends CallsDeps {
  /** When set, every route but /healthz and /readyz needs `Authorization: Bearer <token>` (admin). */
  authToken?: string | undefined
  /** Viewer and admin tokens (takes precedence over authToken). */
  tokens?: TokenSet | undefined
  ready: () => boolean
  metrics: () => string
  log?: (msg: string) => void
  /** Hub → agent requests (drill-down, flows); absent in tests without NATS. */
  agents?: AgentGateway | undefined
  control?: DissectionControl | undefined
  resolver?: Resolver | undefined
  /** A snapshot's stored workload table, for /mcp/resolve/*?snapshot_id=. */
  snapshotResolution?: ((snapshot: string) => Promise<unknown[] | undefined>) | undefined
  /** The hub's external URL (behind an ingress), for links in MCP answers. */
  publicUrl?: string | undefined
  registry: NodeRegistry
  /** Snapshots and delayed dissection; absent in tests that do not need them (routes answer 503). */
  snapshots?: SnapshotManager | undefined
  dissections?: DissectionManager | undefined
}

/** One line per state-changing action, with the caller's identity and address. */
export function auditLine(deps: Pick<AppDeps, 'log'>, c: Context, action: string): void {
  const who = identityOf(c)
  const from = c.req.header('x-forwarded-for') ?? 'direct'
  deps.log?.(`audit: ${action} by ${who.name} (${who.role}) from ${from}`)
}


/** The hub's HTTP surface (the spec's REST endpoints), testable in-process with app.request(). */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono()

  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.toJSON(), err.status)
    deps.log?.(`internal error on ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`)
    return c.json(new ApiError(500, ErrorCode.INTERNAL, 'internal error').toJSON(), 500)
  })
  app.notFound((c) => {
    const known = ROUTES.some((r) => r.path === c.req.path)
    const err = known
      ? new ApiError(405, ErrorCode.METHOD_NOT_ALLOWED, `${c.req.method} is not allowed on ${c.req.path}`)
      : new ApiError(404, ErrorCode.NOT_FOUND, `no route for ${c.req.method} ${c.req.path}; GET /mcp lists the endpoints`)
    return c.json(err.toJSON(), err.status)
  })

  app.use('*', authMiddleware(deps.tokens ?? TokenSet.load({ adminToken: deps.authToken }), ROUTES))

  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', (c) =>
    deps.ready() ? c.json({ status: 'ready' }) : c.json(new ApiError(503, ErrorCode.NOT_READY, 'replaying the entry stream').toJSON(), 503)
  )
  app.get('/metrics', (c) => c.text(deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4' }))
  // MCP over Streamable HTTP on POST /mcp (registered before GET /mcp so an SSE-only GET gets its
  // 405 from the MCP side); plain GET /mcp stays the spec's discovery document.
  app.use('/mcp', mcpOriginGuard())
  mountMcp(app, { routes: ROUTES, version: HUB_VERSION, log: deps.log, baseUrl: deps.publicUrl })
  app.get('/mcp', (c) => c.json(discoveryDocument(ROUTES, HUB_VERSION)))
  mountCalls(app, deps)
  mountDetails(app, deps)
  mountDissection(app, deps, (c, action) => auditLine(deps, c, action))
  mountFlows(app, deps)
  mountResolve(app, deps)
  mountSnapshots(
    app,
    {
      get snapshots() {
        return deps.snapshots
      },
      store: deps.store,
      compileFilter: deps.compileFilter,
      snapshotDb: (name) => deps.dissections?.snapshotDb(name) ?? Promise.resolve(undefined),
      log: deps.log,
    },
    (c, action) => auditLine(deps, c, action)
  )
  mountDissections(
    app,
    {
      get dissections() {
        return deps.dissections
      },
      registry: deps.registry,
    },
    (c, action) => auditLine(deps, c, action)
  )
  return app
}
