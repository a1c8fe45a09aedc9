import { createServer, request, Agent as HttpAgent } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, sleep, tempDir, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { agentProcess, startHub, startNatsServer } from './stack.js'
import type { HubHandle } from './stack.js'

describe('hub killed with SIGKILL during ingest', () => {
  const dir = tempDir('tapwire-e2e-kill-')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  let agentPort = 0
  let port = 0
  let server: ReturnType<typeof createServer>

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    agentPort = await freePort()
    agent = agentProcess('agent', [
      '--interface', 'lo', '--bpf', `tcp port ${port}`, '--nats', nats.url, '--node', 'kill-node',
      '--data-dir', join(dir.path, 'agent'), '--port', String(agentPort), '--host', '127.0.0.1',
    ])
    await agent.waitFor(/capturing on lo/)
  })

  afterAll(async () => {
    await agent?.stop()
    await hub?.process.stop()
    await nats?.dispose()
    await new Promise<void>((r) => server.close(() => r()))
    dir.dispose()
  })

  it('keeps every entry published before and after, exactly once', async () => {
    const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 4 })
    const one = (i: number) =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: `/k/${i}`, agent: keepAlive }, (res) => {
          res.resume()
          res.on('end', resolve)
        })
        req.on('error', reject)
        req.end()
      })
    const total = 600
    let sent = 0
    // Traffic runs on while the hub dies and comes back (bounded: `total` requests).
    const traffic = (async () => {
      for (; sent < total; sent++) {
        await one(sent)
        if (sent % 50 === 0) await sleep(20)
      }
    })()
    await until('the hub ingesting', async () => (await hub.get('/mcp/calls?limit=1')).body.total > 100, 30_000, 20)
    hub.process.signal('SIGKILL')
    await hub.process.wait(10_000)
    expect(sent).toBeLessThan(total)
    await sleep(300)
    hub = await startHub(nats)
    await traffic
    keepAlive.destroy()
    const metric = async () => {
      const text = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text()
      return Number(/^tapwire_agent_entries_published_total (\d+)/m.exec(text)?.[1] ?? NaN)
    }
    await until('every request published', async () => (await metric()) === total, 30_000)
    const calls = await until(
      'every entry in the restarted hub',
      async () => {
        const r = await hub.get(`/mcp/calls?limit=1000&kfl=${encodeURIComponent('path.startsWith("/k/")')}`)
        return r.body.total >= total ? r.body : undefined
      },
      30_000
    )
    expect(calls.total).toBe(total)
    const ids = new Set(calls.calls.map((c: any) => c.id))
    expect(ids.size).toBe(total)
    const paths = new Set(calls.calls.map((c: any) => c.path))
    expect(paths.size).toBe(total)
  })
})
