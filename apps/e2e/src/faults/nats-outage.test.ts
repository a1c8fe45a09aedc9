import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep, tempDir, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { startHub, startLoAgent, startNatsServer } from '../stack.js'
import type { HubHandle } from '../stack.js'
import { http1Load, scrapeMetrics, startEchoServer, storedCalls } from '@tapwire/testing'

const OUTAGE_MS = 20_000

// NATS goes away for 20 s while traffic keeps flowing. The agent's EntryPublisher holds what it
// cannot publish (64 MiB by default), retries with the same Nats-Msg-Id once NATS is back, and
// counts what it had to drop when the bound was hit: stored + dropped = calls made, exactly.
describe('NATS stopped for 20 s under steady traffic', () => {
  const dir = tempDir('tapwire-e2e-nats-outage-')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  let metricsUrl = ''
  let small: Awaited<ReturnType<typeof startEchoServer>>
  let large: Awaited<ReturnType<typeof startEchoServer>>

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    small = await startEchoServer('ok')
    // 4 KiB of incompressible text each way: the whole preview (4096 bytes) is published.
    large = await startEchoServer(randomBytes(3072).toString('base64'))
    ;({ process: agent, metricsUrl } = await startLoAgent({ nats, bpf: `tcp port ${small.port} or tcp port ${large.port}`, node: 'outage-node', dataDir: join(dir.path, 'agent') }))
  })

  afterAll(async () => {
    await agent?.stop()
    await hub?.process.stop()
    await nats?.dispose()
    await small?.close()
    await large?.close()
    dir.dispose()
  })

  /** Runs `load` while NATS is stopped 4 s in and restarted 20 s later. */
  async function withOutage<T>(load: () => Promise<T>): Promise<T> {
    const traffic = load()
    await sleep(4000)
    await nats.stop()
    await sleep(OUTAGE_MS)
    await nats.restart()
    return traffic
  }

  it('within the buffer bound: every call reaches the hub once, nothing dropped', async () => {
    const before = await scrapeMetrics(metricsUrl)
    const t0 = Date.now()
    const made = await withOutage(() =>
      http1Load({ port: small.port, rate: 50, seconds: 30, connections: 4, prefix: '/outage-a/' })
    )
    expect(made.errors).toBe(0)
    expect(made.completed).toBe(made.sent)
    const n = made.completed
    const after = (await until(
      'the buffered entries acknowledged',
      async () => {
        const m = await scrapeMetrics(metricsUrl)
        return m.entries_published_total! - before.entries_published_total! >= n ? m : undefined
      },
      60_000,
      250
    ))
    const stored = await until(
      'every call in the hub',
      async () =>
        (await storedCalls(hub.url, '/outage-a/')) >= n ? storedCalls(hub.url, '/outage-a/') : 0,
      60_000,
      250
    )
    // Exactly the calls made: none lost, none stored twice (retries reuse the Nats-Msg-Id).
    expect(stored).toBe(n)
    // Besides the HTTP calls, idle connections of the generator that closed without a byte are
    // published as connection-level tcp entries: every published entry is in the hub once.
    const tcp = (await (await fetch(`${hub.url}/mcp/calls?limit=1&start=${t0}&kfl=${encodeURIComponent(`tcp && dst.port == ${small.port}`)}`)).json()) as { total: number }
    expect(after.entries_published_total! - before.entries_published_total!).toBe(n + tcp.total)
    expect(after.entries_dropped_total! - before.entries_dropped_total!).toBe(0)
    expect(after.queue_drops_total! - before.queue_drops_total!).toBe(0)
    // The outage was seen: publishes failed and were retried.
    expect(after.publish_errors_total! - before.publish_errors_total!).toBeGreaterThan(0)
  })

  it('beyond the 64 MiB bound: emitted = published + dropped, and the hub stores exactly the published', async () => {
    const before = await scrapeMetrics(metricsUrl)
    const t0 = Date.now()
    const body = Buffer.from(randomBytes(3072).toString('base64'))
    // ~8.5 KiB of entry per call at 600 calls/s: ~100 MiB during the outage, over the 64 MiB bound.
    const made = await withOutage(() =>
      http1Load({
        port: large.port,
        rate: 600,
        seconds: 28,
        connections: 8,
        prefix: '/outage-b/',
        body,
      })
    )
    expect(made.errors).toBe(0)
    expect(made.completed).toBe(made.sent)
    const n = made.completed
    const delta = (m: Record<string, number | undefined>, k: string) => m[k]! - before[k]!
    // Settled: the worker reported every entry it emitted, and each is published or dropped.
    const settled = await until(
      'every entry published or dropped',
      async () => {
        const m = await scrapeMetrics(metricsUrl)
        const emitted = delta(m, 'entries_emitted_total')
        const published = delta(m, 'entries_published_total')
        const dropped = delta(m, 'entries_dropped_total')
        if (emitted >= n && published + dropped === emitted) return m
        // Not settled yet: a timeout reports where the counts stood.
        throw new Error(`calls ${n}, emitted ${emitted}, published ${published}, dropped ${dropped}, queue drops ${delta(m, 'queue_drops_total')}, kernel drops ${delta(m, 'kernel_drops_total')}, publish errors ${delta(m, 'publish_errors_total')}, awaiting ack ${m['publish_queue_entries']} entries in ${m['publish_in_flight']} publishes in flight`)
      },
      90_000,
      250
    )
    const emitted = delta(settled, 'entries_emitted_total')
    const published = delta(settled, 'entries_published_total')
    const dropped = delta(settled, 'entries_dropped_total')
    // Entries of every kind to that port (HTTP calls, and connection-level tcp entries of
    // generator connections that closed without a byte): exactly the published ones, once each.
    const kfl = encodeURIComponent(`dst.port == ${large.port}`)
    const all = await until(
      'the hub caught up',
      async () => {
        const r = (await (await fetch(`${hub.url}/mcp/calls?limit=1&start=${t0}&kfl=${kfl}`)).json()) as { total: number }
        return r.total >= published ? r.total : 0
      },
      60_000,
      250
    )
    const http = await storedCalls(hub.url, '/outage-b/')
    console.log(
      `NATS outage over the bound: ${n} calls made, ${emitted} entries emitted, ${published} published (${all} stored, ${http} of them HTTP), ${dropped} dropped (counter), ${delta(settled, 'publish_errors_total')} publish errors`
    )
    expect(dropped).toBeGreaterThan(0)
    expect(emitted).toBe(published + dropped)
    expect(all).toBe(published)
    // Every HTTP call made is either stored or among the dropped entries.
    expect(http).toBeLessThanOrEqual(n)
    expect(n - http).toBeLessThanOrEqual(dropped)
  })
})
