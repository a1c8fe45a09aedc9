import { join } from 'node:path'
import { fmt } from './report.js'
import { compareReplay, countNonEmptyLines } from './replay-compare.js'
import { recordHttp1Traffic } from './traffic.js'

/** Offline replay of recorded HTTP/1.1 traffic vs `tshark -r FILE -Y http` on the same file. */
export async function benchHttp1Replay(dir: string, requests: number, runs = 3): Promise<string> {
  const file = join(dir, 'http1.pcap')
  const port = await recordHttp1Traffic(file, requests)
  return compareReplay({
    caption: `${fmt(requests)} HTTP/1.1 requests recorded by the bench`,
    file,
    runs,
    tsharkArgs: ['-d', `tcp.port==${port},http`, '-Y', 'http', '-T', 'fields', '-e', 'http.request.method'],
    countTsharkCalls: countNonEmptyLines,
  })
}
