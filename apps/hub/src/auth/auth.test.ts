import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createApp } from '../app.js'
import { compileKflFilter } from '../kfl-filter.js'
import { NodeRegistry } from '../nodes/node-registry.js'
import { ROUTES } from '../routes/route-defs.js'
import { EntryStore } from '../store/entry-store.js'
import { parseTokensFile, TokenFileError, TokenSet } from './tokens.js'
import { requiredRole } from './middleware.js'

const VIEWER = 'viewer-token-0123456789'
const ADMIN = 'admin-token-0123456789ab'

function app(log: string[] = []) {
  const store = new EntryStore()
  store.add({ id: 'n1/1/0', node: 'n1', ts: 1, proto: 'http', method: 'GET', path: '/x', status: 200 })
  const state = { on: true }
  return createApp({
    store,
    compileFilter: compileKflFilter,
    ready: () => true,
    metrics: () => '',
    registry: new NodeRegistry(),
    tokens: new TokenSet([
      { token: VIEWER, name: 'dashboards', role: 'viewer' },
      { token: ADMIN, name: 'oncall', role: 'admin' },
    ]),
    control: { enabled: () => Promise.resolve(state.on), set: (v) => Promise.resolve(void (state.on = v)) },
    log: (m) => log.push(m),
  })
}

/** A request for a route with its path parameters filled in. */
function requestFor(route: (typeof ROUTES)[number], token?: string): [string, RequestInit] {
  const path = route.path.replace(/:([a-z_]+)/g, 'auth-matrix')
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  if (route.method === 'GET' || route.method === 'DELETE') return [path, { method: route.method, headers }]
  return [path, { method: route.method, headers: { ...headers, 'content-type': 'application/json' }, body: '{}' }]
}

describe('auth matrix: every route × {no token, bad token, viewer, admin}', () => {
  const a = app()
  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', async (_name, route) => {
    const need = requiredRole(ROUTES, route.method, route.path.replace(/:([a-z_]+)/g, 'x'))
    const none = await a.request(...requestFor(route))
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/)
    expect(((await none.json()) as any).error.code).toBe('UNAUTHORIZED')
    expect((await a.request(...requestFor(route, 'not-a-token'))).status).toBe(401)
    const viewer = await a.request(...requestFor(route, VIEWER))
    if (need === 'admin') {
      expect(viewer.status).toBe(403)
      expect(((await viewer.json()) as any).error.code).toBe('FORBIDDEN')
    } else {
      expect([401, 403]).not.toContain(viewer.status)
    }
    const admin = await a.request(...requestFor(route, ADMIN))
    expect([401, 403]).not.toContain(admin.status)
  })

  it('keeps the probes open and protects /metrics and /mcp', async () => {
    expect((await a.request('/healthz')).status).toBe(200)
    expect((await a.request('/readyz')).status).toBe(200)
    expect((await a.request('/metrics')).status).toBe(401)
    expect((await a.request('/mcp')).status).toBe(401)
    expect((await a.request('/mcp', { headers: { authorization: `Bearer ${VIEWER}` } })).status).toBe(200)
  })

  it('gives queries to viewers and control to admins, with audit lines naming them', async () => {
    expect(requiredRole(ROUTES, 'GET', '/mcp/calls')).toBe('viewer')
    expect(requiredRole(ROUTES, 'POST', '/mcp/tools/get_api_call_details')).toBe('viewer')
    expect(requiredRole(ROUTES, 'POST', '/mcp/dissection/disable')).toBe('admin')
    expect(requiredRole(ROUTES, 'GET', '/mcp/snapshots/incident-1/pcap')).toBe('admin')
    expect(requiredRole(ROUTES, 'GET', '/mcp/snapshots/incident-1')).toBe('viewer')
    expect(requiredRole(ROUTES, 'POST', '/mcp/snapshots')).toBe('admin')
    const log: string[] = []
    const b = app(log)
    const r = await b.request('/mcp/dissection/disable', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'x-forwarded-for': '10.9.8.7' } })
    expect(r.status).toBe(200)
    expect(log).toContain('audit: dissection disabled by oncall (admin) from 10.9.8.7')
  })
})

describe('tokens', () => {
  it('reads a tokens file and rejects malformed lines and short tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapwire-tokens-'))
    try {
      const file = join(dir, 'tokens')
      writeFileSync(file, `# mounted secret\nviewer grafana ${VIEWER}\n\nadmin alice ${ADMIN}\n`)
      const set = TokenSet.load({ tokensFile: file })
      expect(set.lookup(VIEWER)).toEqual({ name: 'grafana', role: 'viewer' })
      expect(set.lookup(ADMIN)).toEqual({ name: 'alice', role: 'admin' })
      expect(set.lookup(ADMIN.slice(0, -1))).toBeUndefined()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    expect(() => parseTokensFile('root alice 0123456789abcdef0')).toThrow(TokenFileError)
    expect(() => parseTokensFile('admin alice short')).toThrow(/shorter than 16/)
    expect(new TokenSet([]).enabled).toBe(false)
  })
})
