import type { MiddlewareHandler } from 'hono'

export interface OriginGuardOptions {
  /** Extra origins allowed to call, exactly as browsers send them (`https://console.example.com`). */
  allowedOrigins?: readonly string[]
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])

/** Whether a browser page at `origin` may call an endpoint reached as `host` (the Host header). */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  opts: OriginGuardOptions = {}
): boolean {
  // Non-browser clients (SDKs, curl, the CLI) send no Origin: authentication covers them.
  if (origin === undefined) return true
  if (opts.allowedOrigins?.includes(origin)) return true
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false // includes the opaque "null" origin of sandboxed frames and file: pages
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  if (LOOPBACK.has(url.hostname) || url.hostname.endsWith('.localhost')) return true
  return host !== undefined && url.host.toLowerCase() === host.toLowerCase()
}

/**
 * The MCP transport spec's Origin check (a DNS-rebinding defence): a browser page from another
 * origin must not drive the MCP endpoint with the user's network position. Missing Origin,
 * same-origin and localhost pages are allowed; everything else gets 403.
 */
export function mcpOriginGuard(opts: OriginGuardOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header('origin')
    if (!originAllowed(origin, c.req.header('host'), opts)) {
      return c.json(
        {
          error: {
            code: 'ORIGIN_NOT_ALLOWED',
            message: `requests from origin ${origin} are not allowed`,
            details: { origin },
          },
        },
        403
      )
    }
    await next()
  }
}
