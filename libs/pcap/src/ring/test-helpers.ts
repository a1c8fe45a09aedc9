/** Test helpers for the ring tests (not exported): synthetic batches and on-disk inspection. */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BatchBuilder } from '@tapwire/packet'
import type { CaptureRecord } from '../types.js'

export const ETHERNET = 1
export const BASE_SEC = 1_700_000_000

export interface Pkt {
  tsSec: number
  tsNsec: number
  data: Uint8Array
}

/** Packet `i`: ts = base + i * stepNs (+ jitter), 60..~600 bytes, its index in the first 4 bytes. */
export function makePackets(
  n: number,
  opts: { stepNs?: number; jitterNs?: (i: number) => number; first?: number } = {}
): Pkt[] {
  const step = opts.stepNs ?? 1_000_000
  const out: Pkt[] = []
  for (let k = 0; k < n; k++) {
    const i = (opts.first ?? 0) + k
    const t = i * step + (opts.jitterNs?.(i) ?? 0)
    const len = 60 + ((i * 37) % 540)
    const data = new Uint8Array(len)
    new DataView(data.buffer).setUint32(0, i, true)
    for (let j = 4; j < len; j++) data[j] = (i + j) & 0xff
    out.push({ tsSec: BASE_SEC + Math.floor(t / 1e9), tsNsec: t % 1e9, data })
  }
  return out
}

export function toBatches(
  pkts: readonly Pkt[],
  perBatch: number,
  linkType = ETHERNET
): ArrayBuffer[] {
  const b = new BatchBuilder(linkType)
  const out: ArrayBuffer[] = []
  for (const p of pkts) {
    b.append(p.tsSec, p.tsNsec, p.data)
    if (b.count === perBatch) out.push(b.finish())
  }
  if (b.count > 0) out.push(b.finish())
  return out
}

export function msOf(p: { tsSec: number; tsNsec: number }): number {
  return p.tsSec * 1000 + p.tsNsec / 1e6
}

export function idOf(r: { data: Uint8Array }): number {
  return new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength).getUint32(0, true)
}

export async function collect(it: AsyncIterable<CaptureRecord>): Promise<CaptureRecord[]> {
  const out: CaptureRecord[] = []
  for await (const r of it) out.push({ ...r, data: r.data.slice() })
  return out
}

/** Sum of the sizes of every file in `dir`. */
export function dirBytes(dir: string): number {
  let t = 0
  for (const n of readdirSync(dir)) {
    // The write-behind may unlink an evicted segment between the listing and the stat.
    t += statSync(join(dir, n), { throwIfNoEntry: false })?.size ?? 0
  }
  return t
}

export function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.pcap'))
    .sort()
    .map((n) => join(dir, n))
}
