/**
 * Full request/response bodies of recent calls, so drill-down can return more than the preview
 * an entry carries. Bounded by bytes; the oldest calls are forgotten first.
 */
export interface CallDetail {
  connId: number
  flowId: number
  reqBody: Uint8Array
  respBody: Uint8Array
  /** The dissector kept only the first bytes of a body (its own bound). */
  reqTruncated: boolean
  respTruncated: boolean
}

/**
 * What one cached call costs beyond its bodies, measured rather than guessed: 100,000 items of
 * two 2-byte bodies under 27-character ids took 645 bytes of V8 heap each (Node 20, after GC),
 * for the Map entry, the id, the CallDetail and two typed arrays with their own buffers. Counting
 * only the bodies (+64) let a minute of 5,000 small calls/s grow the worker's heap past its limit.
 */
const ITEM_OVERHEAD = 600

const sizeOf = (id: string, d: CallDetail): number => ITEM_OVERHEAD + 2 * id.length + d.reqBody.length + d.respBody.length

const EMPTY = new Uint8Array(0)
const own = (b: Uint8Array): Uint8Array =>
  b.length === 0 ? EMPTY : b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : b.slice()

export class DetailCache {
  readonly #maxBytes: number
  readonly #items = new Map<string, CallDetail>()
  #bytes = 0
  evicted = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  get bytes(): number {
    return this.#bytes
  }

  get size(): number {
    return this.#items.size
  }

  put(id: string, d: CallDetail): void {
    // The cache holds exactly its bytes: a body that is a view into a larger buffer (a segment, a
    // capture batch) would otherwise keep that whole buffer alive.
    const item = { ...d, reqBody: own(d.reqBody), respBody: own(d.respBody) }
    const size = sizeOf(id, item)
    if (size > this.#maxBytes) return
    this.#items.set(id, item)
    this.#bytes += size
    for (const [key, old] of this.#items) {
      if (this.#bytes <= this.#maxBytes) break
      this.#items.delete(key)
      this.#bytes -= sizeOf(key, old)
      this.evicted++
    }
  }

  get(id: string): CallDetail | undefined {
    return this.#items.get(id)
  }
}
