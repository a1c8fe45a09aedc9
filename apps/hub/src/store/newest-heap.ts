import type { Entry } from '@tapwire/wire'

/** Newest first: later timestamp, then the larger id (a total order, so answers are stable). */
const newer = (ta: number, a: Entry, tb: number, b: Entry): boolean =>
  ta !== tb ? ta > tb : (a.id ?? '') > (b.id ?? '')

/**
 * Keeps the `k` newest entries offered: a min-heap on (timestamp, id) whose root is the oldest
 * kept. Timestamps sit in their own array so comparisons do not touch the entries.
 */
export class NewestHeap {
  readonly #k: number
  readonly #ts: number[] = []
  readonly #h: Entry[] = []
  /**
   * Entries older than this cannot enter: -Infinity until full, then the root's timestamp (an
   * entry with exactly this timestamp may still enter by its id, so callers test `ts >= floor`).
   */
  floor: number

  constructor(k: number) {
    this.#k = Math.max(0, k)
    this.floor = this.#k === 0 ? Infinity : -Infinity
  }

  offer(ts: number, e: Entry): void {
    const h = this.#h
    const t = this.#ts
    if (h.length < this.#k) {
      h.push(e)
      t.push(ts)
      this.#up(h.length - 1)
      if (h.length === this.#k) this.floor = t[0]!
    } else if (newer(ts, e, t[0]!, h[0]!)) {
      h[0] = e
      t[0] = ts
      this.#down(0)
      this.floor = t[0]!
    }
  }

  drainNewestFirst(): Entry[] {
    const h = this.#h
    const t = this.#ts
    const order = h.map((_, i) => i)
    order.sort((i, j) => (newer(t[i]!, h[i]!, t[j]!, h[j]!) ? -1 : newer(t[j]!, h[j]!, t[i]!, h[i]!) ? 1 : 0))
    return order.map((i) => h[i]!)
  }

  #swap(i: number, j: number): void {
    const h = this.#h
    const t = this.#ts
    const e = h[i]!
    h[i] = h[j]!
    h[j] = e
    const x = t[i]!
    t[i] = t[j]!
    t[j] = x
  }

  #up(i: number): void {
    const h = this.#h
    const t = this.#ts
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!newer(t[p]!, h[p]!, t[i]!, h[i]!)) break
      this.#swap(p, i)
      i = p
    }
  }

  #down(i: number): void {
    const h = this.#h
    const t = this.#ts
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && newer(t[m]!, h[m]!, t[l]!, h[l]!)) m = l
      if (r < h.length && newer(t[m]!, h[m]!, t[r]!, h[r]!)) m = r
      if (m === i) return
      this.#swap(m, i)
      i = m
    }
  }
}
