import type { Entry } from '@tapwire/wire'
import { EntryBatchWriter } from '@tapwire/wire'
import type { EntryBatchMessage } from './protocol.js'

export interface EntryBatcherOptions {
  node: string
  bootId: string
  /** A batch is sealed at this many entries... */
  maxEntries?: number
  /** ...or once its encoded entries reach this many bytes (NATS max_payload defaults to 1 MiB). */
  maxBytes?: number
  send: (msg: EntryBatchMessage) => void
}

/**
 * Packs entries into EntryBatch messages: many entries per NATS message. Each entry is encoded as
 * it is added (EntryBatchWriter), while it is still in the CPU cache, and is garbage at once.
 */
export class EntryBatcher {
  readonly #opts: Required<Omit<EntryBatcherOptions, 'send'>> & Pick<EntryBatcherOptions, 'send'>
  readonly #writer = new EntryBatchWriter()
  #seq = 0
  #oldest = Infinity
  #newest = 0

  constructor(opts: EntryBatcherOptions) {
    this.#opts = { maxEntries: 1000, maxBytes: 512 * 1024, ...opts }
  }

  get pending(): number {
    return this.#writer.count
  }

  add(e: Entry): void {
    this.#writer.add(e)
    const ts = e.ts ?? 0
    if (ts < this.#oldest) this.#oldest = ts
    if (ts > this.#newest) this.#newest = ts
    // One entry is bounded by the preview and header limits (tens of KiB), so sealing after the
    // add keeps a message well under NATS max_payload (1 MiB by default).
    if (this.#writer.count >= this.#opts.maxEntries || this.#writer.byteLength >= this.#opts.maxBytes) this.flush()
  }

  flush(): void {
    const count = this.#writer.count
    if (count === 0) return
    const seq = ++this.#seq
    const { node, bootId } = this.#opts
    const msg: EntryBatchMessage = {
      type: 'entries',
      bytes: this.#writer.finish(node, seq),
      count,
      msgId: `${node}-${bootId}-${seq}`,
      oldestTs: this.#oldest,
      newestTs: this.#newest,
    }
    this.#oldest = Infinity
    this.#newest = 0
    this.#opts.send(msg)
  }
}
