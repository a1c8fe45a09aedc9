import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodePcap } from '@tapwire/pcap'
import { analyzeFile } from '@tapwire/testing'
import { machineLine } from './machine.js'
import { TSHARK } from './protocol-tshark.js'
import { recordMongo, recordKafka, recordAmqp } from './protocol-traffic-msg.js'
import { recordMysql, recordPostgres, recordRedis } from './protocol-traffic-db.js'
import { recordDns, recordTls } from './protocol-traffic-net.js'
import type { Recorded } from './protocol-util.js'
import type { ReplayMeasure } from './replay-compare.js'
import { measureReplay } from './replay-compare.js'
import { fmt, table } from './report.js'

/** A protocol of issue 4: how the bench records `calls` of it into `file` (peer started and stopped inside). */
interface ProtocolCase {
  /** Our Entry.proto, also the key of its tshark counting in protocol-tshark.ts. */
  proto: string
  label: string
  record(file: string, calls: number, deadline: number, dir: string): Promise<Recorded>
}

export const PROTOCOLS: readonly ProtocolCase[] = [
  { proto: 'dns', label: 'DNS (dnsmasq, UDP)', record: recordDns },
  { proto: 'redis', label: 'Redis (redis-benchmark -P 16)', record: recordRedis },
  { proto: 'postgresql', label: 'PostgreSQL (pgbench simple + extended)', record: recordPostgres },
  { proto: 'mysql', label: 'MySQL (mariadb CLI vs MariaDB)', record: recordMysql },
  { proto: 'mongodb', label: 'MongoDB (Node driver vs wire peer)', record: recordMongo },
  { proto: 'kafka', label: 'Kafka (kafkajs producer vs wire peer)', record: recordKafka },
  { proto: 'amqp', label: 'AMQP 0-9-1 (amqplib vs RabbitMQ)', record: recordAmqp },
  { proto: 'tls', label: 'TLS handshakes (Node tls)', record: recordTls },
]

export interface ProtocolReplayOptions {
  /** Calls each generator aims for. */
  calls: number
  /** Timed runs of each reader per file (median reported). */
  runs: number
  /** Each generator stops starting calls after this many seconds. */
  seconds: number
  /** Protocols to run (all when empty), by `proto`. */
  only: readonly string[]
}

interface Row {
  c: ProtocolCase
  m?: ReplayMeasure
  made?: number
  /** Our calls of this protocol (the rest fell to another dissector). */
  ours?: number
  note: string
}

/**
 * Issue 4's offline replay benchmark: for each protocol, a capture of real client/peer traffic on
 * loopback, read by our single-thread pipeline and by tshark (decoding the peer's port as that
 * protocol), timed alike by replay-compare.ts. One table row per protocol. A protocol whose peer
 * or client fails becomes a **failed** row and is listed in `failures`, so the caller can exit
 * non-zero: start-up failures are loud, and the other protocols are still measured.
 */
export async function benchProtocolReplay(dir: string, o: ProtocolReplayOptions): Promise<{ section: string; failures: string[] }> {
  const rows: Row[] = []
  const failures: string[] = []
  for (const c of PROTOCOLS.filter((p) => o.only.length === 0 || o.only.includes(p.proto))) {
    console.log(`bench: protocol-replay ${c.proto}: recording ${fmt(o.calls)} calls`)
    const file = join(dir, `${c.proto}.pcap`)
    try {
      const rec = await c.record(file, o.calls, Date.now() + o.seconds * 1000, dir)
      const t = TSHARK[c.proto]!(rec.port)
      // Untimed: which dissector claimed each call (the timed pipeline only counts them).
      const ours = (await analyzeFile(file)).entries.filter((e) => e.proto === c.proto).length
      console.log(`bench: protocol-replay ${c.proto}: ${fmt(rec.made)} made, replaying`)
      const m = await measureReplay({ file, runs: o.runs, tsharkArgs: t.args, countTsharkCalls: t.count })
      rows.push({ c, m, made: rec.made, ours, note: t.note })
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200)
      console.error(`bench: protocol-replay ${c.proto} FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      failures.push(`${c.proto}: ${why}`)
      rows.push({ c, note: `**failed**: ${why.replace(/\|/g, '/')}` })
    }
  }
  const startup = await measureStartup(dir, o.runs)
  return { section: render(rows, o, startup), failures }
}

/** Both readers on an empty capture: the start-up cost included in every row's seconds. */
async function measureStartup(dir: string, runs: number): Promise<ReplayMeasure> {
  const file = join(dir, 'empty.pcap')
  writeFileSync(file, encodePcap([], { linkType: 1 }))
  return measureReplay({ file, runs, tsharkArgs: [], countTsharkCalls: () => 0 })
}

function render(rows: Row[], o: ProtocolReplayOptions, startup: ReplayMeasure): string {
  const body = rows.map(({ c, m, made, ours, note }) => {
    if (!m) return [c.label, '', '', '', '', '', '', '', '', note]
    const notes = [`tshark: ${note}`, `client made ${fmt(made ?? 0)}`]
    if (ours !== m.calls) notes.push(`only ${fmt(ours ?? 0)} of ours are ${c.proto}`)
    return [
      c.label,
      fmt(m.packets),
      `${fmt(m.calls)} / ${fmt(m.tsharkCalls)}`,
      fmt(m.oursSeconds, 2),
      fmt(m.calls / m.oursSeconds),
      fmt(m.tsharkSeconds, 2),
      fmt(m.tsharkCalls / m.tsharkSeconds),
      `${fmt(m.tsharkSeconds / m.oursSeconds, 1)}×`,
      fmt(m.oursRssMiB),
      notes.join('; '),
    ]
  })
  return [
    `_${machineLine()}; about ${fmt(o.calls)} calls per protocol recorded by the bench (\`BENCH_PROTOCOL_CALLS\`); median of ${o.runs} runs; wall time includes process start-up._`,
    '',
    table(['protocol', 'packets', 'calls ours / tshark', 'our s', 'our calls/s', 'tshark s', 'tshark calls/s', 'ratio', 'our peak RSS MiB', 'note'], body),
    '',
    `Start-up on an empty capture (included in every row above): our pipeline ${fmt(startup.oursSeconds, 2)} s (${fmt(startup.oursRssMiB)} MiB), tshark ${fmt(startup.tsharkSeconds, 2)} s (${fmt(startup.tsharkRssMiB)} MiB). Ratio = tshark seconds / our seconds on the same file.`,
  ].join('\n')
}
