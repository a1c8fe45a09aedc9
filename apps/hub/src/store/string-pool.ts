import { flatten } from './flat-string.js'

/**
 * Shares one copy of each repeated string (methods, paths, node and pod names, header lines).
 * Decoding a batch makes a fresh string for every field of every entry; keeping those copies for
 * the store's lifetime costs memory and, worse, garbage-collector time, because every retained
 * object is copied and marked again as the heap grows. With the pool the decoded copy dies young
 * (free to collect) and the store holds the shared one.
 *
 * Bounded: at `maxSize` distinct strings the pool starts over (strings already stored stay valid),
 * so high-cardinality values (ids in paths) cannot grow it without limit.
 */
export class StringPool {
  readonly #pool = new Map<string, string>()
  readonly #maxSize: number
  readonly #maxLength: number

  constructor(maxSize = 65_536, maxLength = 128) {
    this.#maxSize = maxSize
    this.#maxLength = maxLength
  }

  get size(): number {
    return this.#pool.size
  }

  intern(s: string): string {
    // Long strings rarely repeat, and hashing them is not free.
    if (s.length === 0 || s.length > this.#maxLength) return s
    const hit = this.#pool.get(s)
    if (hit !== undefined) return hit
    if (this.#pool.size >= this.#maxSize) this.#pool.clear()
    // The kept copy lives long: in one piece (see flatten).
    flatten(s)
    this.#pool.set(s, s)
    return s
  }
}
