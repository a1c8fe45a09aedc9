import type { Entry } from '@tapwire/wire'

export interface EntryStoreLimits {
  /** Entries kept; the oldest segments are dropped beyond it. */
  maxEntries: number
  /** Entries per segment (the unit of pruning and eviction). */
  segmentSize: number
}

export const DEFAULT_STORE_LIMITS: EntryStoreLimits = { maxEntries: 2_000_000, segmentSize: 8192 }

/** A block of entries with the summaries that let a query skip it without looking inside. */
interface Segment {
  entries: Entry[]
  minTs: number
  maxTs: number
  protos: Set<string>
}

export interface StoreQuery {
  start?: number | undefined
  end?: number | undefined
  predicate?: ((e: Entry) => boolean) | undefined
  /** Protocols the predicate can possibly match; segments with none of them are skipped. */
  protocols?: ReadonlySet<string> | undefined
  limit: number
}

export interface StoreResult {
  /** The newest `limit` matches, newest first. */
  items: Entry[]
  /** Every match, not just those returned. */
  total: number
}

/**
 * The hub's entry store: a view of the JetStream entry stream, held in memory as time-ordered
 * segments with min/max timestamps and protocol sets so queries prune before evaluating filters.
 */
export class EntryStore {
  readonly limits: EntryStoreLimits
  #segments: Segment[] = []
  #size = 0
  #evicted = 0

  constructor(limits: Partial<EntryStoreLimits> = {}) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits }
  }

  get size(): number {
    return this.#size
  }

  get evicted(): number {
    return this.#evicted
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

  add(e: Entry): void {
    let seg = this.#segments[this.#segments.length - 1]
    if (seg === undefined || seg.entries.length >= this.limits.segmentSize) {
      seg = { entries: [], minTs: Infinity, maxTs: -Infinity, protos: new Set() }
      this.#segments.push(seg)
    }
    const ts = e.ts ?? 0
    seg.entries.push(e)
    if (ts < seg.minTs) seg.minTs = ts
    if (ts > seg.maxTs) seg.maxTs = ts
    seg.protos.add(e.proto ?? '')
    this.#size++
    while (this.#size > this.limits.maxEntries && this.#segments.length > 1) {
      const dropped = this.#segments.shift()!
      this.#size -= dropped.entries.length
      this.#evicted += dropped.entries.length
    }
  }

  query(q: StoreQuery): StoreResult {
    // Answers show `ts` as whole milliseconds (rounded), so the window compares the same value:
    // round(ts) >= start ⟺ ts >= start - 0.5, and round(ts) <= end ⟺ ts < end + 0.5.
    const start = q.start === undefined ? -Infinity : q.start - 0.5
    const end = q.end === undefined ? Infinity : q.end + 0.5
    const heap = new NewestHeap(q.limit)
    let total = 0
    for (const seg of this.#segments) {
      if (seg.maxTs < start || seg.minTs >= end) continue
      if (q.protocols && !intersects(seg.protos, q.protocols)) continue
      const whole = seg.minTs >= start && seg.maxTs < end
      if (whole && !q.predicate) {
        // Every entry matches: count them all, and look inside only if some could make the top.
        total += seg.entries.length
        if (!heap.full || seg.maxTs >= heap.oldestTs) for (const e of seg.entries) heap.offer(e)
        continue
      }
      for (const e of seg.entries) {
        if (!whole) {
          const ts = e.ts ?? 0
          if (ts < start || ts >= end) continue
        }
        if (q.predicate && !q.predicate(e)) continue
        total++
        heap.offer(e)
      }
    }
    return { items: heap.drainNewestFirst(), total }
  }

  /**
   * Grouped query in one pass: every match is counted per group, and each group keeps its own
   * newest `limit` (no sort of all matches).
   */
  groupQuery(q: StoreQuery, keyOf: (e: Entry) => string): Map<string, StoreResult> {
    const start = q.start === undefined ? -Infinity : q.start - 0.5
    const end = q.end === undefined ? Infinity : q.end + 0.5
    const groups = new Map<string, { heap: NewestHeap; total: number }>()
    for (const seg of this.#segments) {
      if (seg.maxTs < start || seg.minTs >= end) continue
      if (q.protocols && !intersects(seg.protos, q.protocols)) continue
      for (const e of seg.entries) {
        const ts = e.ts ?? 0
        if (ts < start || ts >= end) continue
        if (q.predicate && !q.predicate(e)) continue
        const key = keyOf(e)
        let g = groups.get(key)
        if (!g) groups.set(key, (g = { heap: new NewestHeap(q.limit), total: 0 }))
        g.total++
        g.heap.offer(e)
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

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const x of b) if (a.has(x)) return true
  return false
}

const newer = (a: Entry, b: Entry): boolean => {
  const ta = a.ts ?? 0
  const tb = b.ts ?? 0
  return ta !== tb ? ta > tb : (a.id ?? '') > (b.id ?? '')
}

/** Keeps the `k` newest entries offered (a min-heap on timestamp). */
class NewestHeap {
  readonly #k: number
  readonly #h: Entry[] = []

  constructor(k: number) {
    this.#k = k
  }

  get full(): boolean {
    return this.#h.length >= this.#k
  }

  /** Timestamp of the oldest entry kept (the one a newer entry would replace). */
  get oldestTs(): number {
    return this.#h[0]?.ts ?? -Infinity
  }

  offer(e: Entry): void {
    const h = this.#h
    if (this.#k <= 0) return
    if (h.length < this.#k) {
      h.push(e)
      this.#up(h.length - 1)
    } else if (newer(e, h[0]!)) {
      h[0] = e
      this.#down(0)
    }
  }

  drainNewestFirst(): Entry[] {
    return this.#h.sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0))
  }

  #up(i: number): void {
    const h = this.#h
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!newer(h[p]!, h[i]!)) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }

  #down(i: number): void {
    const h = this.#h
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && newer(h[m]!, h[l]!)) m = l
      if (r < h.length && newer(h[m]!, h[r]!)) m = r
      if (m === i) return
      ;[h[m], h[i]] = [h[i]!, h[m]!]
      i = m
    }
  }
}
