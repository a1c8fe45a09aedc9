import type { JetStreamClient } from 'nats'
import type { EntryBatchMessage } from '../worker/protocol.js'

export interface PublisherStats {
  batchesPublished: number
  entriesPublished: number
  publishErrors: number
  /** Entries dropped because the outbound queue hit its bound while NATS was unreachable. */
  entriesDropped: number
  queuedEntries: number
  queuedBytes: number
}

export interface EntryPublisherOptions {
  subject: string
  /** Bytes of encoded batches held while NATS is slow or away; beyond it new batches are dropped. */
  maxQueueBytes?: number
  /** Publishes awaiting their JetStream ack at once. */
  concurrency?: number
}

/**
 * Publishes entry batches to JetStream asynchronously, with a bounded queue. A failed publish is
 * retried with the same Nats-Msg-Id, so the server's duplicate window makes retries exactly-once.
 */
export class EntryPublisher {
  readonly stats: PublisherStats = {
    batchesPublished: 0,
    entriesPublished: 0,
    publishErrors: 0,
    entriesDropped: 0,
    queuedEntries: 0,
    queuedBytes: 0,
  }
  oldestTs = 0
  newestTs = 0
  readonly #js: JetStreamClient
  readonly #subject: string
  readonly #maxQueueBytes: number
  readonly #concurrency: number
  readonly #queue: EntryBatchMessage[] = []
  #inFlight = 0
  #backoffMs = 0
  #idleWaiters: (() => void)[] = []
  #closed = false

  constructor(js: JetStreamClient, opts: EntryPublisherOptions) {
    this.#js = js
    this.#subject = opts.subject
    this.#maxQueueBytes = opts.maxQueueBytes ?? 32 << 20
    this.#concurrency = opts.concurrency ?? 8
  }

  /** Publishes awaiting their JetStream ack now. */
  get inFlight(): number {
    return this.#inFlight
  }

  enqueue(msg: EntryBatchMessage): void {
    if (this.stats.queuedBytes + msg.bytes.length > this.#maxQueueBytes) {
      this.stats.entriesDropped += msg.count
      return
    }
    this.#queue.push(msg)
    this.stats.queuedEntries += msg.count
    this.stats.queuedBytes += msg.bytes.length
    this.#pump()
  }

  /** Resolves when everything queued has been acknowledged, or after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length === 0 && this.#inFlight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.#idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  close(): void {
    this.#closed = true
  }

  #pump(): void {
    while (!this.#closed && this.#backoffMs === 0 && this.#inFlight < this.#concurrency && this.#queue.length > 0) {
      const msg = this.#queue.shift()!
      this.#inFlight++
      this.#js
        .publish(this.#subject, msg.bytes, { msgID: msg.msgId, timeout: 10_000 })
        .then(() => {
          this.stats.batchesPublished++
          this.stats.entriesPublished += msg.count
          this.stats.queuedEntries -= msg.count
          this.stats.queuedBytes -= msg.bytes.length
          if (this.oldestTs === 0 || msg.oldestTs < this.oldestTs) this.oldestTs = msg.oldestTs
          if (msg.newestTs > this.newestTs) this.newestTs = msg.newestTs
        })
        .catch(() => {
          this.stats.publishErrors++
          this.#queue.unshift(msg)
          this.#backoffMs = Math.min(5000, Math.max(100, this.#backoffMs * 2 || 100))
          setTimeout(() => {
            this.#backoffMs = 0
            this.#pump()
          }, this.#backoffMs).unref()
        })
        .finally(() => {
          this.#inFlight--
          this.#pump()
          if (this.#queue.length === 0 && this.#inFlight === 0) {
            for (const w of this.#idleWaiters.splice(0)) w()
          }
        })
    }
  }
}
