import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connect } from 'nats'
import { freePort, startNatsServer, TestProcess, until } from '@tapwire/testing'
import { encodeEntryBatch, ensureEntryStream, subjects } from '@tapwire/wire'
import { syntheticEntries } from './kfl-eval.js'
import { machineLine } from './machine.js'
import { fmt, table } from './report.js'

// HUB_MAIN=<path to main.js> benches another build of the hub (A/B against a copy of an older dist).
const HUB_MAIN = process.env.HUB_MAIN ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps/hub/dist/main.js')

export const QUERY_BENCH = [
  ['newest 100, no filter', 'limit=100'],
  ['flag + comparison', `kfl=${encodeURIComponent('http && status_code >= 500')}&limit=100`],
  ['string method', `kfl=${encodeURIComponent('http && path.startsWith("/api/v1")')}&limit=100`],
  ['time window (10%)', 'WINDOW&limit=100'],
  ['group by node', 'group_by=node&limit=10'],
] as const

const rssMiB = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

/**
 * Hub ingest and query latency at `count` stored entries: the entries are published to a real
 * JetStream stream first; a fresh hub replays them (ingest rate = entries / time to /readyz);
 * then each query runs `reps` times over HTTP (p50/p99 of wall time per request).
 */
export async function benchHubQuery(count: number, reps = 40): Promise<string> {
  // Other work on the machine moves these figures; the load says how much there was.
  const loadAtStart = loadavg()[0]!
  const nats = await startNatsServer()
  let hub: TestProcess | undefined
  try {
    const nc = await connect({ servers: nats.url })
    await ensureEntryStream(await nc.jetstreamManager(), { maxBytes: 16 * 1024 ** 3, maxAgeMs: 3600_000 })
    const js = nc.jetstream()
    const nodes = ['node-a', 'node-b', 'node-c']
    let minTs = Infinity
    let maxTs = 0
    for (let done = 0; done < count; ) {
      const n = Math.min(100_000, count - done)
      const entries = syntheticEntries(n, done + 1)
      const pending: Promise<unknown>[] = []
      for (let i = 0; i < n; i += 1000) {
        const node = nodes[(i / 1000) % nodes.length]!
        const slice = entries.slice(i, i + 1000).map((e, k) => ({ ...e, id: `${node}/${done + i + k}/0`, node }))
        for (const e of slice) {
          minTs = Math.min(minTs, e.ts ?? 0)
          maxTs = Math.max(maxTs, e.ts ?? 0)
        }
        pending.push(js.publish(subjects.entries(node), encodeEntryBatch({ node, seq: done + i, entries: slice }), { msgID: `bench-${done + i}` }))
        if (pending.length >= 64) await Promise.all(pending.splice(0))
      }
      await Promise.all(pending)
      done += n
    }
    await nc.close()
    const port = await freePort()
    const t0 = process.hrtime.bigint()
    // HUB_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles the hub under this load.
    const nodeArgs = (process.env.HUB_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
    hub = new TestProcess('hub', process.execPath, ['--max-old-space-size=8192', ...nodeArgs, HUB_MAIN, '--port', String(port), '--host', '127.0.0.1', '--nats', nats.url, '--retention-entries', String(count + 1000), '--store-max-bytes', '64GiB'])
    const base = `http://127.0.0.1:${port}`
    await until('hub replay', async () => (await fetch(`${base}/readyz`)).ok, 600_000, 50)
    const ingestS = Number(process.hrtime.bigint() - t0) / 1e9
    const stored = ((await (await fetch(`${base}/mcp/calls?limit=1`)).json()) as { total: number }).total
    const rss = rssMiB(hub.pid!)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    const storeBytes = Number(/^tapwire_hub_store_bytes (\S+)$/m.exec(metrics)?.[1] ?? NaN)
    const span = maxTs - minTs
    const rows: (string | number)[][] = []
    for (const [name, q] of QUERY_BENCH) {
      const query = q.replace('WINDOW', `start=${Math.round(minTs + span * 0.45)}&end=${Math.round(minTs + span * 0.55)}`)
      const times: number[] = []
      let total = 0
      for (let i = 0; i < reps + 3; i++) {
        const s = process.hrtime.bigint()
        const res = await fetch(`${base}/mcp/calls?${query}`)
        const body = (await res.json()) as { total: number }
        const ms = Number(process.hrtime.bigint() - s) / 1e6
        if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`)
        total = body.total
        if (i >= 3) times.push(ms)
      }
      const p99 = pct(times, 99)
      rows.push([name, fmt(total), fmt(pct(times, 50), 1), fmt(p99, 1), p99 < 100 ? 'met' : '**missed**'])
    }
    return [
      `_${machineLine()}; load average ${fmt(loadAtStart, 1)} at start; ${fmt(count)} synthetic entries (mixed protocols, 3 nodes) replayed from a real JetStream stream; ${reps} requests per query over HTTP._`,
      '',
      table(['measure', 'value', 'goal'], [
        ['hub ingest (stream replay to /readyz)', `${fmt(stored)} entries in ${fmt(ingestS, 1)} s = **${fmt(stored / ingestS)} entries/s**`, stored / ingestS >= 100_000 ? '≥ 100k/s: met' : '≥ 100k/s: **missed**'],
        ['hub RSS after replay', `${fmt(rss)} MiB (${fmt((rss * 1024 * 1024) / Math.max(1, stored))} bytes/entry)`, ''],
        ['store size estimate (`--store-max-bytes` counts this)', `${fmt(storeBytes / 1024 / 1024)} MiB (${fmt(storeBytes / Math.max(1, stored))} bytes/entry)`, ''],
      ]),
      '',
      table(['query at ' + fmt(count) + ' entries', 'matches', 'p50 ms', 'p99 ms', 'p99 < 100 ms'], rows),
    ].join('\n')
  } finally {
    await hub?.stop()
    await nats.dispose()
  }
}
