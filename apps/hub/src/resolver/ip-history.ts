/**
 * The time-aware IP(/port) → workload table. Every IP a pod, service, node or EndpointSlice holds
 * is a record with the span it was held (`from` ≤ t < `to`), so a call is resolved as of its own
 * timestamp: an IP reused by a new pod resolves to the old pod for calls made before the reuse,
 * even after the old pod is gone. (The legacy system this is modelled on copied the whole map on
 * every change; spans cost one record per IP assignment instead.)
 *
 * Memory is bounded: closed records older than the retention window are dropped, and beyond
 * `maxRecords` the oldest closed records go first. Open records (the cluster as it is now) are never
 * dropped. What was dropped is counted, and `horizon` says before when the history is incomplete.
 */

/**
 * The resolution status of one endpoint, as KFL's `local_resolution_status` /
 * `remote_resolution_status` read it:
 * - `''`: resolved (to a pod, a service or a node);
 * - `'unresolved'`: the IP was not a pod, service or node IP at that time (external, or gone
 *   before the history began);
 * - `'out_of_window'`: the time is before the history's horizon (records were dropped by the
 *   retention bound), so absence proves nothing;
 * - `'not_synced'`: the Kubernetes watchers have not finished their first list yet;
 * - `'no_resolver'`: the hub runs without Kubernetes and without a static mapping.
 * KFL's own values (`no_node_mapping`, `rpc_error`, `cache_miss`...) describe the modelled system's
 * worker→hub RPC, which Tapwire does not have: enrichment runs in the hub.
 */
export type ResolutionStatus = '' | 'unresolved' | 'out_of_window' | 'not_synced' | 'no_resolver'

export interface Resolution {
  pod: string
  ns: string
  svc: string
  node: string
  labels: Readonly<Record<string, string>>
  status: ResolutionStatus
}

export type RecordKind = 'pod' | 'service' | 'node' | 'endpoint'

/** What an owner (one pod, service, node or EndpointSlice) says one of its IPs is. */
export interface RecordSpec {
  ip: string
  kind: RecordKind
  /** Pod, service or node name; for `endpoint` records, the service the IP backs. */
  name: string
  namespace: string
  node: string
  labels: Readonly<Record<string, string>>
  /** Service ports (ClusterIP) or endpoint ports; empty means any port. */
  ports: readonly number[]
  /** The object's uid, so a pod recreated under the same name is a new record. */
  uid: string
  /** For `endpoint` records: the pod (targetRef) behind the address, when the slice names it. */
  target: string
}

export interface IpRecord extends RecordSpec {
  /** Unix ms from which the IP was held. */
  from: number
  /** Unix ms until which it was held (exclusive); Infinity while it still is. */
  to: number
}

/** A record as JSON (snapshots keep the table of their window); `to` is null while open. */
export type SerializedRecord = Omit<IpRecord, 'to'> & { to: number | null }

export interface IpHistoryOptions {
  /** Records kept at most (open + closed); closed ones are dropped oldest first beyond it. */
  maxRecords?: number
  /** Closed records are dropped once they ended longer ago than this. */
  retentionMs?: number
  now?: () => number
}

export interface IpHistoryStats {
  records: number
  open: number
  ips: number
  /** Closed records dropped because they ended before the retention window. */
  droppedExpired: number
  /** Closed records dropped early because the table reached `maxRecords`. */
  droppedOverCap: number
  /** Unix ms before which lookups may miss dropped records (-Infinity: nothing dropped). */
  horizon: number
}

export const DEFAULT_MAX_RECORDS = 500_000
export const DEFAULT_RETENTION_MS = 24 * 3600_000

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze({})

const specKey = (s: RecordSpec): string =>
  JSON.stringify([
    s.ip,
    s.kind,
    s.name,
    s.namespace,
    s.node,
    s.uid,
    s.target,
    s.ports,
    Object.entries(s.labels).sort(),
  ])

const active = (r: IpRecord, ts: number): boolean => r.from <= ts && ts < r.to

const RANK: Record<RecordKind, number> = { pod: 0, service: 1, node: 2, endpoint: 3 }

export class IpHistory {
  readonly #byIp = new Map<string, IpRecord[]>()
  /** Owner key (e.g. `pod/ns/name`) → its open records by spec. */
  readonly #owners = new Map<string, Map<string, IpRecord>>()
  /** Closed records in the order they closed (≈ by `to`), for oldest-first dropping. */
  #closed: IpRecord[] = []
  #closedHead = 0
  #size = 0
  #open = 0
  #ops = 0
  #droppedExpired = 0
  #droppedOverCap = 0
  #horizon = -Infinity
  /** Bumped on every change: caches of lookups compare it. */
  generation = 0
  readonly #max: number
  readonly #retention: number
  readonly #now: () => number

  constructor(opts: IpHistoryOptions = {}) {
    this.#max = Math.max(1, opts.maxRecords ?? DEFAULT_MAX_RECORDS)
    this.#retention = opts.retentionMs ?? DEFAULT_RETENTION_MS
    this.#now = opts.now ?? Date.now
  }

  /**
   * Sets what `owner` holds now: records no longer in `specs` close now, new ones open. A new
   * record opens at `startHint` (the object's own start time, for IPs assigned before the watch
   * saw them) clamped to after the previous holder of the IP let go and to no later than now.
   */
  set(owner: string, specs: readonly RecordSpec[], startHint?: number): void {
    const now = this.#now()
    const current = this.#owners.get(owner) ?? new Map<string, IpRecord>()
    const wanted = new Map(specs.map((s) => [specKey(s), s]))
    let changed = false
    for (const [k, r] of current) {
      if (wanted.has(k)) continue
      current.delete(k)
      this.#close(r, now)
      changed = true
    }
    for (const [k, s] of wanted) {
      if (current.has(k)) continue
      const r: IpRecord = { ...s, from: this.#startOf(s, now, startHint), to: Infinity }
      current.set(k, r)
      this.#insert(r)
      changed = true
    }
    if (current.size > 0) this.#owners.set(owner, current)
    else this.#owners.delete(owner)
    if (changed) {
      this.generation++
      if ((++this.#ops & 1023) === 0 || this.#size > this.#max) this.prune()
    }
  }

  /** The owner is gone: its records close now. */
  remove(owner: string): void {
    this.set(owner, [])
  }

  /** Adds a record as it was (loading a snapshot or a static mapping). */
  load(records: readonly (IpRecord | SerializedRecord)[]): void {
    for (const r of records) {
      const rec: IpRecord = { ...r, labels: r.labels ?? EMPTY_LABELS, to: r.to ?? Infinity }
      this.#insert(rec)
      if (rec.to !== Infinity) this.#closed.push(rec)
    }
    this.generation++
    this.prune()
  }

  /** Records holding `ip` at `ts`, pods first, then services, nodes, endpoints. */
  at(ip: string, ts: number): IpRecord[] {
    const list = this.#byIp.get(ip)
    if (!list) return []
    return list.filter((r) => active(r, ts)).sort((a, b) => RANK[a.kind] - RANK[b.kind])
  }

  /** True when the table has ever (within retention) seen `ip`. */
  knows(ip: string): boolean {
    return this.#byIp.has(ip)
  }

  /** Who held `ip` (and `port`, for services and endpoints) at `ts`. */
  resolve(ip: string, port: number, ts: number): Resolution {
    const recs = this.at(ip, ts)
    const ports = (r: IpRecord): boolean =>
      r.ports.length === 0 || port === 0 || r.ports.includes(port)
    const endpoints = recs.filter((r) => r.kind === 'endpoint')
    const svcOf = (ns: string): string => {
      const same = endpoints.filter((r) => r.namespace === ns)
      return (same.find(ports) ?? same[0])?.name ?? ''
    }
    const first = recs[0]
    if (first === undefined) {
      return {
        pod: '',
        ns: '',
        svc: '',
        node: '',
        labels: EMPTY_LABELS,
        status: ts < this.#horizon ? 'out_of_window' : 'unresolved',
      }
    }
    switch (first.kind) {
      case 'pod':
        return {
          pod: first.name,
          ns: first.namespace,
          svc: svcOf(first.namespace),
          node: first.node,
          labels: first.labels,
          status: '',
        }
      case 'service': {
        const svc = recs.filter((r) => r.kind === 'service')
        const s = svc.find(ports) ?? first
        return { pod: '', ns: s.namespace, svc: s.name, node: '', labels: s.labels, status: '' }
      }
      case 'node':
        return { pod: '', ns: '', svc: '', node: first.name, labels: first.labels, status: '' }
      case 'endpoint': {
        // A slice names an address the pod watch has not shown (yet): the slice still knows the
        // service, the namespace and usually the pod.
        const e = endpoints.find(ports) ?? first
        return {
          pod: e.target,
          ns: e.namespace,
          svc: e.name,
          node: e.node,
          labels: EMPTY_LABELS,
          status: '',
        }
      }
    }
  }

  /** Every record kept, open and closed. */
  *records(): IterableIterator<IpRecord> {
    for (const list of this.#byIp.values()) yield* list
  }

  /** The records overlapping [start, end], as JSON: what a snapshot keeps. */
  exportWindow(start: number, end: number): SerializedRecord[] {
    const out: SerializedRecord[] = []
    for (const r of this.records()) {
      if (r.from <= end && r.to >= start) out.push({ ...r, to: r.to === Infinity ? null : r.to })
    }
    return out
  }

  /** Drops closed records past retention, then oldest closed ones while above the cap. */
  prune(): void {
    const cutoff = this.#now() - this.#retention
    // Keep ~10% headroom below the cap so a busy table does not prune on every insert.
    const target = this.#size > this.#max ? Math.floor(this.#max * 0.9) : this.#max
    let dropped = false
    while (this.#closedHead < this.#closed.length) {
      const r = this.#closed[this.#closedHead]!
      const expired = r.to < cutoff
      if (!expired && this.#size <= target) break
      this.#closedHead++
      if (this.#drop(r)) {
        dropped = true
        if (expired) this.#droppedExpired++
        else this.#droppedOverCap++
        this.#horizon = Math.max(this.#horizon, r.to)
      }
    }
    if (this.#closedHead > 4096 && this.#closedHead * 2 > this.#closed.length) {
      this.#closed = this.#closed.slice(this.#closedHead)
      this.#closedHead = 0
    }
    if (dropped) this.generation++
  }

  get stats(): IpHistoryStats {
    return {
      records: this.#size,
      open: this.#open,
      ips: this.#byIp.size,
      droppedExpired: this.#droppedExpired,
      droppedOverCap: this.#droppedOverCap,
      horizon: this.#horizon,
    }
  }

  #startOf(s: RecordSpec, now: number, hint: number | undefined): number {
    let from = hint !== undefined && Number.isFinite(hint) ? Math.min(hint, now) : now
    // Never overlap the previous holder of this IP (of the same kind): object timestamps have
    // second precision, and the previous pod may have let go within the same second.
    for (const r of this.#byIp.get(s.ip) ?? []) {
      if (r.kind === s.kind && r.to !== Infinity && r.to > from && r.to <= now) from = r.to
    }
    return from
  }

  #insert(r: IpRecord): void {
    const list = this.#byIp.get(r.ip)
    if (list) list.push(r)
    else this.#byIp.set(r.ip, [r])
    this.#size++
    if (r.to === Infinity) this.#open++
  }

  #close(r: IpRecord, now: number): void {
    r.to = Math.max(now, r.from)
    this.#open--
    this.#closed.push(r)
  }

  #drop(r: IpRecord): boolean {
    const list = this.#byIp.get(r.ip)
    const i = list ? list.indexOf(r) : -1
    if (!list || i < 0) return false
    list.splice(i, 1)
    if (list.length === 0) this.#byIp.delete(r.ip)
    this.#size--
    return true
  }
}
