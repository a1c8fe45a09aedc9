// Synthetic node captures for the export and slice benchmarks: Ethernet/IPv4/TCP packets of
// realistic sizes with timestamps interleaved across nodes, written by our own pcap writer in the
// format the agents' rings produce (classic pcap, little-endian, ns resolution, snaplen 262144).
import { closeSync, openSync } from 'node:fs'
import { PcapWriter } from '@tapwire/pcap'

/** 2023-11-14T22:13:20Z: a fixed epoch, so runs are reproducible. */
export const BENCH_T0_SEC = 1_700_000_000
const FLOWS = 16

/** xorshift32: deterministic, fast, good enough to spread sizes, gaps and nodes. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 0x1_0000_0000
  }
}

/**
 * Frame sizes as on a busy service network: a third bare ACKs and small requests (60-66 bytes),
 * a quarter mid-sized (100-700), the rest full 1514-byte segments; mean about 720 bytes.
 */
export function frameSize(r: number, r2: number): number {
  if (r < 0.35) return 60 + Math.floor(r2 * 7)
  if (r < 0.6) return 100 + Math.floor(r2 * 601)
  return 1514
}

/** One full-size Ethernet + IPv4 + TCP frame per flow; each packet patches lengths and sequence. */
function flowTemplates(node: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let f = 0; f < FLOWS; f++) {
    const b = new Uint8Array(1514)
    const v = new DataView(b.buffer)
    b.set([2, 0, 0, 0, node, f, 2, 0, 0, 0, node, 0x80 | f], 0)
    v.setUint16(12, 0x0800)
    b[14] = 0x45
    b[22] = 64
    b[23] = 6
    b.set([10, 0, node, 10 + f], 26)
    b.set([10, 1, f, 20], 30)
    v.setUint16(34, 40_000 + f)
    v.setUint16(36, f % 2 === 0 ? 8080 : 5432)
    b[46] = 0x50
    b[47] = 0x18
    v.setUint16(48, 0xffff)
    for (let i = 54; i < b.length; i++) b[i] = (i * 31 + f * 7 + node) & 0xff
    out.push(b)
  }
  return out
}

/** One synthetic packet; the object and its bytes are reused by the next call. */
export interface SynthPacket {
  node: number
  tsSec: number
  tsNsec: number
  data: Uint8Array
}

/**
 * The packet stream: one global clock advances 0-20 µs per packet (sometimes 0, so cross-node
 * timestamp ties occur) and each packet goes to a random node, so per-node streams interleave
 * finely, as captures of the same traffic on several nodes do.
 */
export function packetSynth(nodes: number, seed = 7): () => SynthPacket {
  const rnd = prng(seed)
  const templates = Array.from({ length: nodes }, (_, i) => flowTemplates(i))
  const seq = templates.map(() => new Uint32Array(FLOWS))
  const pkt: SynthPacket = { node: 0, tsSec: 0, tsNsec: 0, data: new Uint8Array(0) }
  let ns = 0
  return () => {
    const r = rnd()
    ns += r < 0.05 ? 0 : Math.floor(r * 20_000)
    const node = Math.floor(rnd() * nodes)
    const flow = Math.floor(rnd() * FLOWS)
    const len = frameSize(rnd(), rnd())
    const data = templates[node]![flow]!
    const v = new DataView(data.buffer)
    v.setUint16(16, len - 14)
    v.setUint32(38, seq[node]![flow]!)
    seq[node]![flow]! += len - 54
    pkt.node = node
    pkt.tsSec = BENCH_T0_SEC + Math.floor(ns / 1e9)
    pkt.tsNsec = ns % 1e9
    pkt.data = data.subarray(0, len)
    return pkt
  }
}

export interface NodeFilesResult {
  packets: number[]
  bytes: number[]
  firstMs: number
  lastMs: number
}

/** Writes `paths.length` node files holding `totalBytes` of pcap between them (see packetSynth). */
export async function writeNodeFiles(
  paths: string[],
  totalBytes: number,
  seed = 7
): Promise<NodeFilesResult> {
  const next = packetSynth(paths.length, seed)
  const fds = paths.map((p) => openSync(p, 'w'))
  const writers = fds.map(
    (fd) =>
      new PcapWriter(fd, { linkType: 1, resolution: 'ns', snapLen: 262144, bufferSize: 4 << 20 })
  )
  const packets = paths.map(() => 0)
  let written = 24 * paths.length
  let lastMs = 0
  let last: Promise<void> | undefined
  try {
    while (written < totalBytes) {
      const p = next()
      const w = writers[p.node]!.write(p)
      packets[p.node]!++
      written += 16 + p.data.length
      lastMs = p.tsSec * 1000 + p.tsNsec / 1e6
      // write() returns the same settled promise until a flush is pending: await only changes.
      if (w !== last) {
        last = w
        await w
      }
    }
    for (const w of writers) await w.close()
  } finally {
    for (const fd of fds) closeSync(fd)
  }
  return {
    packets,
    bytes: writers.map((w) => w.bytesWritten),
    firstMs: BENCH_T0_SEC * 1000,
    lastMs,
  }
}
