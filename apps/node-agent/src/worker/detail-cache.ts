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
    const size = d.reqBody.length + d.respBody.length + 64
    if (size > this.#maxBytes) return
    this.#items.set(id, d)
    this.#bytes += size
    for (const [key, old] of this.#items) {
      if (this.#bytes <= this.#maxBytes) break
      this.#items.delete(key)
      this.#bytes -= old.reqBody.length + old.respBody.length + 64
      this.evicted++
    }
  }

  get(id: string): CallDetail | undefined {
    return this.#items.get(id)
  }
}
