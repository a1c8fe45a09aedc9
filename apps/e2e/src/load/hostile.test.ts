import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep, until } from '@tapwire/testing'
import type { TestProcess } from '@tapwire/testing'
import { startEchoStack } from '../stack.js'
import type { EchoStack, HubHandle } from '../stack.js'
import { http1Load, sampleProcs, scrapeMetrics, storedCalls } from '@tapwire/testing'

/** The cap the agent's RSS must stay under through all of it (the goal). */
const RSS_CAP_MIB = 256
const HALF_OPEN = 2000

const open = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s))
    s.once('error', reject)
  })

/** Writes `chunks` to a socket, waiting for drain; the socket is destroyed by the caller. */
async function writeAll(
  s: Socket,
  chunks: readonly (Buffer | string)[],
  deadline: number
): Promise<void> {
  for (const c of chunks) {
    if (Date.now() > deadline || s.destroyed) return
    if (!s.write(c)) await new Promise<void>((r) => s.once('drain', r))
  }
}

// Traffic meant to hurt the agent: thousands of connections that never finish a request, 1 MiB
// header blocks, chunked bodies that never end, random bytes on the HTTP port. The agent's memory
// stays under the cap, its counters move, and normal calls made afterwards are all captured.
describe('hostile traffic on the HTTP port', () => {
  let stack: EchoStack
  let hub: HubHandle
  let agent: TestProcess
  let server: EchoStack['server']
  let metricsUrl = ''
  const sockets: Socket[] = []

  beforeAll(async () => {
    stack = await startEchoStack({ name: 'hostile', body: 'ok', configure: (srv: EchoStack['server']) => {
        // Default Node limits stay: 16 KiB of headers (431 beyond), no request timeout during the test.
        srv.server.requestTimeout = 0
        srv.server.headersTimeout = 120_000
      } })
    ;({ hub, agent, server, metricsUrl } = stack)
  })

  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await stack?.stop()
  })

  it(`keeps agent RSS under ${RSS_CAP_MIB} MiB and keeps capturing`, async () => {
    const before = await scrapeMetrics(metricsUrl)
    const sampler = sampleProcs({ agent: agent.pid! }, 500)
    const deadline = Date.now() + 60_000

    // 1. Half-open: connections that never send a request, and ones that stall mid request line.
    for (let i = 0; i < HALF_OPEN; i++) {
      const s = await open(server.port)
      sockets.push(s)
      if (i % 2 === 1) s.write(`GET /stalled/${i}?q=`)
    }

    // 2. Huge headers: 16 requests each with a 1 MiB header block (the server answers 431).
    const huge = `X-Huge: ${'a'.repeat(1 << 20)}\r\n`
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const s = await open(server.port)
        sockets.push(s)
        s.on('data', () => undefined)
        await writeAll(s, [`GET /huge/${i} HTTP/1.1\r\nHost: x\r\n`, huge, '\r\n'], deadline)
      })
    )

    // 3. Endless chunked bodies: 8 uploads, each a 16 KiB chunk every 10 ms (~13 MB/s in all)
    // for 8 s, never terminated: ~13 MB per body, far past the 256 KiB the agent keeps per message.
    // (An unpaced flood of loopback-speed bodies is a bandwidth test: tools/bench/src/load-http.ts.)
    const chunk = `4000\r\n${'c'.repeat(0x4000)}\r\n`
    const endless = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const s = await open(server.port)
        sockets.push(s)
        s.write(`POST /endless/${i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`)
        return s
      })
    )
    for (let k = 0; k < 800 && Date.now() < deadline; k++) {
      for (const s of endless) s.write(chunk)
      await sleep(10)
    }

    // 4. Random bytes: 200 connections, 64 KiB of noise each.
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const s = await open(server.port)
        sockets.push(s)
        s.on('error', () => undefined)
        s.on('data', () => undefined)
        await writeAll(s, [randomBytes(64 << 10)], deadline)
      })
    )
    await sleep(2000)
    const hostile = await scrapeMetrics(metricsUrl)

    // 5. Normal calls afterwards, with the hostile connections still open: every one is captured.
    const made = await http1Load({
      port: server.port,
      rate: 200,
      seconds: 3,
      connections: 4,
      prefix: '/after-hostile/',
    })
    expect(made.completed).toBe(made.sent)
    const stored = await until(
      'the normal calls in the hub',
      async () =>
        (await storedCalls(hub.url, '/after-hostile/')) >= made.completed
          ? storedCalls(hub.url, '/after-hostile/')
          : 0,
      30_000,
      250
    )
    for (const s of sockets.splice(0)) s.destroy()
    await sleep(1000)
    const usage = sampler.stop()
    const after = await scrapeMetrics(metricsUrl)
    const moved = Object.fromEntries(Object.keys(after).map((k) => [k, hostile[k]! - before[k]!]))
    console.log(
      `hostile: agent RSS peak ${usage.agent!.peakRssMiB.toFixed(0)} MiB (cap ${RSS_CAP_MIB}), CPU peak ${usage.agent!.peakCpuPct.toFixed(0)}%; counters during the hostile phase ${JSON.stringify(moved)}; normal calls after: ${stored}/${made.completed}`
    )

    expect(agent.exited).toBe(false)
    expect(stored).toBe(made.completed)
    expect(usage.agent!.peakRssMiB).toBeLessThan(RSS_CAP_MIB)
    // The agent saw the hostile connections (≥ 3 packets per handshake) and tracked them as flows.
    expect(moved.packets_seen_total!).toBeGreaterThan(3 * HALF_OPEN)
    expect(hostile.flows_active!).toBeGreaterThan(HALF_OPEN)
    expect(moved.queue_drops_total).toBe(0)
  })
})
