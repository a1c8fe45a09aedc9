import { describe, expect, it } from 'vitest'
import type { Entry } from '@tapwire/wire'
import { createApp } from './app.js'
import { compileKflFilter } from './kfl-filter.js'
import { ROUTES } from './routes/route-defs.js'
import { NodeRegistry } from './nodes/node-registry.js'
import { EntryStore } from './store/entry-store.js'

function entry(i: number, over: Partial<Entry> = {}): Entry {
  return {
    id: `n${i % 2}/${100 + (i % 5)}/${i}`,
    node: `n${i % 2}`,
    worker: `w${i % 3}`,
    ts: 1_700_000_000_000 + i * 1000,
    proto: 'http',
    method: i % 4 === 0 ? 'POST' : 'GET',
    path: `/api/${i}`,
    status: i % 10 === 0 ? 500 : 200,
    elapsedUs: 1500,
    src: { ip: '10.0.0.1', port: 40000 + i },
    dst: { ip: '10.0.0.2', port: 8080, ns: i % 2 ? 'backend' : '' },
    ...over,
  }
}

function appWith(n: number, authToken?: string) {
  const store = new EntryStore({ segmentSize: 16 })
  for (let i = 0; i < n; i++) store.add(entry(i))
  return createApp({ store, compileFilter: compileKflFilter, ready: () => true, metrics: () => 'm 1\n', authToken, registry: new NodeRegistry() })
}

const get = async (app: ReturnType<typeof appWith>, path: string, init?: RequestInit) => {
  const res = await app.request(path, init)
  return { status: res.status, body: (await res.json()) as any }
}

describe('GET /mcp/calls', () => {
  it('returns the newest calls first with total and truncated', async () => {
    const { status, body } = await get(appWith(250), '/mcp/calls?limit=3')
    expect(status).toBe(200)
    expect(body.total).toBe(250)
    expect(body.truncated).toBe(true)
    expect(body.calls.map((c: any) => c.path)).toEqual(['/api/249', '/api/248', '/api/247'])
    expect(body.calls[0]).toEqual({
      id: 'n1/104/249',
      ts: 1_700_000_249_000,
      src: { ip: '10.0.0.1', port: 40249 },
      dst: { ip: '10.0.0.2', port: 8080, ns: 'backend' },
      proto: 'http',
      method: 'GET',
      path: '/api/249',
      status: 200,
      latency_ms: 1.5,
    })
  })

  it('defaults to 100 and is not truncated when everything fits', async () => {
    expect((await get(appWith(250), '/mcp/calls')).body.calls).toHaveLength(100)
    const small = await get(appWith(5), '/mcp/calls')
    expect(small.body).toMatchObject({ total: 5, truncated: false })
  })

  it('selects the [start, end] window in Unix ms', async () => {
    const { body } = await get(appWith(50), '/mcp/calls?start=1700000010000&end=1700000019000&limit=1000')
    expect(body.total).toBe(10)
    expect(body.calls.map((c: any) => c.path).at(-1)).toBe('/api/10')
  })

  it('has a full format with the spec fields', async () => {
    const { body } = await get(appWith(3), '/mcp/calls?format=full&limit=1')
    expect(Object.keys(body.calls[0])).toEqual(
      expect.arrayContaining(['conn_id', 'node_id', 'flow_id', 'req_headers', 'resp_headers', 'req_body', 'resp_body', 'req_size', 'resp_size', 'worker'])
    )
    expect(body.calls[0].node_id).toBe('n0')
  })

  it('groups by node with totals', async () => {
    const { body } = await get(appWith(11), '/mcp/calls?group_by=node&limit=2')
    expect(body.total).toBe(11)
    expect(body.groups.map((g: any) => [g.key, g.total, g.calls.length])).toEqual([
      ['n0', 6, 2],
      ['n1', 5, 2],
    ])
    expect(body.truncated).toBe(true)
  })

  it.each([
    ['limit=0', 'INVALID_PARAMETER', 'limit'],
    ['limit=5000', 'INVALID_PARAMETER', 'limit'],
    ['limit=abc', 'INVALID_PARAMETER', 'limit'],
    ['limit=1.5', 'INVALID_PARAMETER', 'limit'],
    ['limit=', 'INVALID_PARAMETER', 'limit'],
    ['format=xml', 'INVALID_PARAMETER', 'format'],
    ['group_by=pod', 'INVALID_PARAMETER', 'group_by'],
    ['start=yesterday', 'INVALID_PARAMETER', 'start'],
    ['start=2000&end=1000', 'INVALID_TIME_RANGE', undefined],
    ['limit=1&limit=2', 'INVALID_PARAMETER', 'limit'],
    ['colour=red', 'UNKNOWN_PARAMETER', 'colour'],
    ['db=../../etc', 'INVALID_PARAMETER', 'db'],
  ])('rejects %s with 400 %s', async (query, code, param) => {
    const { status, body } = await get(appWith(3), `/mcp/calls?${query}`)
    expect(status).toBe(400)
    expect(body.error.code).toBe(code)
    expect(body.error.message).toEqual(expect.any(String))
    if (param) expect(body.error.details.param).toBe(param)
  })

  it('filters with KFL in both syntaxes', async () => {
    const sugar = await get(appWith(100), `/mcp/calls?kfl=${encodeURIComponent('http and response.status == 500')}&limit=1000`)
    expect(sugar.status).toBe(200)
    expect(sugar.body.total).toBe(10)
    expect(sugar.body.calls.every((c: any) => c.status === 500)).toBe(true)
    const cel = await get(appWith(100), `/mcp/calls?kfl=${encodeURIComponent('http && method == "POST" && dst.ns == "backend"')}`)
    expect(cel.body.total).toBe(0) // POSTs are even ids, backend is odd ids
    const cel2 = await get(appWith(100), `/mcp/calls?kfl=${encodeURIComponent('method == "POST" && status_code >= 500')}`)
    expect(cel2.body.calls.map((c: any) => c.path).sort()).toEqual(['/api/0', '/api/20', '/api/40', '/api/60', '/api/80'])
  })

  it('answers a bad filter with 400 INVALID_KFL naming the span and a hint', async () => {
    const { status, body } = await get(appWith(3), `/mcp/calls?kfl=${encodeURIComponent('statuscode == 200')}`)
    expect(status).toBe(400)
    expect(body.error.code).toBe('INVALID_KFL')
    expect(body.error.details.span).toEqual([0, 10])
    expect(body.error.details.hint).toMatch(/status_code/)
    const typed = await get(appWith(3), `/mcp/calls?kfl=${encodeURIComponent('status_code == "200"')}`)
    expect(typed.body.error.details.kfl_code).toBe('KFL_TYPE')
  })

  it('answers an unknown dissection database with 404', async () => {
    const { status, body } = await get(appWith(3), '/mcp/calls?db=incident-1/full')
    expect(status).toBe(404)
    expect(body.error.code).toBe('DATABASE_NOT_FOUND')
  })
})

describe('routing, discovery and auth', () => {
  it('answers unknown paths and methods with JSON errors', async () => {
    const nf = await get(appWith(1), '/nope')
    expect(nf.status).toBe(404)
    expect(nf.body.error.code).toBe('NOT_FOUND')
    const bad = await get(appWith(1), '/mcp/calls', { method: 'DELETE' })
    expect(bad.status).toBe(405)
    expect(bad.body.error.code).toBe('METHOD_NOT_ALLOWED')
  })

  it('generates discovery from the route definitions', async () => {
    const { body } = await get(appWith(1), '/mcp')
    expect(body.name).toEqual(expect.any(String))
    const calls = body.endpoints.find((e: any) => e.path === '/mcp/calls')
    expect(calls.method).toBe('GET')
    expect(calls.params.map((p: any) => p.name)).toEqual(ROUTES[0]!.params.map((p) => p.name))
    expect(body.endpoints.map((e: any) => `${e.method} ${e.path}`)).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`))
    expect(calls.params.find((p: any) => p.name === 'limit')).toMatchObject({ type: 'int', default: 100 })
  })

  it('needs the bearer token everywhere but the probes when one is set', async () => {
    const app = appWith(2, 's3cret')
    expect((await app.request('/healthz')).status).toBe(200)
    expect((await app.request('/readyz')).status).toBe(200)
    const denied = await get(app, '/mcp/calls')
    expect(denied.status).toBe(401)
    expect(denied.body.error.code).toBe('UNAUTHORIZED')
    expect((await app.request('/mcp/calls', { headers: { authorization: 'Bearer wrong!' } })).status).toBe(401)
    expect((await app.request('/mcp/calls', { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200)
  })
})
