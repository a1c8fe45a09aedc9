#!/usr/bin/env node
// `npm run bench`: runs every benchmark against its peer in the same run and rewrites the tables
// of BENCHMARKS.md. Bounded: fixed request counts, loopback only.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchHttp1Replay } from './http1-replay.js'
import { benchExport } from './export-merge.js'
import { benchHubQuery } from './hub-query.js'
import { benchLoad } from './load-http.js'
import { benchMixedReplay } from './mixed-replay.js'
import { benchProtocolReplay } from './protocol-replay.js'
import { benchKflEval } from './kfl-eval.js'
import { replaceSection } from './report.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const md = join(root, 'BENCHMARKS.md')
const only = process.argv.slice(2)
const want = (name: string): boolean => only.length === 0 || only.includes(name)
const dir = mkdtempSync(join(tmpdir(), 'tapwire-bench-'))

try {
  if (want('http1-replay')) {
    console.log('bench: HTTP/1.1 offline replay vs tshark')
    replaceSection(md, 'http1-replay', await benchHttp1Replay(dir, Number(process.env.BENCH_REQUESTS ?? 30_000)))
  }
  if (want('mixed-replay')) {
    console.log('bench: HTTP/1.1 + HTTP/2 + gRPC offline replay vs tshark')
    // Two lengths of capture: on the short one the fixed costs (process start-up, JIT warm-up)
    // weigh; on the long one the rate is what the pipeline sustains.
    const sizes = (process.env.BENCH_MIXED ?? '30000,100000').split(',').map(Number)
    replaceSection(md, 'mixed-replay', await benchMixedReplay(dir, sizes))
  }
  if (want('protocol-replay')) {
    console.log('bench: per-protocol offline replay (issue 4 dissectors) vs tshark')
    const r = await benchProtocolReplay(dir, {
      calls: Number(process.env.BENCH_PROTOCOL_CALLS ?? 20_000),
      runs: Number(process.env.BENCH_PROTOCOL_RUNS ?? 3),
      seconds: Number(process.env.BENCH_PROTOCOL_SECONDS ?? 120),
      only: (process.env.BENCH_PROTOCOLS ?? '').split(',').filter((p) => p !== ''),
    })
    replaceSection(md, 'protocol-replay', r.section)
    if (r.failures.length > 0) {
      console.error(`bench: protocol-replay failed for ${r.failures.join('; ')}`)
      process.exitCode = 1
    }
  }
  if (want('kfl-eval')) {
    console.log('bench: KFL evaluation rate (and @bufbuild/cel on the same filters)')
    replaceSection(md, 'kfl-eval', await benchKflEval(1_000_000))
  }
  if (want('hub-query')) {
    console.log('bench: hub ingest and /mcp/calls latency')
    replaceSection(md, 'hub-query', await benchHubQuery(Number(process.env.BENCH_ENTRIES ?? 1_000_000)))
  }
  if (want('load')) {
    // The longest (about 8 minutes): sustained live capture vs tcpdump (also `npm run test:load`).
    console.log('bench: live capture under load vs tcpdump')
    replaceSection(md, 'load', await benchLoad())
  }
  if (want('export-merge')) {
    console.log('bench: merged PCAP export vs mergecap, and the slice transfer over NATS')
    replaceSection(md, 'export', await benchExport(dir, Number(process.env.BENCH_EXPORT_MIB ?? 1100), Number(process.env.BENCH_SLICE_MIB ?? 300)))
  }
  console.log(`bench: wrote ${md}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
