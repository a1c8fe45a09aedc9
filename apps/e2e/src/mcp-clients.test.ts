import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as HttpV2,
} from '@modelcontextprotocol/client'
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport as HttpV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { freePort, tempDir, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { agentProcess, CLI_MAIN, startHub, startNatsServer } from './stack.js'
import type { HubHandle } from './stack.js'

const run = promisify(execFile)
const ADMIN = 'e2e-admin-token-0123456789'
// Secrets the captured traffic carries (headers, JSON body, query string, a JWT): none may reach
// the hub's answers, MCP answers, drill-down, or any log.
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2VjcmV0LXNpZ25hdHVyZS14eXo'
const SECRETS = ['pw-hunter2-e2e', 'sk_live_e2e_42', JWT, 'qs-token-e2e-77', 'cookie-e2e-sid']

/** MCP over the real stack: real SDK clients (v2, v1, and v2 over the stdio bridge). */
describe('MCP clients against the real hub', () => {
  const dir = tempDir('tapwire-e2e-mcp-')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  let port = 0
  const auth = { Authorization: `Bearer ${ADMIN}` }

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats, ['--auth-token', ADMIN])
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.writeHead(req.url?.includes('fail') ? 500 : 200)
        res.end('done')
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    agent = agentProcess('agent', [
      '--interface',
      'lo',
      '--bpf',
      `tcp port ${port}`,
      '--nats',
      nats.url,
      '--node',
      'mcp-node',
      '--data-dir',
      join(dir.path, 'agent'),
      '--port',
      String(await freePort()),
      '--host',
      '127.0.0.1',
    ])
    await agent.waitFor(/capturing on lo/)
    for (let i = 0; i < 12; i++)
      await fetch(`http://127.0.0.1:${port}/${i % 4 === 0 ? 'fail' : 'ok'}/${i}`).then((r) =>
        r.text()
      )
    await fetch(`http://127.0.0.1:${port}/login?token=qs-token-e2e-77`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${JWT}`,
        'x-api-key': 'sk_live_e2e_42',
        cookie: 'sid=cookie-e2e-sid',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ user: 'bob', password: 'pw-hunter2-e2e' }),
    }).then((r) => r.text())
    await until('13 calls', async () => {
      const r = await fetch(`${hub.url}/mcp/calls?limit=1`, { headers: auth })
      return ((await r.json()) as { total: number }).total >= 13
    })
    await new Promise<void>((r) => server.close(() => r()))
  })

  afterAll(async () => {
    await agent?.stop()
    await hub?.process.stop()
    await nats?.dispose()
    dir.dispose()
  })

  const failing = (structured: any) => (structured.calls as any[]).map((c) => c.path).sort()

  it('v2 client: lists the tools, queries with KFL, snapshots, and follows the export link to a pcap tshark reads', async () => {
    const client = new ClientV2({ name: 'e2e-v2', version: '1' })
    await client.connect(new HttpV2(new URL(`${hub.url}/mcp`), { requestInit: { headers: auth } }))
    const tools = (await client.listTools()).tools.map((t) => t.name)
    expect(tools).toEqual(
      expect.arrayContaining([
        'list_api_calls',
        'get_api_call_details',
        'create_snapshot',
        'export_snapshot_pcap',
      ])
    )
    const calls = (await client.callTool({
      name: 'list_api_calls',
      arguments: { kfl: 'http and response.status == 500', limit: 50 },
    })) as any
    expect(calls.isError).toBeFalsy()
    expect(failing(calls.structuredContent)).toEqual(['/fail/0', '/fail/4', '/fail/8'])
    // As an assistant would: ask what raw capture exists before freezing a window of it.
    await until(
      'ring boundaries in the heartbeats',
      async () => {
        const b = (await client.callTool({ name: 'get_data_boundaries', arguments: {} })) as any
        return b.structuredContent?.cluster?.newest_ts > 0
      },
      30_000,
      300
    )
    const created = (await client.callTool({
      name: 'create_snapshot',
      arguments: { name: 'mcp-incident', duration: '5m' },
    })) as any
    expect(created.isError, JSON.stringify(created.structuredContent)).toBeFalsy()
    await until(
      'snapshot completed',
      async () => {
        const g = (await client.callTool({
          name: 'get_snapshot',
          arguments: { name: 'mcp-incident' },
        })) as any
        return g.structuredContent?.status === 'completed' ? g : undefined
      },
      60_000,
      300
    )
    const exported = (await client.callTool({
      name: 'export_snapshot_pcap',
      arguments: { name: 'mcp-incident' },
    })) as any
    const link = exported.content.find((c: any) => c.type === 'resource_link')
    expect(link.mimeType).toBe('application/vnd.tcpdump.pcap')
    const res = await fetch(link.uri, { headers: auth })
    expect(res.status).toBe(200)
    const file = join(dir.path, 'mcp-incident.pcap')
    await writeFile(file, Buffer.from(await res.arrayBuffer()))
    const { stdout } = await run('tshark', [
      '-n',
      '-r',
      file,
      '-d',
      `tcp.port==${port},http`,
      '-Y',
      'http.request',
      '-T',
      'fields',
      '-e',
      'http.request.uri',
    ])
    // The export holds the raw packets (admin only): the 12 calls and the /login one.
    const uris = stdout.trim().split('\n')
    expect(uris.filter((u) => !u.startsWith('/login')).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `/${i % 4 === 0 ? 'fail' : 'ok'}/${i}`).sort()
    )
    await client.close()
  })

  it('redacts secrets before they leave the node: no answer, drill-down, MCP result or log holds one', async () => {
    const texts: string[] = []
    for (const format of ['compact', 'full', 'raw']) {
      texts.push(
        await (
          await fetch(`${hub.url}/mcp/calls?limit=1000&format=${format}`, { headers: auth })
        ).text()
      )
    }
    const login = (
      (await (
        await fetch(
          `${hub.url}/mcp/calls?format=full&kfl=${encodeURIComponent('path == "/login"')}`,
          { headers: auth }
        )
      ).json()) as any
    ).calls[0]
    expect(login.req_headers.authorization).toBe('[REDACTED]')
    expect(login.req_body).toContain('"password":"[REDACTED]"')
    const details = await fetch(`${hub.url}/mcp/tools/get_api_call_details`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ id: login.id, node_id: login.node_id }),
    })
    texts.push(await details.text())
    const client = new ClientV2({ name: 'e2e-redaction', version: '1' })
    await client.connect(new HttpV2(new URL(`${hub.url}/mcp`), { requestInit: { headers: auth } }))
    texts.push(
      JSON.stringify(
        await client.callTool({
          name: 'list_api_calls',
          arguments: { format: 'full', limit: 1000 },
        })
      )
    )
    texts.push(
      JSON.stringify(
        await client.callTool({
          name: 'get_api_call_details',
          arguments: { id: login.id, node_id: login.node_id },
        })
      )
    )
    await client.close()
    texts.push(hub.process.output, agent.output)
    const all = texts.join('\n')
    expect(all).toContain('[REDACTED]')
    for (const secret of SECRETS) expect(all, secret).not.toContain(secret)
  })

  it('v1 SDK client: the same query gives the same calls', async () => {
    const client = new ClientV1({ name: 'e2e-v1', version: '1' })
    await client.connect(new HttpV1(new URL(`${hub.url}/mcp`), { requestInit: { headers: auth } }))
    expect((await client.listTools()).tools.length).toBeGreaterThan(10)
    const calls = (await client.callTool({
      name: 'list_api_calls',
      arguments: { kfl: 'http && status_code == 500' },
    })) as any
    expect(failing(calls.structuredContent)).toEqual(['/fail/0', '/fail/4', '/fail/8'])
    await client.close()
  })

  it('the stdio bridge carries the same session for a stdio-only client', async () => {
    const client = new ClientV2({ name: 'e2e-stdio', version: '1' })
    await client.connect(
      new StdioV2({
        command: process.execPath,
        args: [CLI_MAIN, 'mcp', '--hub', hub.url, '--token', ADMIN],
        env: { PATH: process.env.PATH ?? '' },
      })
    )
    const calls = (await client.callTool({
      name: 'list_api_calls',
      arguments: { kfl: 'request.path contains "/fail/"' },
    })) as any
    expect(failing(calls.structuredContent)).toEqual(['/fail/0', '/fail/4', '/fail/8'])
    const snaps = (await client.callTool({ name: 'list_snapshots', arguments: {} })) as any
    expect(snaps.structuredContent.snapshots.map((s: any) => s.name)).toContain('mcp-incident')
    await client.close()
  })
})
