import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http1Load, scrapeMetrics, sleep, startTcpdump, until } from '@tapwire/testing'
import type { TestProcess } from '@tapwire/testing'
import { startEchoStack } from '../stack.js'
import type { EchoStack } from '../stack.js'

// Loss in the kernel is counted, not silent: the agent is frozen (SIGSTOP) under traffic with a
// 1 MiB capture buffer, so the kernel ring overflows. tcpdump records the same port as the
// reference. Afterwards every packet tcpdump saw is either one the agent saw or one its
// kernel_drops_total counter owns up to (pcap_stats via the patched cap binding; loopback counts
// each lost packet twice, see below).
describe('kernel drops while the agent is frozen', () => {
  let stack: EchoStack
  let agent: TestProcess

  beforeAll(async () => {
    stack = await startEchoStack({ name: 'kernel-drops', body: 'x'.repeat(2048), agentArgs: ['--capture-buffer', '1MiB'] })
    agent = stack.agent
  })

  afterAll(async () => {
    agent?.signal('SIGCONT')
    await stack?.stop()
  })

  it('counts every packet the kernel dropped: agent packets + kernel drops (twice each on lo) = tcpdump packets', async () => {
    const before = await scrapeMetrics(stack.metricsUrl)
    const tcpdump = await startTcpdump(join(stack.dir, 'ref.pcap'), `tcp port ${stack.server.port}`)
    const load = http1Load({ port: stack.server.port, rate: 800, seconds: 5, connections: 8, prefix: '/drops/' })
    await sleep(1000)
    agent.signal('SIGSTOP')
    await sleep(2500)
    agent.signal('SIGCONT')
    const made = await load
    await sleep(500)
    const ref = await tcpdump.stop()
    // The counters settle once the agent has drained the ring and read pcap_stats (once a second).
    let last = {}
    const settled = await until(
      'agent counters settled',
      async () => {
        const a = await scrapeMetrics(stack.metricsUrl)
        const seen = a.packets_seen_total! - before.packets_seen_total!
        const dropped = a.kernel_drops_total! - before.kernel_drops_total!
        last = { seen, dropped, captured: ref.captured }
        return seen + dropped / 2 >= ref.captured ? { seen, dropped } : undefined
      },
      20_000,
      250
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`)
    })
    await sleep(1500)
    const after = await scrapeMetrics(stack.metricsUrl)
    const seen = after.packets_seen_total! - before.packets_seen_total!
    const dropped = after.kernel_drops_total! - before.kernel_drops_total!
    console.log(`kernel drops: tcpdump ${ref.captured} (its own drops ${ref.dropped}), agent saw ${seen}, kernel dropped ${dropped} (first settled at ${JSON.stringify(settled)}); ${made.completed} calls`)
    expect(made.errors).toBe(0)
    expect(ref.dropped).toBe(0)
    // The freeze overflowed a 1 MiB ring: loss happened...
    expect(dropped).toBeGreaterThan(0)
    // ...and is accounted for, packet for packet. On loopback the kernel hands a packet socket
    // every packet twice (as outgoing and as incoming) and libpcap discards the outgoing copy in
    // user space, so a packet lost in the ring is counted twice by the kernel.
    expect(dropped % 2).toBe(0)
    expect(seen + dropped / 2).toBe(ref.captured)
  })
})
