import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, sleep, tempDir, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { agentProcess, startHub, startNatsServer, stopStack } from '../stack.js'
import type { HubHandle } from '../stack.js'
import { http1Load, scrapeMetrics, startEchoServer } from '@tapwire/testing'

interface Call {
  id: string
  path: string
}

/** Every call stored under `prefix` (the hub pages at 1000; these runs stay below that). */
async function calls(hub: HubHandle, prefix: string): Promise<{ total: number; calls: Call[] }> {
  const kfl = encodeURIComponent(`path.startsWith("${prefix}")`)
  return (await hub.get(`/mcp/calls?limit=1000&kfl=${kfl}`)).body
}

/** Ring segment files (once the PCAP ring is wired into the agent): name → size. */
function ringFiles(dataDir: string): Map<string, number> {
  const ring = join(dataDir, 'ring')
  const out = new Map<string, number>()
  if (!existsSync(ring)) return out
  for (const f of readdirSync(ring)) out.set(f, statSync(join(ring, f)).size)
  return out
}

// An agent killed with SIGKILL and started again on the same data dir: entry ids come from
// ids/id-allocator.ts, whose high-water mark is on disk before an id of its block is used, so no
// id is ever reused and the entries of both lives are all in the hub.
describe('agent killed with SIGKILL and restarted on the same data dir', () => {
  const dir = tempDir('tapwire-e2e-agent-kill-')
  const dataDir = join(dir.path, 'agent')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess | undefined
  let server: Awaited<ReturnType<typeof startEchoServer>>
  let metricsUrl = ''
  let agentPort = 0

  const startAgent = async (): Promise<TestProcess> => {
    const p = agentProcess('agent', [
      '--interface',
      'lo',
      '--bpf',
      `tcp port ${server.port}`,
      '--nats',
      nats.url,
      '--node',
      'kill-agent-node',
      '--data-dir',
      dataDir,
      '--port',
      String(agentPort),
      '--host',
      '127.0.0.1',
    ])
    await p.waitFor(/capturing on lo/)
    return p
  }

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    server = await startEchoServer('ok')
    agentPort = await freePort()
    metricsUrl = `http://127.0.0.1:${agentPort}/metrics`
    agent = await startAgent()
  })

  afterAll(() => stopStack({ agent, hub, nats, servers: [server], dir }))

  it('reuses no entry id, keeps the entries of both lives, advances the id high-water mark', async () => {
    const first = await http1Load({
      port: server.port,
      rate: 200,
      seconds: 2,
      connections: 4,
      prefix: '/life-1/',
    })
    expect(first.completed).toBe(first.sent)
    await until(
      'first life published',
      async () => (await scrapeMetrics(metricsUrl)).entries_published_total! >= first.completed,
      30_000
    )
    const highWater1 = Number(readFileSync(join(dataDir, 'id-high-water'), 'utf8'))
    const ring1 = ringFiles(dataDir)

    // A burst in flight at the moment of the kill: its entries may be lost (the outbound queue is
    // in memory), but whatever reached the hub must keep its id.
    const burst = http1Load({
      port: server.port,
      rate: 400,
      seconds: 1,
      connections: 4,
      prefix: '/life-kill/',
    })
    await sleep(500)
    agent!.signal('SIGKILL')
    expect(await agent!.wait(10_000)).toBeNull()
    await burst
    agent = await startAgent()

    const second = await http1Load({
      port: server.port,
      rate: 200,
      seconds: 2,
      connections: 4,
      prefix: '/life-2/',
    })
    expect(second.completed).toBe(second.sent)
    await until(
      'second life published',
      // >=: idle generator connections that close without a byte add connection-level tcp entries.
      async () => (await scrapeMetrics(metricsUrl)).entries_published_total! >= second.completed,
      30_000
    )
    const highWater2 = Number(readFileSync(join(dataDir, 'id-high-water'), 'utf8'))

    const a = (await until(
      'first life in the hub',
      async () =>
        (await calls(hub, '/life-1/')).total === first.completed
          ? calls(hub, '/life-1/')
          : undefined,
      30_000
    ))
    const b = (await until(
      'second life in the hub',
      async () =>
        (await calls(hub, '/life-2/')).total === second.completed
          ? calls(hub, '/life-2/')
          : undefined,
      30_000
    ))
    const k = await calls(hub, '/life-kill/')
    const ids = [...a.calls, ...k.calls, ...b.calls].map((c) => c.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(new Set(a.calls.map((c) => c.path)).size).toBe(first.completed)
    expect(new Set(b.calls.map((c) => c.path)).size).toBe(second.completed)
    // The restart reserved a fresh block above the one the killed agent held.
    expect(highWater2).toBeGreaterThan(highWater1)
    const flowIds = (cs: Call[]) => cs.map((c) => Number(c.id.split('/')[1]))
    expect(Math.min(...flowIds(b.calls))).toBeGreaterThanOrEqual(highWater1)
    // Ring segments written before the kill are still there, at least as long (the ring only
    // appends and rotates); checked once the ring is wired into the agent.
    const ring2 = ringFiles(dataDir)
    for (const [name, size] of ring1)
      if (ring2.has(name)) expect(ring2.get(name)!).toBeGreaterThanOrEqual(size)
    console.log(
      `agent SIGKILL: life 1 ${first.completed}/${a.total}, in flight at the kill ${k.total}/${(await burst).completed} kept, life 2 ${second.completed}/${b.total}; id high-water ${highWater1} → ${highWater2}; ring files ${ring1.size}`
    )
  })
})
