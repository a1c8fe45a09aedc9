import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machineLine } from './machine.js'
import { fmt, table } from './report.js'
import { median, timeCommand } from './timing.js'

const here = dirname(fileURLToPath(import.meta.url))

/** What one offline replay measure needs: the file, and how tshark reads it and counts its calls. */
export interface ReplayRun {
  file: string
  /** tshark arguments after `-n -r FILE` (decode-as, display filter, fields). */
  tsharkArgs: string[]
  /** Counts tshark's calls from its output lines. */
  countTsharkCalls: (stdout: string) => number
  runs?: number
}

export interface ReplayComparison extends ReplayRun {
  /** What the file holds, for the caption. */
  caption: string
  /** The goal line under the table, given our/their rates. */
  goal?: (ours: { pps: number; ratio: number; pipelinePps: number; warmPps: number }) => string
}

/** Our pipeline and tshark on the same file: medians of `runs` timed runs of each. */
export interface ReplayMeasure {
  runs: number
  packets: number
  calls: number
  tsharkCalls: number
  oursSeconds: number
  /** Our pipeline's own time inside the process: reading, dissecting, encoding; no start-up. */
  oursPipelineSeconds: number
  tsharkSeconds: number
  /** Seconds of one pass once the pipeline is warm (passes 2..5 in one process, median). */
  oursWarmSeconds: number
  oursRssMiB: number
  tsharkRssMiB: number
}

/**
 * One offline replay measure: our single-thread pipeline (tools/bench/src/replay-pipeline.ts)
 * and tshark on the same file, separate processes timed alike (wall time including start-up,
 * peak RSS by GNU time), median of `runs`.
 */
export async function measureReplay(c: ReplayRun): Promise<ReplayMeasure> {
  const runs = c.runs ?? 3
  const ours = []
  // Without NODE_EXTRA_CA_CERTS: a CA bundle some environments set (this one does) costs Node
  // ~40 ms of start-up parsing certificates the pipeline never uses.
  const env = { ...process.env }
  delete env['NODE_EXTRA_CA_CERTS']
  for (let i = 0; i < runs; i++) ours.push(await timeCommand(process.execPath, [join(here, 'replay-pipeline.js'), c.file], env))
  const results = ours.map((t) => JSON.parse(t.stdout) as { packets: number; calls: number; seconds: number })
  const result = results[0]!
  // The steady rate: a process replaying the file five times, passes 2-5 (what a running agent does).
  const warm = await timeCommand(process.execPath, [join(here, 'replay-pipeline.js'), c.file, '--passes', '5'], env)
  const warmSeconds = (JSON.parse(warm.stdout) as { warmSeconds: number }).warmSeconds
  const theirs = []
  for (let i = 0; i < runs; i++) theirs.push(await timeCommand('tshark', ['-n', '-r', c.file, ...c.tsharkArgs]))
  return {
    runs,
    packets: result.packets,
    calls: result.calls,
    tsharkCalls: c.countTsharkCalls(theirs[0]!.stdout),
    oursSeconds: median(ours.map((t) => t.seconds)),
    oursPipelineSeconds: median(results.map((r) => r.seconds)),
    tsharkSeconds: median(theirs.map((t) => t.seconds)),
    oursWarmSeconds: warmSeconds,
    oursRssMiB: median(ours.map((t) => t.maxRssMiB)),
    tsharkRssMiB: median(theirs.map((t) => t.maxRssMiB)),
  }
}

/** One offline replay comparison as a whole BENCHMARKS.md section: a two-row table and its ratio. */
export async function compareReplay(c: ReplayComparison): Promise<string> {
  const m = await measureReplay(c)
  const { runs, packets, calls, tsharkCalls, oursSeconds: oursS, tsharkSeconds: theirsS } = m
  const pps = packets / oursS
  const ratio = theirsS / oursS
  const inS = m.oursPipelineSeconds
  const rows = [
    ['Tapwire pipeline (1 thread)', fmt(packets), fmt(calls), fmt(oursS, 2), fmt(pps), fmt(calls / oursS), fmt(m.oursRssMiB)],
    ['Tapwire pipeline, in-process time (no start-up)', fmt(packets), fmt(calls), fmt(inS, 2), fmt(packets / inS), fmt(calls / inS), ''],
    ['Tapwire pipeline, warm (passes 2-5 in one process)', fmt(packets), fmt(calls), fmt(m.oursWarmSeconds, 2), fmt(packets / m.oursWarmSeconds), fmt(calls / m.oursWarmSeconds), ''],
    [`tshark ${c.tsharkArgs.filter((a) => a === '-Y').length ? '-Y …' : ''}`.trim(), fmt(packets), fmt(tsharkCalls), fmt(theirsS, 2), fmt(packets / theirsS), fmt(tsharkCalls / theirsS), fmt(m.tsharkRssMiB)],
  ]
  return [
    `_${machineLine()}; ${c.caption}; median of ${runs} runs; wall time includes process start-up._`,
    '',
    table(['reader', 'packets', 'calls', 'seconds', 'packets/s', 'calls/s', 'peak RSS MiB'], rows),
    '',
    `**Ratio: Tapwire is ${fmt(ratio, 1)}× tshark's rate on the same file** (process wall times, start-up included; calls found: ${fmt(calls)} vs tshark's ${fmt(tsharkCalls)}).`,
    ...(c.goal ? ['', c.goal({ pps, ratio, pipelinePps: packets / inS, warmPps: packets / m.oursWarmSeconds })] : []),
  ].join('\n')
}

export const countNonEmptyLines = (stdout: string): number => stdout.split('\n').filter((l) => l.trim() !== '').length
