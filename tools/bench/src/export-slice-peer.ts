#!/usr/bin/env node
// The two ends of the slice-transfer benchmark, each its own process on a real nats-server:
//   agent NATS NODE RING_DIR MIB  fills a PcapRing with MIB MiB of synthetic packets, then serves
//                                 tapwire.agent.NODE.pcap with the agent's SliceServer (as agent.ts
//                                 does) and prints `READY {"startMs","endMs","packets"}`;
//   hub NATS NODE START END OUT   pulls that slice with the hub's fetchSlice into OUT and prints
//                                 its result and wall time as JSON.
// The agent and hub code are loaded from their built dist, exactly what the processes run.
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { connect } from 'nats'
import type { NatsConnection } from 'nats'
import { BatchBuilder } from '@tapwire/packet'
import { PcapRing } from '@tapwire/pcap'
import { packetSynth } from './export-data.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface SliceServerLike {
  close(): void
}
interface FetchResult {
  bytes: number
  packets: number
  sha256: string
  chunks: number
  chunkRetries: number
  restarts: number
}
type Fetch = (o: {
  node: string
  startMs: number
  endMs: number
  path: string
  transport: unknown
  pipeline?: number
}) => Promise<FetchResult>

async function agent(natsUrl: string, node: string, ringDir: string, mib: number): Promise<void> {
  const bytes = mib * 2 ** 20
  const ring = await PcapRing.open(ringDir, {
    maxBytes: Math.ceil(bytes * 1.25) + (64 << 20),
    linkType: 1,
    maxQueueBytes: 512 << 20,
  })
  const next = packetSynth(1, 11)
  const builder = new BatchBuilder(1)
  let total = 24
  let packets = 0
  let startMs = 0
  let endMs = 0
  for (let batches = 0; total < bytes; ) {
    const p = next()
    if (packets === 0) startMs = p.tsSec * 1000 + p.tsNsec / 1e6
    endMs = p.tsSec * 1000 + p.tsNsec / 1e6
    builder.append(p.tsSec, p.tsNsec, p.data)
    total += 16 + p.data.length
    packets++
    if (builder.count === 1024) {
      ring.append(builder.finish())
      // Let the write-behind keep up, so no batch is dropped for a full queue.
      if (++batches % 64 === 0) await ring.flush()
    }
  }
  if (builder.count > 0) ring.append(builder.finish())
  await ring.flush()
  const st = ring.stats()
  if (st.droppedPackets > 0 || st.writtenPackets !== packets)
    throw new Error(`ring kept ${st.writtenPackets} of ${packets} packets`)
  const { SliceServer, subscribeSlices } = (await import(
    pathToFileURL(join(ROOT, 'apps/node-agent/dist/raw/slice-server.js')).href
  )) as {
    SliceServer: new (ring: () => PcapRing | undefined) => SliceServerLike
    subscribeSlices: (nc: NatsConnection, node: string, slices: SliceServerLike) => unknown
  }
  const slices = new SliceServer(() => ring)
  const nc = await connect({ servers: natsUrl, name: `bench-agent-${node}` })
  subscribeSlices(nc, node, slices)
  await nc.flush()
  console.log(`READY ${JSON.stringify({ startMs: Math.floor(startMs), endMs: Math.ceil(endMs), packets })}`)
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()))
  slices.close()
  await nc.close()
  await ring.close()
}

async function hub(natsUrl: string, node: string, startMs: number, endMs: number, out: string): Promise<void> {
  const { fetchSlice, natsSliceTransport } = (await import(
    pathToFileURL(join(ROOT, 'apps/hub/dist/snapshots/transfer.js')).href
  )) as { fetchSlice: Fetch; natsSliceTransport: (nc: unknown) => unknown }
  const nc = await connect({ servers: natsUrl, name: 'bench-hub' })
  const pipeline = process.env['BENCH_SLICE_PIPELINE']
  const t0 = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  const r = await fetchSlice({
    node,
    startMs,
    endMs,
    path: out,
    transport: natsSliceTransport(nc),
    ...(pipeline ? { pipeline: Number(pipeline) } : {}),
  })
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  await nc.close()
  console.log(JSON.stringify({ ...r, seconds, cpuS: (cpu.user + cpu.system) / 1e6 }))
}

const [mode, ...args] = process.argv.slice(2)
if (mode === 'agent') await agent(args[0]!, args[1]!, args[2]!, Number(args[3]))
else if (mode === 'hub') await hub(args[0]!, args[1]!, Number(args[2]), Number(args[3]), args[4]!)
else {
  console.error('usage: export-slice-peer agent NATS NODE RING_DIR MIB | hub NATS NODE START END OUT')
  process.exit(2)
}
