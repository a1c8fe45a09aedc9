import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from '@tapwire/testing'
import type { TestProcess } from '@tapwire/testing'
import { startEchoStack } from '../stack.js'
import type { EchoStack, HubHandle } from '../stack.js'
import { http1Load, sampleProcs, scrapeMetrics, startTcpdump, storedCalls } from '@tapwire/testing'

const RATE = 2000
const SECONDS = 10
const RSS_CAP_MIB = 256

// The CI-sized load run (the full-size runs are `npm run test:load`, tools/bench/src/load-http.ts):
// 2,000 HTTP/1.1 requests/s for 10 s over loopback, tcpdump on the same port as the reference.
describe(`HTTP/1.1 load: ${RATE} req/s for ${SECONDS} s, tcpdump as the reference`, () => {
  let stack: EchoStack
  let hub: HubHandle
  let agent: TestProcess
  let server: EchoStack['server']
  let metricsUrl = ''
  let dir = ''

  beforeAll(async () => {
    stack = await startEchoStack({ name: 'load', body: 'ok' })
    ;({ hub, agent, server, metricsUrl } = stack)
    dir = stack.dir
  })

  afterAll(async () => {
    await stack?.stop()
  })

  it('stores 100% of the calls, sees every packet tcpdump sees, agent RSS under the cap', async () => {
    const before = await scrapeMetrics(metricsUrl)
    const tcpdump = await startTcpdump(join(dir, 'ref.pcap'), `tcp port ${server.port}`)
    const sampler = sampleProcs({ agent: agent.pid!, hub: hub.process.pid! })
    const made = await http1Load({
      port: server.port,
      rate: RATE,
      seconds: SECONDS,
      connections: 16,
      prefix: '/load/',
    })
    const ref = await tcpdump.stop()
    const n = made.completed
    await until(
      'agent published every call',
      async () =>
        (await scrapeMetrics(metricsUrl)).entries_published_total! -
          before.entries_published_total! >=
        n,
      30_000,
      250
    )
    const stored = await until(
      'hub stored every call',
      async () =>
        (await storedCalls(hub.url, '/load/')) >= n ? storedCalls(hub.url, '/load/') : 0,
      30_000,
      250
    )
    const usage = sampler.stop()
    const after = await scrapeMetrics(metricsUrl)
    const packets = after.packets_seen_total! - before.packets_seen_total!
    console.log(
      `load ${RATE}/s × ${SECONDS} s: made ${n} (${(n / made.seconds).toFixed(0)}/s, owed ${made.owed}), stored ${stored} (${((100 * stored) / n).toFixed(2)}%); ` +
        `packets agent ${packets} vs tcpdump ${ref.captured} (kernel drops ${ref.dropped}); ` +
        `agent RSS peak ${usage.agent!.peakRssMiB.toFixed(0)} MiB, CPU mean ${usage.agent!.meanCpuPct.toFixed(0)}% peak ${usage.agent!.peakCpuPct.toFixed(0)}%; ` +
        `hub RSS peak ${usage.hub!.peakRssMiB.toFixed(0)} MiB, CPU mean ${usage.hub!.meanCpuPct.toFixed(0)}%`
    )
    expect(made.errors).toBe(0)
    expect(made.completed).toBe(made.sent)
    // The generator kept the stated rate (within 5%).
    expect(n).toBeGreaterThanOrEqual(RATE * SECONDS * 0.95)
    expect(stored).toBe(n)
    expect(after.queue_drops_total! - before.queue_drops_total!).toBe(0)
    expect(after.kernel_drops_total! - before.kernel_drops_total!).toBe(0)
    expect(after.tcp_gaps_total! - before.tcp_gaps_total!).toBe(0)
    expect(after.entries_dropped_total! - before.entries_dropped_total!).toBe(0)
    expect(ref.dropped).toBe(0)
    expect(packets).toBe(ref.captured)
    expect(usage.agent!.peakRssMiB).toBeLessThan(RSS_CAP_MIB)
  })
})
