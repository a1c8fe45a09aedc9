import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machineLine } from './machine.js'
import { fmt, table } from './report.js'
import { median, timeCommand } from './timing.js'
import { recordHttp1Traffic } from './traffic.js'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Offline replay of recorded HTTP/1.1 traffic: our dissection pipeline vs `tshark -r FILE -Y http`
 * on the same file in the same run. Both are separate processes timed the same way (wall time
 * including start-up, peak RSS); the median of `runs` is reported.
 */
export async function benchHttp1Replay(dir: string, requests: number, runs = 3): Promise<string> {
  const file = join(dir, 'http1.pcap')
  const port = await recordHttp1Traffic(file, requests)
  const ours = []
  for (let i = 0; i < runs; i++) ours.push(await timeCommand(process.execPath, [join(here, 'replay-pipeline.js'), file]))
  const result = JSON.parse(ours[0]!.stdout) as { packets: number; calls: number }
  const theirs = []
  for (let i = 0; i < runs; i++) {
    theirs.push(
      await timeCommand('tshark', ['-n', '-r', file, '-d', `tcp.port==${port},http`, '-Y', 'http', '-T', 'fields', '-e', 'http.request.method'])
    )
  }
  const tsharkCalls = theirs[0]!.stdout.split('\n').filter((l) => l.trim() !== '').length
  const oursS = median(ours.map((t) => t.seconds))
  const theirsS = median(theirs.map((t) => t.seconds))
  const rows = [
    ['Tapwire pipeline (1 thread)', fmt(result.packets), fmt(result.calls), fmt(oursS, 2), fmt(result.packets / oursS), fmt(result.calls / oursS), fmt(median(ours.map((t) => t.maxRssMiB)))],
    ['tshark -r -Y http', fmt(result.packets), fmt(tsharkCalls), fmt(theirsS, 2), fmt(result.packets / theirsS), fmt(tsharkCalls / theirsS), fmt(median(theirs.map((t) => t.maxRssMiB)))],
  ]
  return [
    `_${machineLine()}; ${fmt(requests)} requests recorded by the bench; median of ${runs} runs; wall time includes process start-up._`,
    '',
    table(['reader', 'packets', 'calls', 'seconds', 'packets/s', 'calls/s', 'peak RSS MiB'], rows),
    '',
    `**Ratio: Tapwire is ${fmt(theirsS / oursS, 1)}× tshark's rate on the same file** (calls found: ${fmt(result.calls)} vs tshark's ${fmt(tsharkCalls)}).`,
  ].join('\n')
}
