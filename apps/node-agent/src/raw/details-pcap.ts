import type { ConnWindow } from '@tapwire/dissectors'
import type { DetailsResponse } from '@tapwire/wire'
import { connectionPcap } from './conn-pcap.js'
import type { RawRing } from './raw-ring.js'

export type PcapAnswer = Pick<DetailsResponse, 'pcap' | 'pcapPackets' | 'pcapTruncated' | 'pcapError'>

export interface DetailsPcapOptions {
  /** Waiting for the ring's write-behind queue (the call's newest packets may still be in it). */
  flushWaitMs?: number
  /** Time allowed for reading the ring; the hub waits a little longer for the answer. */
  readBudgetMs?: number
  /** Connection PCAPs read at once; more are refused (each holds ~3x its bound while encoded). */
  maxConcurrent?: number
}

/**
 * include_pcap of a drill-down, on the agent's main thread (which owns the ring): waits, bounded,
 * for the packets still queued for the disk, then cuts the connection's packets out of the ring.
 * Capture is not held up: append stays a copy into the queue, ring reads are async file reads.
 */
export class DetailsPcap {
  readonly #raw: () => RawRing | undefined
  readonly #flushWaitMs: number
  readonly #readBudgetMs: number
  readonly #maxConcurrent: number
  #running = 0

  constructor(raw: () => RawRing | undefined, opts: DetailsPcapOptions = {}) {
    this.#raw = raw
    this.#flushWaitMs = opts.flushWaitMs ?? 2000
    this.#readBudgetMs = opts.readBudgetMs ?? 6000
    this.#maxConcurrent = opts.maxConcurrent ?? 1
  }

  async answer(conn: ConnWindow | undefined, maxBytes: number): Promise<PcapAnswer> {
    const raw = this.#raw()
    if (raw === undefined || !raw.enabled) return { pcapError: 'raw capture is not enabled on this node' }
    if (conn === undefined) {
      return { pcapError: "the agent no longer knows this call's connection (it closed long ago or the agent restarted)" }
    }
    if (this.#running >= this.#maxConcurrent) {
      return { pcapError: 'the node is already reading connection PCAPs; retry in a moment' }
    }
    this.#running++
    try {
      const flushed = await flushWithin(raw, this.#flushWaitMs)
      const ring = raw.ring
      if (ring === undefined) return { pcapError: 'the raw-capture ring is not open yet' }
      const r = await connectionPcap(ring, conn, { maxBytes, deadline: Date.now() + this.#readBudgetMs })
      if (!flushed && (ring.stats().newestTs ?? 0) < conn.lastTs) {
        r.truncated = true
        r.note ??= "the connection's newest packets were still queued for the disk"
      }
      if (r.packets === 0) return { pcapError: r.note ?? 'no packets of this connection are in the raw-capture ring', pcapTruncated: r.truncated }
      return { pcap: r.pcap, pcapPackets: r.packets, pcapTruncated: r.truncated, ...(r.note ? { pcapError: r.note } : {}) }
    } catch (e) {
      return { pcapError: `reading the raw-capture ring failed: ${(e as Error).message}` }
    } finally {
      this.#running--
    }
  }
}

/**
 * The ring writes behind: a call that just ended may have its last packets in the queue, and the
 * ring's readers see only completed writes. Under steady traffic the queue may never be empty at
 * once, so the wait is bounded; false when it timed out.
 */
async function flushWithin(raw: RawRing, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      raw.flush().then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ])
  } finally {
    clearTimeout(timer)
  }
}
