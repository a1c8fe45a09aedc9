import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { IpHistory } from './ip-history.js'
import type { IpRecord, Resolution } from './ip-history.js'
import type { Resolver, ResolverStats } from './resolver.js'

/**
 * One line of a static mapping file, for running without Kubernetes (a VM fleet, a laptop, a
 * replayed capture). The file is a JSON array of these:
 *
 *   [{ "ip": "10.1.0.5", "pod": "checkout-7d9f", "ns": "shop", "svc": "checkout", "node": "n1",
 *      "labels": { "app": "checkout" } },
 *    { "ip": "10.96.0.10", "port": 53, "svc": "kube-dns", "ns": "kube-system" }]
 *
 * `ip` is required; `port` narrows a line to one port (a service's ClusterIP:port); everything else
 * is optional. A line with `pod` is a pod, else with `svc` a service, else with `node` a node. The
 * mapping holds for all time.
 */
export interface StaticMapping {
  ip: string
  port?: number
  pod?: string
  ns?: string
  svc?: string
  node?: string
  labels?: Record<string, string>
}

export class StaticMappingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StaticMappingError'
  }
}

const optString = (v: unknown, what: string): string => {
  if (v === undefined) return ''
  if (typeof v !== 'string') throw new StaticMappingError(`${what} must be a string`)
  return v
}

/** Validates a parsed static mapping (line numbers in messages are 0-based array indexes). */
export function parseStaticMappings(json: unknown): StaticMapping[] {
  if (!Array.isArray(json))
    throw new StaticMappingError(
      'a static mapping file is a JSON array of { ip, port?, pod?, ns?, svc?, node?, labels? }'
    )
  return json.map((raw: unknown, i) => {
    const where = `mapping [${i}]`
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new StaticMappingError(`${where} is not an object`)
    const r = raw as Record<string, unknown>
    if (typeof r.ip !== 'string' || isIP(r.ip) === 0)
      throw new StaticMappingError(`${where}: ip must be an IPv4 or IPv6 address`)
    if (
      r.port !== undefined &&
      (typeof r.port !== 'number' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535)
    ) {
      throw new StaticMappingError(`${where}: port must be an integer from 1 to 65535`)
    }
    const labels: Record<string, string> = {}
    if (r.labels !== undefined) {
      if (r.labels === null || typeof r.labels !== 'object' || Array.isArray(r.labels))
        throw new StaticMappingError(`${where}: labels must be an object`)
      for (const [k, v] of Object.entries(r.labels)) {
        if (typeof v !== 'string')
          throw new StaticMappingError(`${where}: label ${k} must be a string`)
        labels[k] = v
      }
    }
    return {
      ip: r.ip,
      ...(r.port !== undefined ? { port: r.port } : {}),
      pod: optString(r.pod, `${where}: pod`),
      ns: optString(r.ns, `${where}: ns`),
      svc: optString(r.svc, `${where}: svc`),
      node: optString(r.node, `${where}: node`),
      labels,
    }
  })
}

/** The records a mapping line stands for: a pod line also says which service the pod backs. */
function recordsOf(m: StaticMapping): IpRecord[] {
  const ports = m.port !== undefined ? [m.port] : []
  const base = {
    ip: m.ip,
    namespace: m.ns ?? '',
    node: m.node ?? '',
    labels: m.labels ?? {},
    ports,
    uid: '',
    target: '',
    from: 0,
    to: Infinity,
  }
  if (m.pod) {
    const pod: IpRecord = { ...base, kind: 'pod', name: m.pod }
    return m.svc
      ? [pod, { ...base, kind: 'endpoint', name: m.svc, labels: {}, target: m.pod }]
      : [pod]
  }
  if (m.svc) return [{ ...base, kind: 'service', name: m.svc }]
  if (m.node) return [{ ...base, kind: 'node', name: m.node, node: m.node }]
  return []
}

/** Resolves from a fixed mapping; `kind: 'none'` with no mappings is the null resolver. */
export class StaticResolver implements Resolver {
  readonly kind: 'static' | 'none'
  readonly ready = true
  readonly history = new IpHistory({ retentionMs: Infinity })

  constructor(mappings: readonly StaticMapping[], kind: 'static' | 'none' = 'static') {
    this.kind = kind
    this.history.load(mappings.flatMap(recordsOf))
  }

  /** Reads and validates a static mapping file (JSON). */
  static fromFile(path: string): StaticResolver {
    let json: unknown
    try {
      json = JSON.parse(readFileSync(path, 'utf8'))
    } catch (e) {
      throw new StaticMappingError(`cannot read static mapping ${path}: ${(e as Error).message}`)
    }
    return new StaticResolver(parseStaticMappings(json))
  }

  start(): Promise<void> {
    return Promise.resolve()
  }

  stop(): Promise<void> {
    return Promise.resolve()
  }

  resolve(ip: string, port: number, tsMs: number): Resolution {
    if (this.kind === 'none')
      return { pod: '', ns: '', svc: '', node: '', labels: {}, status: 'no_resolver' }
    // Unlike a ClusterIP, a static line with a port holds for that port only.
    const recs = this.history.at(ip, tsMs)
    if (
      port !== 0 &&
      recs.length > 0 &&
      recs.every((r) => r.ports.length > 0 && !r.ports.includes(port))
    ) {
      return { pod: '', ns: '', svc: '', node: '', labels: {}, status: 'unresolved' }
    }
    return this.history.resolve(ip, port, tsMs)
  }

  stats(): ResolverStats {
    return { kind: this.kind, ready: true, history: this.history.stats, resources: {} }
  }
}

/** Runs without Kubernetes and without a mapping: every endpoint is `no_resolver`. */
export const nullResolver = (): StaticResolver => new StaticResolver([], 'none')
