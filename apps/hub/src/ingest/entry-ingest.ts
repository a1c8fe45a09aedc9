import type { NatsConnection } from 'nats'
import { decodeAgentStatus, decodeEntryBatch, ENTRY_STREAM, ensureEntryStream, subjects } from '@tapwire/wire'
import type { EntryStore } from '../store/entry-store.js'
import type { NodeRegistry } from '../nodes/node-registry.js'
import type { Resolver } from '../resolver/index.js'
import { enrichEntry } from '../resolver/index.js'

export interface IngestStats {
  batches: number
  entries: number
  badMessages: number
  lastSeq: number
}

/**
 * Fills the store from the entry stream. The store is a view of the stream: on every start the
 * hub replays the stream from its first message with an ordered consumer, so nothing acknowledged
 * by JetStream is lost across a hub restart, and nothing is counted twice.
 */
export class EntryIngest {
  readonly stats: IngestStats = { batches: 0, entries: 0, badMessages: 0, lastSeq: 0 }
  #caughtUp = false
  #stopped = false
  readonly #nc: NatsConnection
  readonly #store: EntryStore
  readonly #registry: NodeRegistry
  readonly #log: (msg: string) => void
  readonly #resolver: Resolver | undefined

  constructor(nc: NatsConnection, store: EntryStore, registry: NodeRegistry, log: (msg: string) => void, resolver?: Resolver) {
    this.#resolver = resolver
    this.#nc = nc
    this.#store = store
    this.#registry = registry
    this.#log = log
  }

  /** True once the replay reached the end of the stream as it was at start. */
  get caughtUp(): boolean {
    return this.#caughtUp
  }

  async start(): Promise<void> {
    const jsm = await this.#nc.jetstreamManager()
    await ensureEntryStream(jsm)
    const info = await jsm.streams.info(ENTRY_STREAM)
    const target = info.state.last_seq
    if (info.state.messages === 0) this.#caughtUp = true
    this.#subscribeStatus()
    const consumer = await this.#nc.jetstream().consumers.get(ENTRY_STREAM)
    const messages = await consumer.consume()
    void (async () => {
      for await (const m of messages) {
        if (this.#stopped) break
        this.stats.lastSeq = m.seq
        try {
          const batch = decodeEntryBatch(m.data)
          for (const e of batch.entries) {
            // Workload names as of the call's own time (pods come and go, IPs are reused).
            if (this.#resolver) enrichEntry(e, this.#resolver)
            this.#store.add(e)
          }
          this.stats.batches++
          this.stats.entries += batch.entries.length
        } catch (e) {
          this.stats.badMessages++
          this.#log(`skipping undecodable message ${m.seq} on ${m.subject}: ${(e as Error).message}`)
        }
        if (!this.#caughtUp && (m.seq >= target || m.info.pending === 0)) {
          this.#caughtUp = true
          this.#log(`replayed ${this.stats.entries} entries from the stream`)
        }
      }
    })()
  }

  stop(): void {
    this.#stopped = true
  }

  #subscribeStatus(): void {
    const sub = this.#nc.subscribe(subjects.allAgentStatus)
    void (async () => {
      for await (const m of sub) {
        try {
          this.#registry.update(decodeAgentStatus(m.data))
        } catch {
          this.stats.badMessages++
        }
      }
    })()
  }
}
