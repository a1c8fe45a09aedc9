// Issue 6 benchmark, second half: the agent → hub snapshot slice pull over a real nats-server
// (apps/hub/src/snapshots/transfer.ts ↔ apps/node-agent/src/raw/slice-server.ts), each end in its
// own process (export-slice-peer.ts).
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { procUsage, startNatsServer, TestProcess } from '@tapwire/testing'
import { fmt, table } from './report.js'
import { median, timeCommand } from './timing.js'

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'export-slice-peer.js')
const NODE = 'bench-slice'

const kib = (re: RegExp, text: string): number => Number(re.exec(text)?.[1] ?? 0) / 1024

export interface SliceRun {
  seconds: number
  bytes: number
  packets: number
  chunks: number
  hubRssMiB: number
  agentRssMiB: number
  /** CPU seconds (user + system) of each end during the transfer. */
  hubCpuS: number
  agentCpuS: number
  natsCpuS: number
}

/**
 * Fills a ring with `mib` MiB in the agent peer, then pulls the whole slice `rounds` times with
 * each window size of `pipelines` (chunk requests in flight; 1 = one at a time), alternating.
 */
export async function measureSliceTransfer(dir: string, mib: number, pipelines: number[] = [4, 1], rounds = 3): Promise<Map<number, SliceRun[]>> {
  const nats = await startNatsServer()
  const agent = new TestProcess('slice-agent', process.execPath, [PEER, 'agent', nats.url, NODE, join(dir, 'ring'), String(mib)])
  const runs = new Map<number, SliceRun[]>(pipelines.map((p) => [p, []]))
  try {
    await agent.waitFor(/READY \{.*\}/, 600_000)
    const ready = JSON.parse(/READY (\{.*\})/.exec(agent.output)![1]!) as { startMs: number; endMs: number; packets: number }
    for (let i = 0; i < rounds * pipelines.length; i++) {
      const pipeline = pipelines[i % pipelines.length]!
      const out = join(dir, 'slice.pcap')
      try {
        writeClearRefs(agent.pid!)
        const a0 = procUsage(agent.pid!).cpuS
        const n0 = procUsage(nats.process.pid!).cpuS
        const t = await timeCommand(process.execPath, [PEER, 'hub', nats.url, NODE, String(ready.startMs), String(ready.endMs), out], { ...process.env, BENCH_SLICE_PIPELINE: String(pipeline) })
        const agentCpuS = procUsage(agent.pid!).cpuS - a0
        const natsCpuS = procUsage(nats.process.pid!).cpuS - n0
        const res = JSON.parse(t.stdout.trim().split('\n').pop()!) as { bytes: number; packets: number; chunks: number; seconds: number; cpuS: number }
        if (res.packets !== ready.packets || statSync(out).size !== res.bytes)
          throw new Error(`slice incomplete: ${res.packets}/${ready.packets} packets, ${res.bytes} bytes`)
        const status = readFileSync(`/proc/${agent.pid!}/status`, 'utf8')
        runs.get(pipeline)!.push({ ...res, hubRssMiB: t.maxRssMiB, agentRssMiB: kib(/VmHWM:\s+(\d+) kB/, status), hubCpuS: res.cpuS, agentCpuS, natsCpuS })
        console.log(`  slice, ${pipeline} in flight: ${(res.bytes / 1e6).toFixed(0)} MB in ${res.seconds.toFixed(2)} s (CPU s: hub ${res.cpuS.toFixed(2)}, agent ${agentCpuS.toFixed(2)}, nats-server ${natsCpuS.toFixed(2)})`)
      } finally {
        rmSync(out, { force: true })
      }
    }
  } finally {
    await agent.stop()
    await nats.dispose()
    rmSync(join(dir, 'ring'), { recursive: true, force: true })
  }
  return runs
}

function writeClearRefs(pid: number): void {
  try {
    // Resets the agent's VmHWM so it shows the transfer's peak, not the ring fill's.
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
  } catch {
    // Not permitted: VmHWM then covers the whole process life (an upper bound).
  }
}

export function sliceTable(runs: Map<number, SliceRun[]>, mib: number): string {
  const rows = [...runs.entries()].map(([pipeline, rs]) => {
    const s = median(rs.map((r) => r.seconds))
    const m = rs.find((r) => r.seconds === s)!
    return [
      pipeline === 1 ? '1 (one chunk at a time, as before)' : `${pipeline} (default)`,
      fmt(m.bytes),
      fmt(m.chunks),
      fmt(m.seconds, 2),
      fmt(m.bytes / 1e6 / m.seconds),
      `${fmt(m.hubCpuS, 2)} / ${fmt(m.agentCpuS, 2)} / ${fmt(m.natsCpuS, 2)}`,
      `${fmt(Math.max(...rs.map((r) => r.hubRssMiB)))} / ${fmt(Math.max(...rs.map((r) => r.agentRssMiB)))}`,
    ]
  })
  const n = [...runs.values()][0]?.length ?? 0
  return [
    `Slice transfer: one node's ${fmt(mib)} MiB ring slice pulled by the hub's \`fetchSlice\` from the agent's \`SliceServer\` over a real nats-server, each end its own process; 256 KiB chunks, each checked by its own SHA-256 and the whole slice by another; median of ${n} per row, rows alternating.`,
    '',
    table(['chunk requests in flight', 'bytes', 'chunks', 'seconds', 'MB/s', 'CPU s hub / agent / nats-server', 'peak RSS MiB hub / agent'], rows),
  ].join('\n')
}
