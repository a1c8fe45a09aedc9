import type { Endpoint, Entry } from '@tapwire/wire'
import type { Resolution } from './ip-history.js'
import type { Resolver } from './resolver.js'

/** How long an IP the table has never seen is answered from the negative cache. */
const NEGATIVE_TTL_MS = 2000
const NEGATIVE_MAX = 10_000

interface Negative {
  generation: number
  until: number
}

/**
 * IPs the table has never held (external peers, mostly) are remembered briefly, so a busy external
 * peer costs one Map hit per entry. A cached miss is valid only while the table is unchanged: any
 * change bumps the history's generation.
 */
const negatives = new WeakMap<Resolver, Map<string, Negative>>()

function negativeCache(resolver: Resolver): Map<string, Negative> {
  let m = negatives.get(resolver)
  if (!m) {
    m = new Map()
    negatives.set(resolver, m)
  }
  return m
}

const UNRESOLVED: Resolution = Object.freeze({
  pod: '',
  ns: '',
  svc: '',
  node: '',
  labels: Object.freeze({}),
  status: 'unresolved',
})

function lookup(resolver: Resolver, ip: string, port: number, ts: number, now: number): Resolution {
  const cache = negativeCache(resolver)
  const gen = resolver.history.generation
  const hit = cache.get(ip)
  if (hit !== undefined && hit.generation === gen && now < hit.until && resolver.ready)
    return UNRESOLVED
  const r = resolver.resolve(ip, port, ts)
  if (r.status === 'unresolved' && !resolver.history.knows(ip)) {
    if (cache.size >= NEGATIVE_MAX) cache.clear()
    cache.set(ip, { generation: gen, until: now + NEGATIVE_TTL_MS })
  }
  return r
}

function fill(ep: Endpoint | null | undefined, resolver: Resolver, ts: number, now: number): void {
  if (!ep?.ip) return
  const r = lookup(resolver, ep.ip, ep.port ?? 0, ts, now)
  ep.resolutionStatus = r.status
  // A miss leaves whatever the agent already knew (e.g. a pod name from a sidecar) in place.
  if (r.status !== '') return
  ep.pod = r.pod
  ep.ns = r.ns
  ep.svc = r.svc
  ep.node = r.node
  ep.labels = Object.keys(r.labels).length > 0 ? { ...r.labels } : {}
}

/**
 * Fills `src`/`dst` pod, ns, svc, node, labels and resolution_status as of the entry's own
 * timestamp (in place, before the entry enters the store: KFL's derived values are cached per
 * entry object).
 */
export function enrichEntry(entry: Entry, resolver: Resolver, now: number = Date.now()): void {
  const ts = typeof entry.ts === 'number' && entry.ts > 0 ? entry.ts : now
  fill(entry.src, resolver, ts, now)
  fill(entry.dst, resolver, ts, now)
}
