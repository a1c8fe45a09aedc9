/* eslint-disable @nx/enforce-module-boundaries -- tests record and read captures with the Node-side harness */
import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, requireTool, tempDir } from '@tapwire/testing'
import { http1Dissector } from '../http1/http1-dissector.js'
import { http2Dissector } from './http2-dissector.js'

const run = promisify(execFile)
const REQUESTS = 20_000

// A measurement, not a check: run with TAPWIRE_BENCH=1 to print calls/s and packets/s of
// analyzeFile on ~20k HTTP/2 requests, against tshark's wall time on the same file.
describe.skipIf(!process.env['TAPWIRE_BENCH'])('HTTP/2 throughput (TAPWIRE_BENCH=1)', () => {
  let dir: ReturnType<typeof tempDir> | undefined
  afterAll(() => dir?.dispose())

  it('measures analyzeFile and tshark', async () => {
    dir = tempDir()
    const file = join(dir.path, 'bench.pcap')
    const server = http2.createServer()
    server.on('stream', (stream, headers) => {
      stream.on('data', () => undefined)
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/json' })
        stream.end(JSON.stringify({ path: headers[':path'], ok: true }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      // 8 connections, 2 streams in flight on each: few requests share a segment, so the
      // capture has many packets (with many streams in flight, loopback coalesces them).
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          const client = http2.connect(`http://127.0.0.1:${port}`)
          let next = 0
          const worker = async () => {
            while (next < REQUESTS / 8) {
              const i = next++
              await new Promise<void>((resolve, reject) => {
                const req = client.request({
                  ':method': i % 4 === 0 ? 'POST' : 'GET',
                  ':path': `/api/c${c}/items/${i}?page=${i % 7}`,
                })
                req.on('data', () => undefined)
                req.on('end', resolve)
                req.on('error', reject)
                req.end(i % 4 === 0 ? JSON.stringify({ i, name: 'widget' }) : undefined)
              })
            }
          }
          await Promise.all(Array.from({ length: 2 }, worker))
          await new Promise<void>((r) => client.close(() => r()))
        })
      )
    })
    await new Promise<void>((r) => server.close(() => r()))

    const t0 = performance.now()
    const result = await analyzeFile(file, { dissectors: [http1Dissector, http2Dissector] })
    const ours = (performance.now() - t0) / 1000
    const bin = requireTool('tshark', 'tshark')
    const t1 = performance.now()
    await run('sh', [
      '-c',
      `${bin} -r ${file} -d tcp.port==${port},http2 -Y http2 -T fields -e http2.streamid > /dev/null 2>&1`,
    ])
    const theirs = (performance.now() - t1) / 1000
    const { packets, bytes } = result.stats
    console.log(
      `HTTP/2 bench: ${result.entries.length} calls, ${packets} packets, ${(bytes / 1e6).toFixed(1)} MB; analyzeFile ${ours.toFixed(2)} s ` +
        `(${Math.round(result.entries.length / ours)} calls/s, ${Math.round(packets / ours)} packets/s); tshark ${theirs.toFixed(2)} s`
    )
    expect(result.entries.length).toBe(REQUESTS)
    expect(result.stats.flows.tcpGaps).toBe(0)
  }, 300_000)
})
