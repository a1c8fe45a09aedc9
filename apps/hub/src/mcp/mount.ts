import type { Hono } from 'hono'
import type { McpHttpHandler } from '@modelcontextprotocol/server'
import { createMcpHandler } from '@modelcontextprotocol/server'
import type { RouteDef } from '../routes/route-defs.js'
import { createMcpServer } from './mcp-server.js'

export interface MountMcpOptions {
  /** The route definitions; one tool per entry (pass ROUTES). */
  routes: readonly RouteDef[]
  /** Server version announced to clients. */
  version?: string
  /**
   * Absolute URL the hub is reached at (e.g. behind an ingress), for download links. Default: the
   * origin of the MCP request itself.
   */
  baseUrl?: string
  log?: (msg: string) => void
}

const wantsEventStream = (accept: string | undefined): boolean =>
  accept !== undefined &&
  accept.includes('text/event-stream') &&
  !accept.includes('application/json')

/**
 * Registers the Model Context Protocol endpoint on the hub's app:
 *
 * - `POST /mcp`: Streamable HTTP, stateless. The v2 SDK's handler serves 2026-07-28 requests and,
 *   through its stateless legacy fallback, 2025-era clients (`initialize` + calls). A fresh
 *   McpServer per request: no sessions, no state, so any replica can answer any request.
 * - `GET /mcp`: stays the spec's discovery document. Only a 2025 client's GET for a standalone
 *   SSE stream (Accept: text/event-stream without JSON) is answered 405, which the transport spec
 *   defines as "no server-initiated stream here"; anything else falls through to discovery.
 * - `DELETE /mcp`: 405 (no sessions to end).
 *
 * Call it BEFORE `app.get('/mcp', discovery)` so the SSE guard runs first, and after the auth
 * middleware so `POST /mcp` needs the bearer token like every other route. Tool calls run the REST
 * routes in-process through `app.request` with the caller's Authorization header, so REST and MCP
 * validate, authorize and answer identically.
 */
export function mountMcp(app: Hono, opts: MountMcpOptions): McpHttpHandler {
  const version = opts.version ?? '0.1.0'
  const handler = createMcpHandler(
    (ctx) => {
      const req = ctx.requestInfo
      return createMcpServer({
        routes: opts.routes,
        rest: (path, init) => app.request(path, init),
        version,
        authorization: req?.headers.get('authorization') ?? undefined,
        baseUrl: opts.baseUrl ?? (req ? new URL(req.url).origin : 'http://127.0.0.1:8898'),
      })
    },
    {
      legacy: 'stateless',
      // Tools answer in one piece (no progress notifications): plain JSON is simplest for proxies.
      responseMode: 'json',
      onerror: (e) => opts.log?.(`mcp: ${e.message}`),
    }
  )

  app.get('/mcp', async (c, next) => {
    if (!wantsEventStream(c.req.header('accept'))) return next()
    c.header('Allow', 'GET, POST')
    return c.json(
      {
        error: {
          code: 'METHOD_NOT_ALLOWED',
          message:
            'this MCP endpoint has no server-initiated SSE stream; POST JSON-RPC messages to /mcp',
        },
      },
      405
    )
  })
  app.post('/mcp', (c) => handler.fetch(c.req.raw))
  app.delete('/mcp', (c) => {
    c.header('Allow', 'GET, POST')
    return c.json(
      {
        error: {
          code: 'METHOD_NOT_ALLOWED',
          message: 'stateless MCP endpoint: there is no session to delete',
        },
      },
      405
    )
  })
  return handler
}
