import type { Context, MiddlewareHandler } from 'hono'
import { ApiError, ErrorCode } from '../errors.js'
import type { RouteDef } from '../routes/route-defs.js'
import type { Identity, Role, TokenSet } from './tokens.js'
import { roleAllows } from './tokens.js'

/** Paths the kubelet probes without a token. */
const OPEN_PATHS = new Set(['/healthz', '/readyz'])

/** Without tokens (the local stack on loopback) every caller is the local admin. */
const LOCAL: Identity = { name: 'local', role: 'admin' }

const routeRe = (path: string): RegExp => new RegExp(`^${path.replace(/:[a-z_]+/g, '[^/]+')}$`)

/** The role a request needs: from its route definition, else viewer for reads and admin for writes. */
export function requiredRole(routes: readonly RouteDef[], method: string, path: string): Role {
  for (const r of routes) {
    if (r.method === method && routeRe(r.path).test(path)) return r.role ?? (r.method === 'GET' ? 'viewer' : 'admin')
  }
  // /mcp (tool calls carry the caller's token to the routes, which check their own role),
  // /metrics and anything unknown (answered 404 afterwards) need an authenticated viewer.
  return 'viewer'
}

export function identityOf(c: Context): Identity {
  return (c.get('identity' as never) as Identity | undefined) ?? LOCAL
}

/** Bearer authentication and role checks: 401 without a valid token, 403 for the wrong role. */
export function authMiddleware(tokens: TokenSet, routes: readonly RouteDef[]): MiddlewareHandler {
  return async function auth(c, next) {
    if (!tokens.enabled || OPEN_PATHS.has(c.req.path)) return next()
    const m = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')
    const who = m ? tokens.lookup(m[1]!) : undefined
    if (!who) {
      c.header('WWW-Authenticate', 'Bearer realm="tapwire"')
      throw new ApiError(401, ErrorCode.UNAUTHORIZED, 'missing or invalid bearer token')
    }
    const need = requiredRole(routes, c.req.method, c.req.path)
    if (!roleAllows(who.role, need)) {
      throw new ApiError(403, ErrorCode.FORBIDDEN, `${c.req.method} ${c.req.path} needs the ${need} role; this token has ${who.role}`, { need, have: who.role })
    }
    c.set('identity' as never, who as never)
    return next()
  }
}
