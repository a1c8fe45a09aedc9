import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import type { RouteDef } from '../routes/route-defs.js'
import { stringParam } from '../routes/params.js'
import { mountMcp } from './mount.js'
import { originAllowed } from './origin.js'
import type { TestHub } from './test-hub.js'
import { startTestHub } from './test-hub.js'

let hub: TestHub
beforeAll(async () => {
  hub = await startTestHub()
})
afterAll(async () => {
  await hub.close()
})

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'curl', version: '0' },
  },
}
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${hub.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  })

describe('GET /mcp stays the discovery document', () => {
  it('answers the spec document to plain GETs', async () => {
    for (const accept of ['application/json', '*/*', 'application/json, text/event-stream']) {
      const res = await fetch(`${hub.url}/mcp`, { headers: { accept } })
      expect(res.status).toBe(200)
      const body = (await res.json()) as any
      expect(body.endpoints.some((e: any) => e.path === '/mcp/calls')).toBe(true)
    }
  })

  it("answers 405 to a 2025 client's GET for a server-initiated SSE stream, and to DELETE", async () => {
    const sse = await fetch(`${hub.url}/mcp`, { headers: { accept: 'text/event-stream' } })
    expect(sse.status).toBe(405)
    expect(sse.headers.get('allow')).toBe('GET, POST')
    expect((await fetch(`${hub.url}/mcp`, { method: 'DELETE' })).status).toBe(405)
  })
})

describe('Origin check on /mcp', () => {
  it('allows no Origin, localhost and same-origin; rejects others with 403', async () => {
    const host = new URL(hub.url).host
    expect((await post(INIT)).status).toBe(200)
    expect((await post(INIT, { origin: 'http://localhost:6274' })).status).toBe(200)
    expect((await post(INIT, { origin: `http://${host}` })).status).toBe(200)
    const evil = await post(INIT, { origin: 'https://evil.example' })
    expect(evil.status).toBe(403)
    expect(((await evil.json()) as any).error.code).toBe('ORIGIN_NOT_ALLOWED')
    expect((await post(INIT, { origin: 'null' })).status).toBe(403)
    expect(
      (await fetch(`${hub.url}/mcp`, { headers: { origin: 'https://evil.example' } })).status
    ).toBe(403)
  })

  it('originAllowed rules', () => {
    expect(originAllowed(undefined, 'hub:8898')).toBe(true)
    expect(originAllowed('http://127.0.0.1:9999', 'hub:8898')).toBe(true)
    expect(originAllowed('http://[::1]:3000', 'hub:8898')).toBe(true)
    expect(originAllowed('https://hub:8898', 'hub:8898')).toBe(true)
    expect(originAllowed('https://hub:8899', 'hub:8898')).toBe(false)
    expect(originAllowed('https://localhost.evil.example', 'hub:8898')).toBe(false)
    expect(originAllowed('file://', 'hub:8898')).toBe(false)
    expect(
      originAllowed('https://console.example', 'hub:8898', {
        allowedOrigins: ['https://console.example'],
      })
    ).toBe(true)
  })
})

describe('wire level', () => {
  it('serves a 2026-07-28 request without initialize (headers + _meta envelope)', async () => {
    const res = await post(
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'list_api_calls',
          arguments: { kfl: 'status_code == 500', limit: 1 },
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientCapabilities': {},
            'io.modelcontextprotocol/clientInfo': { name: 'curl', version: '0' },
          },
        },
      },
      {
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'list_api_calls',
      }
    )
    expect(res.status).toBe(200)
    const body = (await res.json()) as any
    expect(body.result.structuredContent).toMatchObject({ total: 3, truncated: true })
    expect(body.result.structuredContent.calls[0].id).toBe('node-0/110/0')
  })

  it('serves a 2025 initialize statelessly (no session id)', async () => {
    const res = await post(INIT)
    expect(res.status).toBe(200)
    expect(res.headers.get('mcp-session-id')).toBeNull()
    const text = await res.text()
    expect(text).toContain('"protocolVersion":"2025-11-25"')
  })
})

describe('export_snapshot_pcap', () => {
  // Stand-in snapshot routes (the real ones land in ROUTES separately): the tool must link, not embed.
  const routes: RouteDef[] = [
    {
      method: 'GET',
      path: '/mcp/snapshots/:name',
      description: 'Get snapshot',
      tool: 'get_snapshot',
      input: 'query',
      params: [],
    },
    {
      method: 'GET',
      path: '/mcp/snapshots/:name/pcap',
      description: 'Export snapshot as PCAP',
      tool: 'export_snapshot_pcap',
      input: 'query',
      params: [stringParam('kfl', 'Filter', 100)],
    },
  ]
  let url: string
  let close: () => void
  beforeAll(async () => {
    const app = new Hono()
    mountMcp(app, { routes, baseUrl: 'https://hub.example/tapwire' })
    app.get('/mcp/snapshots/:name', (c) =>
      c.req.param('name') === 'inc-1'
        ? c.json({ name: 'inc-1', status: 'completed', size_bytes: 1234 })
        : c.json(
            { error: { code: 'NOT_FOUND', message: `no snapshot ${c.req.param('name')}` } },
            404
          )
    )
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise((r) => server.once('listening', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
    close = () => server.close()
  })
  afterAll(() => close())

  it('returns a resource_link to the download URL, and an error for an unknown snapshot', async () => {
    const client = new Client({ name: 't', version: '1' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    const r = (await client.callTool({
      name: 'export_snapshot_pcap',
      arguments: { name: 'inc-1', kfl: 'http' },
    })) as any
    expect(r.isError).toBeFalsy()
    const link = r.content.find((c: any) => c.type === 'resource_link')
    expect(link).toMatchObject({
      uri: 'https://hub.example/tapwire/mcp/snapshots/inc-1/pcap?kfl=http',
      mimeType: 'application/vnd.tcpdump.pcap',
      name: 'inc-1.pcap',
    })
    expect(r.structuredContent).toMatchObject({
      name: 'inc-1',
      uri: link.uri,
      snapshot: { size_bytes: 1234 },
    })
    const missing = (await client.callTool({
      name: 'export_snapshot_pcap',
      arguments: { name: 'nope' },
    })) as any
    expect(missing.isError).toBe(true)
    expect(missing.structuredContent.error.code).toBe('NOT_FOUND')
    await client.close()
  })
})
