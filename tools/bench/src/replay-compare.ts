import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machineLine } from './machine.js'
import { fmt, table } from './report.js'
import { median, timeCommand } from './timing.js'

const here = dirname(fileURLToPath(import.meta.url))

export interface ReplayComparison {
  /** What the file holds, for the caption. */
  caption: string
  file: string
  /** tshark arguments after `-n -r FILE` (decode-as, display filter, fields). */
  tsharkArgs: string[]
  /** Counts tshark's calls from its output lines. */
  countTsharkCalls: (stdout: string) => number
  /** The goal line under the table, given our/their rates. */
  goal?: (ours: { pps: number; ratio: number }) => string
  runs?: number
}

/**
 * One offline replay comparison: our single-thread pipeline (tools/bench/src/replay-pipeline.ts)
 * and tshark on the same file, separate processes timed alike (wall time including start-up,
 * peak RSS by GNU time), median of `runs`.
 */
export async function compareReplay(c: ReplayComparison): Promise<string> {
  const runs = c.runs ?? 3
  const ours = []
  for (let i = 0; i < runs; i++) ours.push(await timeCommand(process.execPath, [join(here, 'replay-pipeline.js'), c.file]))
  const result = JSON.parse(ours[0]!.stdout) as { packets: number; calls: number }
  const theirs = []
  for (let i = 0; i < runs; i++) theirs.push(await timeCommand('tshark', ['-n', '-r', c.file, ...c.tsharkArgs]))
  const tsharkCalls = c.countTsharkCalls(theirs[0]!.stdout)
  const oursS = median(ours.map((t) => t.seconds))
  const theirsS = median(theirs.map((t) => t.seconds))
  const pps = result.packets / oursS
  const ratio = theirsS / oursS
  const rows = [
    ['Tapwire pipeline (1 thread)', fmt(result.packets), fmt(result.calls), fmt(oursS, 2), fmt(pps), fmt(result.calls / oursS), fmt(median(ours.map((t) => t.maxRssMiB)))],
    [`tshark ${c.tsharkArgs.filter((a) => a === '-Y').length ? '-Y …' : ''}`.trim(), fmt(result.packets), fmt(tsharkCalls), fmt(theirsS, 2), fmt(result.packets / theirsS), fmt(tsharkCalls / theirsS), fmt(median(theirs.map((t) => t.maxRssMiB)))],
  ]
  return [
    `_${machineLine()}; ${c.caption}; median of ${runs} runs; wall time includes process start-up._`,
    '',
    table(['reader', 'packets', 'calls', 'seconds', 'packets/s', 'calls/s', 'peak RSS MiB'], rows),
    '',
    `**Ratio: Tapwire is ${fmt(ratio, 1)}× tshark's rate on the same file** (calls found: ${fmt(result.calls)} vs tshark's ${fmt(tsharkCalls)}).`,
    ...(c.goal ? ['', c.goal({ pps, ratio })] : []),
  ].join('\n')
}

export const countNonEmptyLines = (stdout: string): number => stdout.split('\n').filter((l) => l.trim() !== '').length
