import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client as ClientV2 } from '@modelcontextprotocol/client'
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio'
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js'
import { startTestHub } from '../../hub/src/mcp/test-hub.js'

type Hub = Awaited<ReturnType<typeof startTestHub>>

// The bridge is tested as the real executable a desktop MCP client would launch: the CLI's
// sources are compiled on their own (they import nothing but Node) into a temporary directory.
let hub: Hub
let dir: string
let main: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapwire-cli-'))
  const src = new URL('./main.ts', import.meta.url).pathname
  const tsc = new URL('../../../node_modules/typescript/bin/tsc', import.meta.url).pathname
  await promisify(execFile)(process.execPath, [
    tsc,
    src,
    '--outDir',
    dir,
    '--module',
    'nodenext',
    '--target',
    'es2022',
    '--strict',
    '--skipLibCheck',
    '--types',
    'node',
  ])
  main = join(dir, 'main.js')
  hub = await startTestHub({ authToken: 'bridge-token' })
}, 120_000)
afterAll(async () => {
  await hub?.close()
  await rm(dir, { recursive: true, force: true })
})

const params = () => ({
  command: process.execPath,
  args: [main, 'mcp', '--hub', hub.url],
  env: { TAPWIRE_TOKEN: 'bridge-token', PATH: process.env['PATH'] ?? '' },
  stderr: 'pipe' as const,
})

describe('tapwire mcp (stdio bridge)', () => {
  it.each([
    ['v2 client, 2025 handshake', () => new ClientV2({ name: 'stdio', version: '1' })],
    [
      'v2 client, 2026-07-28',
      () =>
        new ClientV2(
          { name: 'stdio', version: '1' },
          { versionNegotiation: { mode: { pin: '2026-07-28' } } }
        ),
    ],
  ])('%s: lists tools and calls list_api_calls through the bridge', async (_label, make) => {
    const client = make()
    await client.connect(new StdioV2(params()))
    const { tools } = await client.listTools()
    expect(tools.map((t) => t.name)).toContain('list_api_calls')
    const r = (await client.callTool({
      name: 'list_api_calls',
      arguments: { kfl: 'http && status_code >= 500', limit: 2 },
    })) as any
    expect(r.isError).toBeFalsy()
    expect(r.structuredContent).toMatchObject({ total: 3, truncated: true })
    expect(r.structuredContent.calls.map((c: any) => c.id)).toEqual([
      'node-0/110/0',
      'node-1/105/0',
    ])
    const bad = (await client.callTool({ name: 'list_api_calls', arguments: { kfl: '((' } })) as any
    expect(bad.isError).toBe(true)
    await client.close()
  })

  it('v1 client: lists tools, prompts and calls a tool', async () => {
    const client = new ClientV1({ name: 'stdio', version: '1' })
    await client.connect(new StdioV1(params()))
    expect((await client.listTools()).tools.length).toBeGreaterThan(0)
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toContain('find_errors')
    const r = (await client.callTool({ name: 'list_api_calls', arguments: { limit: 1 } })) as any
    expect(r.structuredContent.calls).toHaveLength(1)
    await client.close()
  })

  it('forwards the token: a wrong one is refused by the hub before any tool runs', async () => {
    const client = new ClientV2({ name: 'stdio', version: '1' })
    await expect(
      client.connect(new StdioV2({ ...params(), env: { TAPWIRE_TOKEN: 'wrong', PATH: process.env['PATH'] ?? '' } }))
    ).rejects.toThrow(/UNAUTHORIZED|401/)
    await client.close()
  })

  it('a non-JSON-RPC hub answer becomes a JSON-RPC error carrying the hub message', async () => {
    const client = new ClientV2({ name: 'stdio', version: '1' })
    const p = { ...params(), args: [main, 'mcp', '--hub', `${hub.url}/no-such-prefix`] }
    await expect(client.connect(new StdioV2(p))).rejects.toThrow(
      /HTTP 404: no route for POST \/no-such-prefix\/mcp/
    )
    await client.close()
  })
})
