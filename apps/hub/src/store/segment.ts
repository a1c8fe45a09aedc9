import type { Entry } from '@tapwire/wire'

/**
 * A string column of one segment, dictionary-encoded: each entry holds the index of its value in
 * `values`, and `counts` says how many entries have each value. Dictionaries are per segment, so
 * evicting a segment drops its values with it, and a segment holds few distinct protocols or nodes
 * (a query maps them once per segment, not once per entry).
 */
export class Column {
  readonly ids: Uint16Array
  readonly values: string[] = []
  readonly counts: number[] = []
  #index: Map<string, number> | undefined = new Map()
  #last = ''
  #lastId = -1

  constructor(capacity: number) {
    this.ids = new Uint16Array(capacity)
  }

  set(i: number, v: string): void {
    let id = this.#lastId
    if (v !== this.#last || id < 0) {
      const index = this.#index!
      const known = index.get(v)
      if (known === undefined) {
        id = this.values.length
        this.values.push(v)
        this.counts.push(0)
        index.set(v, id)
      } else {
        id = known
      }
      this.#last = v
      this.#lastId = id
    }
    this.ids[i] = id
    this.counts[id]!++
  }

  /** A full segment never gains values: drop the lookup map. */
  seal(): void {
    this.#index = undefined
  }
}

/** What `group_by` groups on; each is a column of every segment. */
export type GroupBy = 'node' | 'ns' | 'worker'

/**
 * A block of entries with the summaries that let a query skip it without looking inside (time
 * range, protocols) and the columns that let it filter and group without touching the entries.
 */
export class Segment {
  readonly entries: Entry[] = []
  /** `entries[i].ts`, unboxed: time checks and newest-first ordering read only this. */
  readonly ts: Float64Array
  // Fields filters read most, beside the entries: a scan reads them in order instead of visiting
  // every entry object (see EntryCursor).
  readonly elapsedUs: Float64Array
  readonly status: Float64Array
  readonly method: string[] = []
  readonly path: string[] = []
  readonly proto: Column
  readonly node: Column
  /** The namespace a call is grouped under: the server's, else the client's. */
  readonly ns: Column
  readonly worker: Column
  minTs = Infinity
  maxTs = -Infinity
  bytes = 0

  constructor(readonly capacity: number) {
    this.ts = new Float64Array(capacity)
    this.elapsedUs = new Float64Array(capacity)
    this.status = new Float64Array(capacity)
    this.proto = new Column(capacity)
    this.node = new Column(capacity)
    this.ns = new Column(capacity)
    this.worker = new Column(capacity)
  }

  get full(): boolean {
    return this.entries.length >= this.capacity
  }

  /** `e` is a stored entry (every field set, see EntryCompactor). */
  add(e: Entry, bytes: number): void {
    const i = this.entries.length
    const ts = e.ts!
    this.entries.push(e)
    this.ts[i] = ts
    this.elapsedUs[i] = e.elapsedUs!
    this.status[i] = e.status!
    this.method.push(e.method!)
    this.path.push(e.path!)
    this.proto.set(i, e.proto!)
    this.node.set(i, e.node!)
    this.ns.set(i, e.dst?.ns || e.src?.ns || '')
    this.worker.set(i, e.worker!)
    if (ts < this.minTs) this.minTs = ts
    if (ts > this.maxTs) this.maxTs = ts
    this.bytes += bytes
  }

  seal(): void {
    this.proto.seal()
    this.node.seal()
    this.ns.seal()
    this.worker.seal()
  }

  column(by: GroupBy): Column {
    return by === 'node' ? this.node : by === 'ns' ? this.ns : this.worker
  }

  /**
   * Which of this segment's protocols a query may match, by dictionary id: undefined when all of
   * them, null when none (the segment is skipped).
   */
  protocolMask(protocols: ReadonlySet<string> | undefined): Uint8Array | undefined | null {
    if (protocols === undefined) return undefined
    const values = this.proto.values
    const mask = new Uint8Array(values.length)
    let any = false
    let all = true
    for (let id = 0; id < values.length; id++) {
      if (protocols.has(values[id]!)) {
        mask[id] = 1
        any = true
      } else {
        all = false
      }
    }
    return !any ? null : all ? undefined : mask
  }
}
