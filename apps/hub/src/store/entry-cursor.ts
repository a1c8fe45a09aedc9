import { ENTRY_SELF } from '@tapwire/kfl'
import type { Attr, Endpoint, Entry, Header } from '@tapwire/wire'
import type { Segment } from './segment.js'

/**
 * One entry of a segment as a filter sees it, reading the fields filters use most (protocol,
 * method, path, status, latency, time, node, worker) from the segment's columns and the rest from
 * the entry object. A scan moves one cursor along the segment instead of handing the filter each
 * entry: the columns are read in order, while a million entry objects spread over the heap cost a
 * cache miss each, which made a filter over stored entries several times slower than over fresh
 * ones. The filter sees the same values either way (the columns are filled from the entries).
 *
 * KFL caches data derived from an entry (header maps...) per entry: `ENTRY_SELF` names the entry
 * shown, so the cache never mixes two entries up.
 */
export class EntryCursor implements Entry {
  #seg: Segment
  #i = 0

  constructor(seg: Segment) {
    this.#seg = seg
  }

  /** Moves to the first entry of `seg`. */
  set segment(seg: Segment) {
    this.#seg = seg
    this.#i = 0
  }

  /** Moves to entry `i` of the segment. */
  set i(i: number) {
    this.#i = i
  }

  get [ENTRY_SELF](): Entry {
    return this.#seg.entries[this.#i]!
  }

  #e(): Entry {
    return this.#seg.entries[this.#i]!
  }

  // Columns.
  get ts(): number {
    return this.#seg.ts[this.#i]!
  }
  get elapsedUs(): number {
    return this.#seg.elapsedUs[this.#i]!
  }
  get status(): number {
    return this.#seg.status[this.#i]!
  }
  get method(): string {
    return this.#seg.method[this.#i]!
  }
  get path(): string {
    return this.#seg.path[this.#i]!
  }
  get proto(): string {
    const c = this.#seg.proto
    return c.values[c.ids[this.#i]!]!
  }
  get node(): string {
    const c = this.#seg.node
    return c.values[c.ids[this.#i]!]!
  }
  get worker(): string {
    const c = this.#seg.worker
    return c.values[c.ids[this.#i]!]!
  }

  // The entry object.
  get id(): string | null | undefined {
    return this.#e().id
  }
  get flowId(): number | null | undefined {
    return this.#e().flowId
  }
  get index(): number | null | undefined {
    return this.#e().index
  }
  get connId(): number | null | undefined {
    return this.#e().connId
  }
  get transport(): string | null | undefined {
    return this.#e().transport
  }
  get src(): Endpoint | null | undefined {
    return this.#e().src
  }
  get dst(): Endpoint | null | undefined {
    return this.#e().dst
  }
  get url(): string | null | undefined {
    return this.#e().url
  }
  get version(): string | null | undefined {
    return this.#e().version
  }
  get reqHeaders(): Header[] | null | undefined {
    return this.#e().reqHeaders
  }
  get respHeaders(): Header[] | null | undefined {
    return this.#e().respHeaders
  }
  get reqBody(): string | null | undefined {
    return this.#e().reqBody
  }
  get respBody(): string | null | undefined {
    return this.#e().respBody
  }
  get reqBodySize(): number | null | undefined {
    return this.#e().reqBodySize
  }
  get respBodySize(): number | null | undefined {
    return this.#e().respBodySize
  }
  get reqHeaderSize(): number | null | undefined {
    return this.#e().reqHeaderSize
  }
  get respHeaderSize(): number | null | undefined {
    return this.#e().respHeaderSize
  }
  get reqBodyTruncated(): boolean | null | undefined {
    return this.#e().reqBodyTruncated
  }
  get respBodyTruncated(): boolean | null | undefined {
    return this.#e().respBodyTruncated
  }
  get errorType(): string | null | undefined {
    return this.#e().errorType
  }
  get errorMessage(): string | null | undefined {
    return this.#e().errorMessage
  }
  get attrs(): Attr[] | null | undefined {
    return this.#e().attrs
  }
  get gaps(): number | null | undefined {
    return this.#e().gaps
  }
  get summary(): string | null | undefined {
    return this.#e().summary
  }
}
