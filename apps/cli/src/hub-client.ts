/** A failed hub request: the hub's own error (code + message), or a transport failure. */
export class HubError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'HubError'
    this.status = status
    this.code = code
  }
}

export interface HubOptions {
  /** Base URL of the hub, e.g. http://127.0.0.1:8898 (a path prefix is kept). */
  hub: string
  token?: string | undefined
}

/** The hub URL for an API path, keeping any prefix of the base (an ingress path). */
export function hubUrl(
  opts: HubOptions,
  path: string,
  query?: Record<string, string | number | undefined>
): URL {
  const base = opts.hub.endsWith('/') ? opts.hub : `${opts.hub}/`
  const url = new URL(path.replace(/^\//, ''), base)
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v))
  return url
}

export const authHeaders = (opts: HubOptions): Record<string, string> =>
  opts.token ? { authorization: `Bearer ${opts.token}` } : {}

/** Turns a non-2xx answer into a HubError carrying the hub's message (or the status text). */
export async function errorFrom(res: Response): Promise<HubError> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
    if (body.error && typeof body.error.message === 'string') {
      return new HubError(
        res.status,
        typeof body.error.code === 'string' ? body.error.code : `HTTP_${res.status}`,
        body.error.message
      )
    }
  } catch {
    // not JSON: fall through
  }
  return new HubError(
    res.status,
    `HTTP_${res.status}`,
    text.trim().slice(0, 500) || res.statusText || `HTTP ${res.status}`
  )
}

export async function hubFetch(
  opts: HubOptions,
  url: URL,
  init: RequestInit = {}
): Promise<Response> {
  try {
    return await fetch(url, {
      ...init,
      headers: { ...authHeaders(opts), ...(init.headers as Record<string, string> | undefined) },
    })
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause
    throw unreachable(url, cause?.code ?? cause?.message ?? (e as Error).message)
  }
}

/** A transport failure: the hub at `url` could not be reached (`why`: an errno code or message). */
export const unreachable = (url: URL, why: string): HubError =>
  new HubError(0, 'UNREACHABLE', `cannot reach the hub at ${url.origin}: ${why}`)

/** One JSON request to the hub; throws HubError on any failure. */
export async function hubJson(
  opts: HubOptions,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  params: {
    query?: Record<string, string | number | undefined>
    body?: Record<string, unknown>
  } = {}
): Promise<unknown> {
  const res = await hubFetch(opts, hubUrl(opts, path, params.query), {
    method,
    headers: {
      accept: 'application/json',
      ...(params.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(params.body ? { body: JSON.stringify(params.body) } : {}),
  })
  if (!res.ok) throw await errorFrom(res)
  const text = await res.text()
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
