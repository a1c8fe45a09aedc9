import { BatchBuilder } from './batch.js'

export interface BatchPackerOptions {
  /** Packets per batch at most (default 2048, what live capture hands the worker at most). */
  maxPackets?: number
  /** Initial size of a batch buffer (default 1 MiB; grows for larger packets). */
  bufferBytes?: number
}

/**
 * Packs captured records into packet batches for offline dissection (a file replay, delayed
 * dissection of a snapshot): the `RecordSink` shape of libs/pcap, so a capture file's records
 * are copied from the reader's buffer straight into a batch, with no object or view per packet.
 * A batch holds one link type and at most `maxPackets`; finished batches wait in a queue for
 * `take()`. A consumer done with a batch may `release()` it: its buffer then takes a later batch
 * instead of fresh memory (a transferred buffer, detached, must not be released).
 */
export class BatchPacker {
  readonly #max: number
  readonly #bytes: number
  readonly #queue: ArrayBuffer[] = []
  readonly #free: ArrayBuffer[] = []
  #builder: BatchBuilder | undefined
  #recycling = false
  /** Packets packed so far, and their original (wire) lengths summed. */
  packets = 0
  bytes = 0
  /** Link type of the first packet packed (-1 before). */
  firstLinkType = -1

  constructor(options: BatchPackerOptions = {}) {
    this.#max = Math.max(1, options.maxPackets ?? 2048)
    this.#bytes = options.bufferBytes ?? 1 << 20
  }

  record(
    linkType: number,
    ifIndex: number,
    tsSec: number,
    tsNsec: number,
    buf: Uint8Array,
    start: number,
    capLen: number,
    origLen: number
  ): void {
    let b = this.#builder
    if (b === undefined || b.linkType !== linkType) {
      this.flush()
      b = this.#builder = new BatchBuilder(linkType, this.#bytes)
      if (this.firstLinkType < 0) this.firstLinkType = linkType
    }
    b.appendFrom(buf, start, capLen, tsSec, tsNsec, origLen, ifIndex)
    this.packets++
    this.bytes += origLen
    if (b.count >= this.#max) this.#finish(b)
  }

  #finish(b: BatchBuilder): void {
    // Once the consumer gives buffers back, batches go out untrimmed and two buffers circulate;
    // until then a batch under half full is trimmed (BatchBuilder.finish), as for live capture.
    const next = this.#recycling ? (this.#free.pop() ?? new ArrayBuffer(this.#bytes)) : undefined
    this.#queue.push(b.finish(next))
  }

  /** Finishes the batch under way, if any (at the end of the input). */
  flush(): void {
    const b = this.#builder
    if (b !== undefined && b.count > 0) this.#finish(b)
  }

  /** The oldest finished batch, or undefined. */
  take(): ArrayBuffer | undefined {
    return this.#queue.shift()
  }

  /** A taken batch the consumer no longer needs (not transferred elsewhere). */
  release(batch: ArrayBuffer): void {
    this.#recycling = true
    // A detached (transferred) buffer has byteLength 0 and is left out here.
    if (batch.byteLength >= this.#bytes && this.#free.length < 2) this.#free.push(batch)
  }
}
