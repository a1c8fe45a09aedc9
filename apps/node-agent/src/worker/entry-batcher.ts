import type { Entry } from '@tapwire/wire'
import { encodeEntryBatch } from '@tapwire/wire'
import type { EntryBatchMessage } from './protocol.js'

export interface EntryBatcherOptions {
  node: string
  bootId: string
  /** A batch is sealed at this many entries... */
  maxEntries?: number
  /** ...or at roughly this many encoded bytes (NATS max_payload defaults to 1 MiB). */
  maxBytes?: number
  send: (msg: EntryBatchMessage) => void
}

/** Rough encoded size of an entry, enough to keep messages under the payload limit. */
function approxSize(e: Entry): number {
  let n = 200 + (e.reqBody?.length ?? 0) + (e.respBody?.length ?? 0) + (e.url?.length ?? 0)
  for (const h of e.reqHeaders ?? []) n += (h.name?.length ?? 0) + (h.value?.length ?? 0) + 4
  for (const h of e.respHeaders ?? []) n += (h.name?.length ?? 0) + (h.value?.length ?? 0) + 4
  return n
}

/** Packs entries into EntryBatch messages: many entries per NATS message. */
export class EntryBatcher {
  readonly #opts: Required<Omit<EntryBatcherOptions, 'send'>> & Pick<EntryBatcherOptions, 'send'>
  #entries: Entry[] = []
  #bytes = 0
  #seq = 0

  constructor(opts: EntryBatcherOptions) {
    this.#opts = { maxEntries: 1000, maxBytes: 512 * 1024, ...opts }
  }

  get pending(): number {
    return this.#entries.length
  }

  add(e: Entry): void {
    const size = approxSize(e)
    if (this.#entries.length > 0 && this.#bytes + size > this.#opts.maxBytes) this.flush()
    this.#entries.push(e)
    this.#bytes += size
    if (this.#entries.length >= this.#opts.maxEntries) this.flush()
  }

  flush(): void {
    if (this.#entries.length === 0) return
    const entries = this.#entries
    this.#entries = []
    this.#bytes = 0
    const seq = ++this.#seq
    let oldest = Infinity
    let newest = 0
    for (const e of entries) {
      const ts = e.ts ?? 0
      if (ts < oldest) oldest = ts
      if (ts > newest) newest = ts
    }
    const { node, bootId } = this.#opts
    this.#opts.send({
      type: 'entries',
      bytes: encodeEntryBatch({ node, seq, entries }),
      count: entries.length,
      msgId: `${node}-${bootId}-${seq}`,
      oldestTs: oldest,
      newestTs: newest,
    })
  }
}
