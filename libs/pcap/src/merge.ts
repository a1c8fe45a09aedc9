/**
 * Streaming k-way merge by capture time, like mergecap's default mode: every source is assumed to be
 * in time order already; a binary min-heap of the sources' current heads picks the earliest. Ties go
 * to the lower source index (mergecap takes the first input with the earliest time), which also keeps
 * each source's own order. Memory is one pending record (or one read batch) per source.
 *
 * Sources that offer `batches()` (CaptureFileReader does) are consumed a batch at a time, so the
 * merge awaits once per chunk rather than once per record.
 */
import type { TimedRecord } from './types.js'

/** A time-ordered source; `batches()` is used when present (same records, fewer awaits). */
export type MergeSource<T> = AsyncIterable<T> & { batches?: () => AsyncIterable<T[]> }

/** One merged record and the index of the source it came from. */
export interface MergedRecord<T> {
  source: number
  record: T
}

class Cursor<T extends TimedRecord> {
  rec!: T
  #batch: T[] = []
  #i = 0
  readonly #it: AsyncIterator<T[]> | AsyncIterator<T>
  readonly #batched: boolean

  constructor(
    readonly src: number,
    source: MergeSource<T>
  ) {
    this.#batched = typeof source.batches === 'function'
    this.#it = this.#batched
      ? source.batches!()[Symbol.asyncIterator]()
      : source[Symbol.asyncIterator]()
  }

  /** Moves to the next record: true/false synchronously when buffered, else a promise. */
  advance(): boolean | Promise<boolean> {
    if (this.#i < this.#batch.length) {
      this.rec = this.#batch[this.#i++]!
      return true
    }
    return this.#pull()
  }

  async #pull(): Promise<boolean> {
    for (;;) {
      const r = await this.#it.next()
      if (r.done === true) return false
      if (!this.#batched) {
        this.rec = r.value as T
        return true
      }
      const batch = r.value as T[]
      if (batch.length > 0) {
        this.#batch = batch
        this.rec = batch[0]!
        this.#i = 1
        return true
      }
    }
  }

  async close(): Promise<void> {
    this.#batch = []
    await this.#it.return?.()
  }
}

function before<T extends TimedRecord>(a: Cursor<T>, b: Cursor<T>): boolean {
  const x = a.rec
  const y = b.rec
  if (x.tsSec !== y.tsSec) return x.tsSec < y.tsSec
  if (x.tsNsec !== y.tsNsec) return x.tsNsec < y.tsNsec
  return a.src < b.src
}

class MinHeap<T extends TimedRecord> {
  readonly items: Cursor<T>[] = []

  push(c: Cursor<T>): void {
    const a = this.items
    let i = a.length
    a.push(c)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = a[parent]!
      if (!before(c, p)) break
      a[i] = p
      i = parent
    }
    a[i] = c
  }

  /** The top's record changed (advanced) or it is exhausted (`remove`): restore the heap. */
  fixTop(remove: boolean): void {
    const a = this.items
    let h = a[0]!
    if (remove) {
      const last = a.pop()!
      if (a.length === 0) return
      h = last
    }
    const n = a.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      if (r < n && before(a[r]!, a[l]!)) c = r
      const child = a[c]!
      if (!before(child, h)) break
      a[i] = child
      i = c
    }
    a[i] = h
  }
}

/** The merge as an async iterator of cursors (the top cursor stays valid until the next call). */
class Merger<T extends TimedRecord> {
  readonly #heap = new MinHeap<T>()
  readonly #sources: MergeSource<T>[]
  #started = false
  #advanceTop = false
  #done = false

  constructor(sources: MergeSource<T>[]) {
    this.#sources = sources
  }

  async #start(): Promise<void> {
    this.#started = true
    const cursors = this.#sources.map((s, i) => new Cursor(i, s))
    const ok = await Promise.all(cursors.map(async (c) => c.advance()))
    cursors.forEach((c, i) => {
      if (ok[i] === true) this.#heap.push(c)
    })
  }

  /** Next cursor, or undefined at the end. Synchronous whenever no source needs a read. */
  next(): Cursor<T> | undefined | Promise<Cursor<T> | undefined> {
    if (!this.#started) return this.#start().then(() => this.#emit())
    if (this.#advanceTop) {
      const more = this.#heap.items[0]!.advance()
      if (more instanceof Promise) {
        return more.then((m) => {
          this.#heap.fixTop(!m)
          return this.#emit()
        })
      }
      this.#heap.fixTop(!more)
    }
    return this.#emit()
  }

  #emit(): Cursor<T> | undefined {
    const top = this.#heap.items[0]
    this.#advanceTop = top !== undefined
    if (top === undefined) this.#done = true
    return top
  }

  /** Early exit: release every source still open. */
  async close(): Promise<void> {
    if (this.#done) return
    this.#done = true
    await Promise.all(this.#heap.items.map((c) => c.close()))
  }
}

function iterate<T extends TimedRecord, R>(
  sources: MergeSource<T>[],
  map: (c: Cursor<T>) => R
): AsyncIterableIterator<R> {
  const merger = new Merger(sources)
  const done: IteratorResult<R> = { done: true, value: undefined }
  const result = (c: Cursor<T> | undefined): IteratorResult<R> =>
    c === undefined ? done : { done: false, value: map(c) }
  const it: AsyncIterableIterator<R> = {
    next() {
      const c = merger.next()
      return c instanceof Promise ? c.then(result) : Promise.resolve(result(c))
    },
    async return() {
      await merger.close()
      return done
    },
    [Symbol.asyncIterator]() {
      return it
    },
  }
  return it
}

/** Merges time-ordered sources into one time-ordered stream (stable: lower source index first). */
export function mergeByTime<T extends TimedRecord>(
  sources: MergeSource<T>[]
): AsyncIterableIterator<T> {
  return iterate(sources, (c) => c.rec)
}

/** Like mergeByTime, but says which source each record came from (to remap interface ids). */
export function mergeByTimeTagged<T extends TimedRecord>(
  sources: MergeSource<T>[]
): AsyncIterableIterator<MergedRecord<T>> {
  return iterate(sources, (c) => ({ source: c.src, record: c.rec }))
}
