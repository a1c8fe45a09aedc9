import { join } from 'node:path'
import { recordMixedTraffic } from './mixed-traffic.js'
import { fmt } from './report.js'
import { compareReplay } from './replay-compare.js'

/** Counts request methods in `-e http.request.method -e http2.headers.method` output. */
function countMethods(stdout: string): number {
  let n = 0
  for (const line of stdout.split('\n')) for (const cell of line.split('\t')) n += cell.split(',').filter((m) => /^[A-Z]+$/.test(m)).length
  return n
}

/**
 * Offline replay of a mixed HTTP/1.1 + HTTP/2 + gRPC capture (the HTTP issue's benchmark):
 * our pipeline vs tshark decoding the same file. Goal: ≥ 5× tshark and ≥ 200k packets/s.
 */
export async function benchMixedReplay(dir: string, sizes: readonly number[], runs = 3): Promise<string> {
  const sections: string[] = []
  for (const perProtocol of sizes) {
    sections.push(`#### ${fmt(perProtocol)} calls per protocol\n\n${await mixedReplayOnce(dir, perProtocol, runs)}`)
  }
  return sections.join('\n\n')
}

async function mixedReplayOnce(dir: string, perProtocol: number, runs: number): Promise<string> {
  const file = join(dir, `mixed-${perProtocol}.pcap`)
  const p = await recordMixedTraffic(file, perProtocol)
  return compareReplay({
    caption: `${fmt(perProtocol)} calls each of HTTP/1.1, HTTP/2 and gRPC recorded by the bench`,
    file,
    runs,
    tsharkArgs: [
      '-d', `tcp.port==${p.http1},http`, '-d', `tcp.port==${p.http2},http2`, '-d', `tcp.port==${p.grpc},http2`,
      '-Y', 'http.request || http2.type == 1', '-T', 'fields', '-e', 'http.request.method', '-e', 'http2.headers.method',
    ],
    countTsharkCalls: countMethods,
    goal: ({ pps, ratio, pipelinePps, warmPps }) => {
      const met = (x: number): string => (x >= 200_000 ? 'met' : '**missed**')
      return (
        `Goal (HTTP issue): ≥ 5× tshark and ≥ 200,000 packets/s on one core — ratio ${ratio >= 5 ? 'met' : `**missed** (${fmt(ratio, 1)}×)`}; ` +
        `rate: ${fmt(warmPps)}/s once the pipeline runs (warm, what a running agent sustains): ${met(warmPps)}; ` +
        `a cold one-shot run of this file: ${fmt(pps)}/s with start-up (${met(pps)}), ${fmt(pipelinePps)}/s in-process (${met(pipelinePps)}).`
      )
    },
  })
}
