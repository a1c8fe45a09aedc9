import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent as HttpAgent } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordLoopback, tempDir, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { agentProcess, startHub, startNatsServer } from './stack.js'
import type { HubHandle } from './stack.js'

interface Made {
  method: string
  url: string
  status: number
  srcPort: number
}

interface Call {
  id: string
  ts: number
  src: { ip: string; port: number }
  dst: { ip: string; port: number }
  proto: string
  method: string
  path: string
  status: number
  latency_ms: number
}

/** One request with Node's http client; resolves with what a capture should show. */
function send(port: number, method: string, url: string, body: string | undefined, agent: HttpAgent | false): Promise<Made> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: url, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume()
      res.on('end', () => resolve({ method, url, status: res.statusCode ?? 0, srcPort: req.socket?.localPort ?? 0 }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const key = (c: { method: string; path: string; status: number; port: number }) => `${c.method} ${c.path} ${c.status} ${c.port}`

describe('capture → dissect → NATS → hub → /mcp/calls', () => {
  const dir = tempDir('tapwire-e2e-')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  const made: Made[] = []
  let serverPort = 0
  let t0 = 0
  let t1 = 0
  const pcap = join(dir.path, 'traffic.pcap')

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        const path = req.url ?? '/'
        const status = path.startsWith('/missing') ? 404 : path.startsWith('/fail') ? 500 : req.method === 'POST' ? 201 : 200
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok: status < 400, path }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    serverPort = (server.address() as AddressInfo).port
    agent = agentProcess('agent', [
      '--interface', 'lo', '--bpf', `tcp port ${serverPort}`, '--nats', nats.url,
      '--node', 'e2e-live', '--data-dir', join(dir.path, 'agent-live'), '--port', '0',
    ])
    await agent.waitFor(/capturing on lo/)
    t0 = Date.now()
    await recordLoopback(pcap, `tcp port ${serverPort}`, async () => {
      const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 4 })
      const methods = ['GET', 'POST', 'PUT', 'DELETE']
      const jobs: Promise<Made>[] = []
      for (let i = 0; i < 220; i++) {
        const method = methods[i % 4]!
        const url = i % 37 === 5 ? `/missing/${i}` : i % 41 === 7 ? `/fail/${i}` : `/api/items/${i}?page=${i % 7}&q=a%20b`
        const body = method === 'POST' || method === 'PUT' ? JSON.stringify({ i, name: `item-${i}` }) : undefined
        // Half on keep-alive connections, half on a fresh connection each.
        jobs.push(send(serverPort, method, url, body, i % 2 === 0 ? keepAlive : false))
        if (jobs.length >= 8) made.push(...(await Promise.all(jobs.splice(0))))
      }
      made.push(...(await Promise.all(jobs)))
      keepAlive.destroy()
    })
    t1 = Date.now()
    await new Promise<void>((r) => server.close(() => r()))
  })

  afterAll(async () => {
    await agent?.stop()
    await hub?.process.stop()
    await nats?.dispose()
    dir.dispose()
  })

  async function callsOf(node: string, expected: number): Promise<Call[]> {
    const body = await until(`${expected} calls from ${node}`, async () => {
      const r = await hub.get<{ calls: Call[]; total: number }>('/mcp/calls?limit=1000')
      const mine = r.body.calls.filter((c) => c.id.startsWith(`${node}/`))
      return mine.length >= expected ? mine : undefined
    }, 30_000)
    return body
  }

  it('made the traffic it meant to (incl. a 404 and a 500)', () => {
    expect(made.length).toBe(220)
    expect(made.some((m) => m.status === 404)).toBe(true)
    expect(made.some((m) => m.status === 500)).toBe(true)
  })

  it('returns exactly the calls made, with ids, ports, times and latency', async () => {
    const calls = await callsOf('e2e-live', made.length)
    expect(calls.length).toBe(made.length)
    const expected = made.map((m) => key({ method: m.method, path: m.url.split('?')[0]!, status: m.status, port: m.srcPort })).sort()
    expect(calls.map((c) => key({ method: c.method, path: c.path, status: c.status, port: c.src.port })).sort()).toEqual(expected)
    for (const c of calls) {
      expect(c.proto).toBe('http')
      expect(c.id).toMatch(/^e2e-live\/\d+\/\d+$/)
      expect(c.src.ip).toBe('127.0.0.1')
      expect(c.dst).toEqual({ ip: '127.0.0.1', port: serverPort })
      expect(c.ts).toBeGreaterThanOrEqual(t0 - 5)
      expect(c.ts).toBeLessThanOrEqual(t1 + 5)
      expect(c.latency_ms).toBeGreaterThan(0)
    }
    expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length)
    // Newest first.
    const ts = calls.map((c) => c.ts)
    expect(ts).toEqual([...ts].sort((a, b) => b - a))
  })

  it('replays the tcpdump recording of the same traffic into identical calls', async () => {
    const replay = agentProcess('agent-replay', ['--read', pcap, '--nats', nats.url, '--node', 'e2e-replay', '--data-dir', join(dir.path, 'agent-replay'), '--port', '0'])
    expect(await replay.wait(60_000)).toBe(0)
    expect(replay.output).toMatch(/220 entries published/)
    const live = await callsOf('e2e-live', made.length)
    const replayed = await callsOf('e2e-replay', made.length)
    const strip = (c: Call) => key({ method: c.method, path: c.path, status: c.status, port: c.src.port })
    expect(replayed.map(strip).sort()).toEqual(live.map(strip).sort())
    // Replayed times are the file's (kernel) times: within a few ms of the live stamps.
    const liveTs = new Map(live.map((c) => [strip(c), c.ts]))
    for (const c of replayed) expect(Math.abs(c.ts - liveTs.get(strip(c))!)).toBeLessThan(50)
  })

  it('fails a replay of a bad file with a clear message and a non-zero code', async () => {
    const bad = join(dir.path, 'not-a-capture.pcap')
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, 'hello, this is not a pcap file'))
    const p = agentProcess('agent-bad', ['--read', bad, '--nats', nats.url, '--node', 'e2e-bad', '--data-dir', join(dir.path, 'agent-bad'), '--port', '0'])
    expect(await p.wait(30_000)).not.toBe(0)
    expect(p.output).toMatch(/cannot replay .*not-a-capture\.pcap.*PCAP_BAD_MAGIC/)
  })

  it('answers bad parameters with 400 JSON over real HTTP, and unknown paths with 404 JSON', async () => {
    for (const q of ['limit=0', 'limit=5000', 'limit=abc', 'start=2&end=1', 'format=xml']) {
      const r = await hub.get(`/mcp/calls?${q}`)
      expect(r.status).toBe(400)
      expect(r.body.error.code).toMatch(/^INVALID_(PARAMETER|TIME_RANGE)$/)
    }
    const nf = await hub.get('/no/such/path')
    expect(nf.status).toBe(404)
    expect(nf.body.error.code).toBe('NOT_FOUND')
  })
})
