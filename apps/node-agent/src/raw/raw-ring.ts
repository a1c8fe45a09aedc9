import { readBatchInfo } from '@tapwire/packet'
import { PcapRing } from '@tapwire/pcap'
import type { RingStats } from '@tapwire/pcap'

export interface RawRingOptions {
  dir: string
  maxBytes: number
  /** Reports open failures and recoveries (the capture goes on without raw capture). */
  log: (msg: string) => void
}

/** Batches kept while the ring opens: a few ms of traffic, bounded so a stuck open cannot grow. */
const MAX_PENDING_BYTES = 16 << 20

/**
 * The agent's raw capture: every capture batch goes into the PcapRing before it is transferred to
 * the dissector worker, whether L7 dissection is on or off. The ring opens lazily on the first
 * batch because its link type is the capture's, known only once libpcap opened the device; the
 * batches that arrive during the (async) open are copied and appended once it is ready.
 */
export class RawRing {
  readonly #opts: RawRingOptions
  #ring: PcapRing | undefined
  #opening: Promise<void> | undefined
  #pending: ArrayBuffer[] = []
  #pendingBytes = 0
  #lostWhileOpening = 0
  #failed = false
  #closed = false

  constructor(opts: RawRingOptions) {
    this.#opts = opts
  }

  /** Null until the first batch opened it (or when it failed to open). */
  get ring(): PcapRing | undefined {
    return this.#ring
  }

  get enabled(): boolean {
    return !this.#failed && !this.#closed
  }

  /** Synchronous; call it BEFORE the batch is transferred (a transferred buffer is detached). */
  append(batch: ArrayBuffer): void {
    if (this.#failed || this.#closed) return
    if (this.#ring !== undefined) {
      this.#ring.append(batch)
      return
    }
    if (this.#pendingBytes + batch.byteLength <= MAX_PENDING_BYTES) {
      this.#pending.push(batch.slice(0))
      this.#pendingBytes += batch.byteLength
    } else this.#lostWhileOpening += readBatchInfo(batch).count
    this.#opening ??= this.#open(readBatchInfo(batch).linkType)
  }

  async #open(linkType: number): Promise<void> {
    try {
      // The write-behind queue must hold several capture batches (up to 1 MiB each): the ring's
      // default (a quarter of a small ring) would drop most batches of a burst. 16 MiB at most, its
      // share of the agent's memory budget (docs/architecture.md, "The agent's memory budget").
      const ring = await PcapRing.open(this.#opts.dir, {
        maxBytes: this.#opts.maxBytes,
        linkType,
        maxQueueBytes: 16 << 20,
      })
      const r = ring.recovery
      if (r.rebuiltIndexes > 0 || r.truncatedBytes > 0 || r.removed.length > 0) {
        this.#opts.log(
          `pcap ring: kept ${r.segments} segments, rebuilt ${r.rebuiltIndexes} indexes, cut ${r.truncatedBytes} torn bytes, removed ${r.removed.length} files`
        )
      }
      if (this.#closed) {
        await ring.close()
        return
      }
      this.#ring = ring
      for (const b of this.#pending) ring.append(b)
      this.#opts.log(
        `raw capture into ${this.#opts.dir} (bound ${this.#opts.maxBytes} bytes, link type ${linkType})`
      )
    } catch (e) {
      this.#failed = true
      this.#opts.log(
        `raw capture disabled: cannot open the pcap ring in ${this.#opts.dir}: ${(e as Error).message}`
      )
    } finally {
      this.#pending = []
      this.#pendingBytes = 0
    }
  }

  /** Waits for the open and for every appended batch to be on disk. */
  async flush(): Promise<void> {
    await this.#opening
    await this.#ring?.flush()
  }

  stats(): (RingStats & { lostWhileOpening: number }) | undefined {
    const s = this.#ring?.stats()
    return s === undefined ? undefined : { ...s, lostWhileOpening: this.#lostWhileOpening }
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#opening
    await this.#ring?.close()
  }
}
