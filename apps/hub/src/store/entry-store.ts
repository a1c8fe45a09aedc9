import type { Entry } from '@tapwire/wire'
import { EntryCursor } from './entry-cursor.js'
import { NewestHeap } from './newest-heap.js'
import type { GroupBy } from './segment.js'
import { Segment } from './segment.js'
import { EntryCompactor } from './stored-entry.js'
import { StringPool } from './string-pool.js'

export type { GroupBy } from './segment.js'

export interface EntryStoreLimits {
  /** Entries kept; the oldest segments are dropped beyond it. */
  maxEntries: number
  /**
   * Estimated bytes kept (see EntryCompactor); the oldest segments are dropped beyond it. A
   * segment is closed early at 1/16 of this, so eviction frees at most about that much at once.
   */
  maxBytes: number
  /** Entries per segment (the unit of pruning and eviction), at most 65,536. */
  segmentSize: number
}

export const DEFAULT_STORE_LIMITS: EntryStoreLimits = {
  maxEntries: 2_000_000,
  maxBytes: Number.POSITIVE_INFINITY,
  segmentSize: 8192,
}

export interface StoreQuery {
  start?: number | undefined
  end?: number | undefined
  /**
   * Called with a view of each candidate entry (see EntryCursor), valid only during the call;
   * results hold the entries themselves.
   */
  predicate?: ((e: Entry) => boolean) | undefined
  /** Protocols the predicate can possibly match; entries of other protocols are not evaluated. */
  protocols?: ReadonlySet<string> | undefined
  limit: number
}

export interface StoreResult {
  /** The newest `limit` matches, newest first. */
  items: Entry[]
  /** Every match, not just those returned. */
  total: number
}

interface Group {
  heap: NewestHeap
  total: number
}

/**
 * The hub's entry store: a view of the JetStream entry stream, held in memory as time-ordered
 * segments with min/max timestamps and per-segment columns (timestamp, protocol, node, namespace,
 * worker), so queries prune, filter by time and protocol, and group without touching entries; the
 * filter itself runs only on entries that pass those.
 */
export class EntryStore {
  readonly limits: EntryStoreLimits
  readonly #compactor = new EntryCompactor(new StringPool())
  readonly #segmentBytes: number
  #segments: Segment[] = []
  #size = 0
  #bytes = 0
  #evicted = 0
  #evictedForBytes = 0

  constructor(limits: Partial<EntryStoreLimits> = {}) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits }
    const { segmentSize, maxBytes, maxEntries } = this.limits
    if (!Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > 65_536) {
      throw new RangeError(`segmentSize must be an integer in [1, 65536], got ${segmentSize}`)
    }
    if (!(maxBytes > 0) || !(maxEntries > 0)) throw new RangeError('maxBytes and maxEntries must be positive')
    this.#segmentBytes = maxBytes / 16
  }

  get size(): number {
    return this.#size
  }

  /** Estimated bytes held (the sum of the stored entries' estimates). */
  get bytes(): number {
    return this.#bytes
  }

  /** Entries evicted by either bound. */
  get evicted(): number {
    return this.#evicted
  }

  /** Of `evicted`, those evicted because the byte bound was exceeded. */
  get evictedForBytes(): number {
    return this.#evictedForBytes
  }

  get oldestTs(): number {
    let min = Infinity
    for (const s of this.#segments) if (s.minTs < min) min = s.minTs
    return Number.isFinite(min) ? min : 0
  }

  get newestTs(): number {
    let max = 0
    for (const s of this.#segments) if (s.maxTs > max) max = s.maxTs
    return max
  }

  /** Stores a copy of `e` (see EntryCompactor); the caller's object is not kept. */
  add(e: Entry): void {
    const stored = this.#compactor.compact(e)
    const bytes = this.#compactor.bytes
    let seg = this.#segments[this.#segments.length - 1]
    if (seg === undefined || seg.full || seg.bytes >= this.#segmentBytes) {
      seg?.seal()
      seg = new Segment(this.limits.segmentSize)
      this.#segments.push(seg)
    }
    seg.add(stored, bytes)
    this.#size++
    this.#bytes += bytes
    // The open segment is never dropped: the bounds hold to within one segment.
    while (this.#segments.length > 1) {
      const overCount = this.#size > this.limits.maxEntries
      if (!overCount && this.#bytes <= this.limits.maxBytes) break
      const dropped = this.#segments.shift()!
      const n = dropped.entries.length
      this.#size -= n
      this.#bytes -= dropped.bytes
      this.#evicted += n
      if (!overCount) this.#evictedForBytes += n
    }
  }

  query(q: StoreQuery): StoreResult {
    const [start, end] = window(q)
    const heap = new NewestHeap(q.limit)
    const predicate = q.predicate
    let cursor: EntryCursor | undefined
    let total = 0
    // Newest segments first: the heap fills with new entries early and older ones are then
    // rejected by one comparison of the timestamp column.
    for (let s = this.#segments.length - 1; s >= 0; s--) {
      const seg = this.#segments[s]!
      if (seg.maxTs < start || seg.minTs >= end) continue
      const mask = seg.protocolMask(q.protocols)
      if (mask === null) continue
      const whole = seg.minTs >= start && seg.maxTs < end
      if (whole && predicate === undefined && mask === undefined) {
        // Every entry matches: count them all, and look inside only if some could make the top.
        total += seg.entries.length
        if (seg.maxTs >= heap.floor) offerAll(seg, heap)
        continue
      }
      if (predicate !== undefined) cursor ??= new EntryCursor(seg)
      total += scan(seg, whole ? -Infinity : start, whole ? Infinity : end, mask, predicate, cursor, heap)
    }
    return { items: heap.drainNewestFirst(), total }
  }

  /**
   * Grouped query in one pass: every match is counted per group, and each group keeps its own
   * newest `limit` (no sort of all matches). Without a filter, whole segments are counted from
   * their column counts.
   */
  groupQuery(q: StoreQuery, by: GroupBy): Map<string, StoreResult> {
    const [start, end] = window(q)
    const groups = new Map<string, Group>()
    const groupOf = (key: string): Group => {
      let g = groups.get(key)
      if (g === undefined) groups.set(key, (g = { heap: new NewestHeap(q.limit), total: 0 }))
      return g
    }
    const predicate = q.predicate
    let cursor: EntryCursor | undefined
    for (let s = this.#segments.length - 1; s >= 0; s--) {
      const seg = this.#segments[s]!
      if (seg.maxTs < start || seg.minTs >= end) continue
      const mask = seg.protocolMask(q.protocols)
      if (mask === null) continue
      const col = seg.column(by)
      const whole = seg.minTs >= start && seg.maxTs < end
      if (whole && predicate === undefined && mask === undefined) {
        const accs = col.values.map(groupOf)
        let wanted = false
        for (let id = 0; id < accs.length; id++) {
          const g = accs[id]!
          g.total += col.counts[id]!
          if (seg.maxTs >= g.heap.floor) wanted = true
        }
        if (wanted) {
          const ts = seg.ts
          const ids = col.ids
          const entries = seg.entries
          for (let i = 0; i < entries.length; i++) {
            const g = accs[ids[i]!]!
            const t = ts[i]!
            if (t >= g.heap.floor) g.heap.offer(t, entries[i]!)
          }
        }
        continue
      }
      // Groups are made on first match, so a value whose entries are all filtered out has none.
      const accs = new Array<Group | undefined>(col.values.length)
      const lo = whole ? -Infinity : start
      const hi = whole ? Infinity : end
      const ts = seg.ts
      const ids = col.ids
      const protos = seg.proto.ids
      const entries = seg.entries
      if (predicate !== undefined) (cursor ??= new EntryCursor(seg)).segment = seg
      for (let i = 0; i < entries.length; i++) {
        const t = ts[i]!
        if (t < lo || t >= hi) continue
        if (mask !== undefined && mask[protos[i]!] === 0) continue
        if (predicate !== undefined) {
          cursor!.i = i
          if (!predicate(cursor!)) continue
        }
        const id = ids[i]!
        const g = (accs[id] ??= groupOf(col.values[id]!))
        g.total++
        if (t >= g.heap.floor) g.heap.offer(t, entries[i]!)
      }
    }
    const out = new Map<string, StoreResult>()
    for (const [key, g] of groups) out.set(key, { items: g.heap.drainNewestFirst(), total: g.total })
    return out
  }

  /** Finds one entry by id (drill-down). */
  get(id: string): Entry | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      for (const e of this.#segments[i]!.entries) if (e.id === id) return e
    }
    return undefined
  }
}

/**
 * The query's time window as [start, end) on stored timestamps. Answers show `ts` as whole
 * milliseconds (rounded), so the window compares the same value: round(ts) >= start ⟺
 * ts >= start - 0.5, and round(ts) <= end ⟺ ts < end + 0.5.
 */
function window(q: StoreQuery): [number, number] {
  return [q.start === undefined ? -Infinity : q.start - 0.5, q.end === undefined ? Infinity : q.end + 0.5]
}

function offerAll(seg: Segment, heap: NewestHeap): void {
  const ts = seg.ts
  const entries = seg.entries
  for (let i = 0; i < entries.length; i++) {
    const t = ts[i]!
    if (t >= heap.floor) heap.offer(t, entries[i]!)
  }
}

/** Counts the segment's matches in [start, end) and offers them to the heap. */
function scan(
  seg: Segment,
  start: number,
  end: number,
  mask: Uint8Array | undefined,
  predicate: ((e: Entry) => boolean) | undefined,
  cursor: EntryCursor | undefined,
  heap: NewestHeap
): number {
  const ts = seg.ts
  const protos = seg.proto.ids
  const entries = seg.entries
  if (cursor !== undefined) cursor.segment = seg
  let total = 0
  for (let i = 0; i < entries.length; i++) {
    const t = ts[i]!
    if (t < start || t >= end) continue
    if (mask !== undefined && mask[protos[i]!] === 0) continue
    if (predicate !== undefined) {
      cursor!.i = i
      if (!predicate(cursor!)) continue
    }
    total++
    if (t >= heap.floor) heap.offer(t, entries[i]!)
  }
  return total
}
