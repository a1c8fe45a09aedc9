import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep, until } from '@tapwire/testing'
import { startEchoStack } from '../stack.js'
import type { EchoStack, HubHandle } from '../stack.js'
import { http1Load, scrapeMetrics, storedCalls } from '@tapwire/testing'

// A hub that stops consuming (SIGSTOP) for 8 s under traffic: JetStream holds the backlog, the
// agent keeps publishing (its acks come from JetStream, not the hub), and after SIGCONT the hub
// catches up with nothing lost and nothing counted twice.
describe('slow hub consumer: hub stopped with SIGSTOP under traffic', () => {
  let stack: EchoStack
  let hub: HubHandle
  let server: EchoStack['server']
  let metricsUrl = ''

  beforeAll(async () => {
    stack = await startEchoStack({ name: 'slow-hub', body: 'ok' })
    ;({ hub, server, metricsUrl } = stack)
  })

  afterAll(async () => {
    hub?.process.signal('SIGCONT')
    await stack?.stop()
  })

  it('loses nothing while the hub is frozen; JetStream holds the backlog', async () => {
    const hubMetrics = `${hub.url}/metrics`
    const traffic = http1Load({
      port: server.port,
      rate: 1000,
      seconds: 14,
      connections: 8,
      prefix: '/slow/',
    })
    await sleep(3000)
    hub.process.signal('SIGSTOP')
    let frozenAt = 0
    let whileFrozen = 0
    try {
      await sleep(1000)
      frozenAt = (await scrapeMetrics(metricsUrl)).entries_published_total!
      await sleep(7000)
      // Published (acknowledged by JetStream) while the hub could not read anything.
      const m = await scrapeMetrics(metricsUrl)
      whileFrozen = m.entries_published_total! - frozenAt
      expect(whileFrozen).toBeGreaterThan(1000)
    } finally {
      hub.process.signal('SIGCONT')
    }
    const made = await traffic
    expect(made.errors).toBe(0)
    expect(made.completed).toBe(made.sent)
    const n = made.completed
    await until(
      'agent published every call',
      // >=: idle generator connections that close without a byte add connection-level tcp entries.
      async () => (await scrapeMetrics(metricsUrl)).entries_published_total! >= n,
      30_000,
      250
    )
    const stored = await until(
      'hub caught up',
      async () =>
        (await storedCalls(hub.url, '/slow/')) >= n ? storedCalls(hub.url, '/slow/') : 0,
      60_000,
      250
    )
    expect(stored).toBe(n)
    // Exactly once, whatever the kind of entry: the hub ingested what the agent published.
    const { a, h } = await until(
      'hub ingested everything published',
      async () => {
        const a = await scrapeMetrics(metricsUrl)
        const h = await scrapeMetrics(hubMetrics, 'tapwire_hub_')
        return h.entries_ingested_total === a.entries_published_total ? { a, h } : undefined
      },
      30_000,
      250
    )
    expect(a.entries_dropped_total).toBe(0)
    expect(a.queue_drops_total).toBe(0)
    expect(h.entries_ingested_total).toBeGreaterThanOrEqual(n)
    expect(h.bad_messages_total).toBe(0)
    console.log(
      `slow hub: ${n} calls made, ${stored} stored, hub ingested ${h.entries_ingested_total}; ${whileFrozen} published in 7 s while frozen`
    )
  })
})
