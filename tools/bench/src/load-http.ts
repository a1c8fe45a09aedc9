#!/usr/bin/env node
// `npm run test:load` (tools/scripts/load.sh): sustained HTTP/1.1 and gRPC load over loopback at a
// stated rate for a stated time, the agent capturing on `lo` with a BPF for the server's port and
// tcpdump recording the same port as the reference. Completeness = calls stored / calls made;
// packets the agent saw vs tcpdump's count; agent and hub RSS and CPU sampled every second.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  freePort,
  http1Load,
  sampleProcs,
  scrapeMetrics,
  sleep,
  startNatsServer,
  startTcpdump,
  storedCalls,
  TestProcess,
  until,
} from '@tapwire/testing'
import type { LoadResult, ProcSeries } from '@tapwire/testing'
import { grpcLoad } from './load-gen.js'
import { machineLine } from './machine.js'
import { fmt, replaceSection, table } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))
const ROOT = join(here, '..', '..', '..')
const HUB_MAIN = join(ROOT, 'apps/hub/dist/main.js')
const AGENT_MAIN = join(ROOT, 'apps/node-agent/dist/main.js')
const RSS_GOAL_MIB = 256

export interface LoadRun {
  proto: 'http1' | 'grpc'
  rate: number
  seconds: number
  /** Completeness goal (fraction), when the issue states one. */
  goal?: number
}

export interface LoadRunResult {
  run: LoadRun
  made: LoadResult
  stored: number
  agentPackets: number
  tcpdumpPackets: number
  tcpdumpDropped: number
  agent: Record<string, number>
  usage: Record<string, ProcSeries>
}

/** The full-size runs the issue sets goals for, and gRPC at the same rates. */
export const LOAD_RUNS: readonly LoadRun[] = [
  { proto: 'http1', rate: 5000, seconds: 60, goal: 1 },
  { proto: 'http1', rate: 20_000, seconds: 60, goal: 0.999 },
  { proto: 'grpc', rate: 5000, seconds: 60 },
  { proto: 'grpc', rate: 20_000, seconds: 60 },
]

/** One run on a fresh NATS, hub, agent and server (a child process: a core of its own). */
export async function runLoad(
  run: LoadRun,
  log: (s: string) => void = console.log
): Promise<LoadRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tapwire-load-'))
  const nats = await startNatsServer()
  const procs: TestProcess[] = []
  try {
    const server = new TestProcess('load-server', process.execPath, [
      join(here, 'load-server.js'),
      run.proto,
    ])
    procs.push(server)
    await server.waitFor(/port \d+/, 15_000)
    const port = Number(/port (\d+)/.exec(server.output)![1])
    const hubPort = await freePort()
    const hub = new TestProcess('hub', process.execPath, [
      '--max-old-space-size=8192',
      HUB_MAIN,
      '--port',
      String(hubPort),
      '--host',
      '127.0.0.1',
      '--nats',
      nats.url,
    ])
    procs.push(hub)
    const hubUrl = `http://127.0.0.1:${hubPort}`
    await until('hub ready', async () => (await fetch(`${hubUrl}/readyz`)).ok, 30_000)
    const agentPort = await freePort()
    const agent = new TestProcess('agent', process.execPath, [
      AGENT_MAIN,
      '--interface',
      'lo',
      '--bpf',
      `tcp port ${port}`,
      '--nats',
      nats.url,
      '--node',
      'load-node',
      '--data-dir',
      join(dir, 'agent'),
      '--port',
      String(agentPort),
      '--host',
      '127.0.0.1',
    ])
    procs.push(agent)
    await agent.waitFor(/capturing on lo/, 30_000)
    const metricsUrl = `http://127.0.0.1:${agentPort}/metrics`
    const before = await scrapeMetrics(metricsUrl)
    const tcpdump = await startTcpdump(join(dir, 'ref.pcap'), `tcp port ${port}`)
    const sampler = sampleProcs({
      agent: agent.pid!,
      hub: hub.pid!,
      server: server.pid!,
      'bench (generator)': process.pid,
    })
    const prefix = run.proto === 'grpc' ? '/tapwire.load.Echo/Call' : '/load/'
    const opts = { port, rate: run.rate, seconds: run.seconds, prefix }
    const made =
      run.proto === 'grpc'
        ? await grpcLoad({ ...opts, connections: 8, maxStreams: 64 })
        : await http1Load({ ...opts, connections: 64 })
    const ref = await tcpdump.stop()
    // Wait for the pipeline to settle: everything stored, or no progress for 15 s (at most 180 s).
    let stored = 0
    let last = -1
    let still = 0
    for (let i = 0; i < 180 && stored < made.completed && still < 15; i++) {
      await sleep(1000)
      stored = await storedCalls(hubUrl, prefix)
      still = stored === last ? still + 1 : 0
      last = stored
    }
    const usage = sampler.stop()
    const after = await scrapeMetrics(metricsUrl)
    const agentDelta = Object.fromEntries(
      Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)])
    )
    const result: LoadRunResult = {
      run,
      made,
      stored,
      agentPackets: agentDelta.packets_seen_total!,
      tcpdumpPackets: ref.captured,
      tcpdumpDropped: ref.dropped,
      agent: agentDelta,
      usage,
    }
    log(
      `load ${run.proto} ${run.rate}/s × ${run.seconds} s: made ${made.completed} (${fmt(made.completed / made.seconds)}/s, owed ${made.owed}, errors ${made.errors}), ` +
        `stored ${stored} (${pctStr(stored, made.completed)}), packets ${result.agentPackets} vs tcpdump ${ref.captured} (tcpdump kernel drops ${ref.dropped}), ` +
        `agent ${JSON.stringify(agentDelta)}, agent RSS peak ${fmt(usage.agent?.peakRssMiB ?? 0)} MiB CPU ${fmt(usage.agent?.meanCpuPct ?? 0)}%/${fmt(usage.agent?.peakCpuPct ?? 0)}%, ` +
        `hub RSS peak ${fmt(usage.hub?.peakRssMiB ?? 0)} MiB CPU ${fmt(usage.hub?.meanCpuPct ?? 0)}%`
    )
    return result
  } finally {
    for (const p of procs.reverse()) await p.stop()
    await nats.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

const pctStr = (a: number, b: number): string =>
  b === 0 ? '–' : `${((100 * a) / b).toFixed(a === b ? 0 : 2)}%`

/** RSS every `step` seconds: `a → b → c`. */
const rssOverTime = (s: ProcSeries | undefined, step: number): string =>
  (s?.samples ?? [])
    .filter((_, i) => i % step === 0)
    .map((x) => fmt(x.rssMiB))
    .join(' → ')

/** Runs `runs` one after the other and returns the BENCHMARKS.md section. */
export async function benchLoad(runs: readonly LoadRun[] = LOAD_RUNS): Promise<string> {
  const results: LoadRunResult[] = []
  for (const run of runs) results.push(await runLoad(run))
  const rows = results.map((r) => {
    const completeness = r.made.completed ? r.stored / r.made.completed : 0
    const rssOk = (r.usage.agent?.peakRssMiB ?? Infinity) <= RSS_GOAL_MIB
    const goal =
      r.run.goal !== undefined
        ? `${r.run.goal === 1 ? '100%' : `≥ ${(r.run.goal * 100).toFixed(1)}%`}: ${completeness >= r.run.goal ? 'met' : `**missed** (${pctStr(r.stored, r.made.completed)})`}; RSS ≤ ${RSS_GOAL_MIB} MiB: ${rssOk ? 'met' : '**missed**'}`
        : `RSS ≤ ${RSS_GOAL_MIB} MiB: ${rssOk ? 'met' : '**missed**'}`
    return [
      r.run.proto === 'grpc' ? 'gRPC (HTTP/2)' : 'HTTP/1.1',
      `${fmt(r.run.rate)}/s × ${r.run.seconds} s`,
      `${fmt(r.made.completed)} (${fmt(r.made.completed / r.made.seconds)}/s)`,
      fmt(r.stored),
      `**${pctStr(r.stored, r.made.completed)}**`,
      `${fmt(r.agentPackets)} / ${fmt(r.tcpdumpPackets)}`,
      `${fmt(r.agent.kernel_drops_total ?? 0)} / ${fmt(r.agent.queue_drops_total ?? 0)} / ${fmt(r.agent.tcp_gaps_total ?? 0)}`,
      `${fmt(r.usage.agent?.peakRssMiB ?? 0)} MiB`,
      `${fmt(r.usage.agent?.meanCpuPct ?? 0)}% / ${fmt(r.usage.agent?.peakCpuPct ?? 0)}%`,
      `${fmt(r.usage.hub?.peakRssMiB ?? 0)} MiB`,
      `${fmt(r.usage.hub?.meanCpuPct ?? 0)}%`,
      goal,
    ]
  })
  const series = results.map(
    (r) =>
      `- ${r.run.proto} ${fmt(r.run.rate)}/s: agent RSS (MiB, every 10 s) ${rssOverTime(r.usage.agent, 10)}; hub ${rssOverTime(r.usage.hub, 10)}; load generator + server CPU ${fmt(r.usage['bench (generator)']?.meanCpuPct ?? 0)}% + ${fmt(r.usage.server?.meanCpuPct ?? 0)}%`
  )
  return [
    `_${machineLine()}; load generator, server, agent, hub, NATS and tcpdump on the same machine, loopback._`,
    '',
    table(
      [
        'protocol',
        'offered',
        'calls made (achieved)',
        'stored',
        'completeness',
        'packets agent / tcpdump',
        'agent kernel drops (×2 on lo) / queue drops / TCP gaps',
        'agent RSS peak',
        'agent CPU mean / peak',
        'hub RSS peak',
        'hub CPU mean',
        'goal',
      ],
      rows
    ),
    '',
    ...series,
  ].join('\n')
}

// Run directly: `node tools/bench/dist/load-http.js [--quick] [http1|grpc ...]`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const quick = args.includes('--quick')
  const protos = args.filter((a) => a === 'http1' || a === 'grpc')
  const seconds = Number(process.env['LOAD_SECONDS'] ?? (quick ? 10 : 0))
  const runs = LOAD_RUNS.filter((r) => protos.length === 0 || protos.includes(r.proto)).map(
    (r) => ({
      ...r,
      ...(seconds > 0 ? { seconds } : {}),
      ...(quick ? { rate: r.rate / 5 } : {}),
    })
  )
  const section = await benchLoad(runs)
  console.log(section)
  const md = join(ROOT, 'BENCHMARKS.md')
  try {
    if (!quick) replaceSection(md, 'load', section)
  } catch (e) {
    console.log(`(${(e as Error).message}: table printed above only)`)
  }
}
