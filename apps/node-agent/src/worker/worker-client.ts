import { Worker } from 'node:worker_threads'
import type { AnalyzerStats } from '@tapwire/dissectors'
import type { DetailsQuery, EntryBatchMessage, FromWorker, ToWorker, WorkerInit } from './protocol.js'

export interface WorkerClientOptions {
  init: WorkerInit
  onEntries: (msg: EntryBatchMessage) => void
  onError: (message: string) => void
  /** Batches handed to the worker and not yet processed; beyond it live batches are dropped. */
  maxInFlight?: number
  /**
   * V8 old-generation limit of the worker (MiB). A limit makes the GC work before the heap
   * balloons; should the worker still die (out of memory, a bug), it is restarted and counted.
   */
  heapMb?: number
}

/**
 * The main thread's handle on the dissector worker: transfers batches (zero-copy), keeps the
 * queue bounded, and counts what it had to drop so loss is visible.
 */
export class WorkerClient {
  #worker: Worker
  readonly #opts: WorkerClientOptions
  readonly #maxInFlight: number
  #inFlight = 0
  #waiters: (() => void)[] = []
  #finished: ((s: AnalyzerStats) => void) | undefined
  #nextReq = 1
  readonly #replies = new Map<number, (v: unknown) => void>()
  droppedBatches = 0
  /** Times the worker died and was started again (its connections' state is lost each time). */
  restarts = 0
  #terminating = false
  droppedPackets = 0
  stats: AnalyzerStats | undefined

  constructor(opts: WorkerClientOptions) {
    this.#opts = opts
    this.#maxInFlight = opts.maxInFlight ?? 64
    this.#worker = this.#spawn()
  }

  #spawn(): Worker {
    const heap = this.#opts.heapMb
    const w = new Worker(new URL('./dissector-worker.js', import.meta.url), {
      workerData: this.#opts.init,
      ...(heap ? { resourceLimits: { maxOldGenerationSizeMb: heap, maxYoungGenerationSizeMb: Math.max(8, Math.round(heap / 8)) } } : {}),
    })
    w.on('message', (msg: FromWorker) => this.#onMessage(msg))
    w.on('error', (e) => this.#opts.onError(`dissector worker failed: ${e.message}`))
    w.on('exit', (code) => {
      if (this.#terminating || w !== this.#worker) return
      // The capture goes on: batches in flight are lost (counted) and a fresh worker takes over.
      this.restarts++
      this.droppedBatches += this.#inFlight
      this.#inFlight = 0
      for (const r of this.#replies.values()) r({ found: false, error: 'the dissector worker restarted' })
      this.#replies.clear()
      this.#opts.onError(`dissector worker exited (code ${code}); restarting it (restart ${this.restarts})`)
      this.#worker = this.#spawn()
      for (const wake of this.#waiters.splice(0)) wake()
    })
    return w
  }

  /** Live capture: never waits; drops (and counts) the batch when the worker is behind. */
  offer(batch: ArrayBuffer, packets: number): void {
    if (this.#inFlight >= this.#maxInFlight) {
      this.droppedBatches++
      this.droppedPackets += packets
      return
    }
    this.#post(batch)
  }

  /** File replay: waits for room, so nothing is dropped. */
  async submit(batch: ArrayBuffer): Promise<void> {
    while (this.#inFlight >= this.#maxInFlight) await new Promise<void>((r) => this.#waiters.push(r))
    this.#post(batch)
  }

  send(msg: Exclude<ToWorker, { type: 'batch' | 'details' | 'flows' }>): void {
    this.#worker.postMessage(msg)
  }

  /** Asks the worker a question (details, flows) and resolves with its answer. */
  ask<T>(msg: { type: 'details'; query: DetailsQuery } | { type: 'flows'; limit: number }, timeoutMs = 5000): Promise<T> {
    const reqId = this.#nextReq++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#replies.delete(reqId)
        reject(new Error('dissector worker did not answer'))
      }, timeoutMs)
      this.#replies.set(reqId, (v) => {
        clearTimeout(timer)
        resolve(v as T)
      })
      this.#worker.postMessage({ ...msg, reqId })
    })
  }

  /** Closes every connection in the worker and resolves with its final stats. */
  finish(): Promise<AnalyzerStats> {
    return new Promise((resolve) => {
      this.#finished = resolve
      this.send({ type: 'finish' })
    })
  }

  async terminate(): Promise<void> {
    this.#terminating = true
    await this.#worker.terminate()
  }

  #post(batch: ArrayBuffer): void {
    this.#inFlight++
    const msg: ToWorker = { type: 'batch', batch }
    this.#worker.postMessage(msg, [batch])
  }

  #onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case 'entries':
        this.#opts.onEntries(msg)
        break
      case 'processed': {
        this.#inFlight--
        const w = this.#waiters.shift()
        w?.()
        break
      }
      case 'stats':
        this.stats = msg.stats
        break
      case 'reply': {
        const r = this.#replies.get(msg.reqId)
        this.#replies.delete(msg.reqId)
        r?.(msg.value)
        break
      }
      case 'finished':
        this.stats = msg.stats
        this.#finished?.(msg.stats)
        break
      case 'error':
        this.#opts.onError(msg.message)
        break
    }
  }
}
