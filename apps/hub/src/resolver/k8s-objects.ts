import type { RecordSpec } from './ip-history.js'

/**
 * Kubernetes objects as the resolver keeps them: only the fields resolution reads. The informers
 * cache every object they watch, so trimming at the door (list pages and watch events alike) is
 * what bounds the watcher's memory in a cluster of many large pod specs.
 */
export interface SlimObject {
  apiVersion?: string
  kind?: string
  metadata: {
    name?: string
    namespace?: string
    uid?: string
    resourceVersion?: string
    creationTimestamp?: string
    labels?: Record<string, string>
  }
  spec?: {
    nodeName?: string
    hostNetwork?: boolean
    clusterIP?: string
    clusterIPs?: string[]
    externalIPs?: string[]
    ports?: { port?: number }[]
  }
  status?: {
    phase?: string
    podIP?: string
    podIPs?: { ip?: string }[]
    startTime?: string
    addresses?: { type?: string; address?: string }[]
    loadBalancer?: { ingress?: { ip?: string }[] }
  }
  /** EndpointSlice fields. */
  endpoints?: {
    addresses?: string[]
    nodeName?: string
    targetRef?: { kind?: string; name?: string }
  }[]
  ports?: { port?: number }[]
}

export type ResourceKind = 'pods' | 'services' | 'endpointslices' | 'nodes'

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

/** Dates arrive as strings from watch events and as Date objects from the generated list client. */
function timeString(v: unknown): string | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString()
  return typeof v === 'string' ? v : undefined
}

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {}
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const strings = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string')
const labelsOf = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x
  return out
}
const portsOf = (v: unknown): { port?: number }[] => arr(v).map((p) => ({ port: num(obj(p).port) }))

/** Keeps what resolution needs of a pod, service, EndpointSlice or node. */
export function slim(kind: ResourceKind, raw: unknown): SlimObject {
  const o = obj(raw)
  const m = obj(o.metadata)
  const spec = obj(o.spec)
  const status = obj(o.status)
  const out: SlimObject = {
    metadata: {
      name: str(m.name),
      namespace: str(m.namespace),
      uid: str(m.uid),
      resourceVersion: str(m.resourceVersion),
      creationTimestamp: timeString(m.creationTimestamp),
      labels: labelsOf(m.labels),
    },
  }
  switch (kind) {
    case 'pods':
      out.spec = { nodeName: str(spec.nodeName), hostNetwork: spec.hostNetwork === true }
      out.status = {
        phase: str(status.phase),
        podIP: str(status.podIP),
        podIPs: arr(status.podIPs).map((p) => ({ ip: str(obj(p).ip) })),
        startTime: timeString(status.startTime),
      }
      break
    case 'services':
      out.spec = {
        clusterIP: str(spec.clusterIP),
        clusterIPs: strings(spec.clusterIPs),
        externalIPs: strings(spec.externalIPs),
        ports: portsOf(spec.ports),
      }
      out.status = {
        loadBalancer: {
          ingress: arr(obj(status.loadBalancer).ingress).map((i) => ({ ip: str(obj(i).ip) })),
        },
      }
      break
    case 'endpointslices':
      out.endpoints = arr(o.endpoints).map((e) => {
        const ep = obj(e)
        const ref = obj(ep.targetRef)
        return {
          addresses: strings(ep.addresses),
          nodeName: str(ep.nodeName),
          targetRef: { kind: str(ref.kind), name: str(ref.name) },
        }
      })
      out.ports = portsOf(o.ports)
      break
    case 'nodes':
      out.status = {
        addresses: arr(status.addresses).map((a) => ({
          type: str(obj(a).type),
          address: str(obj(a).address),
        })),
      }
      break
  }
  return out
}

/** The history owner of an object: one per object, whatever its uid. */
export const ownerOf = (kind: ResourceKind, o: SlimObject): string =>
  `${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`

/** When the object's IPs were (at the latest) assigned: the pod's start, else its creation. */
export function startOf(o: SlimObject): number | undefined {
  const t = Date.parse(o.status?.startTime ?? o.metadata.creationTimestamp ?? '')
  return Number.isNaN(t) ? undefined : t
}

const usable = (ip: string | undefined): ip is string =>
  ip !== undefined && ip !== '' && ip !== 'None'
const uniq = (xs: (string | undefined)[]): string[] => [...new Set(xs.filter(usable))]

/** The IP records an object stands for now. */
export function specsOf(kind: ResourceKind, o: SlimObject): RecordSpec[] {
  const m = o.metadata
  const base = {
    namespace: m.namespace ?? '',
    uid: m.uid ?? '',
    labels: m.labels ?? {},
    target: '',
  }
  switch (kind) {
    case 'pods': {
      // Host-network pods share the node's IP: that IP resolves to the node, not to one of them.
      // Finished pods keep status.podIP, but the IP is free and may already be another pod's.
      const phase = o.status?.phase
      if (o.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed') return []
      const ips = uniq([o.status?.podIP, ...(o.status?.podIPs ?? []).map((p) => p.ip)])
      return ips.map((ip) => ({
        ...base,
        ip,
        kind: 'pod',
        name: m.name ?? '',
        node: o.spec?.nodeName ?? '',
        ports: [],
      }))
    }
    case 'services': {
      const ports = (o.spec?.ports ?? [])
        .map((p) => p.port)
        .filter((p): p is number => p !== undefined)
      const ips = uniq([
        o.spec?.clusterIP,
        ...(o.spec?.clusterIPs ?? []),
        ...(o.spec?.externalIPs ?? []),
        ...(o.status?.loadBalancer?.ingress ?? []).map((i) => i.ip),
      ])
      return ips.map((ip) => ({
        ...base,
        ip,
        kind: 'service',
        name: m.name ?? '',
        node: '',
        ports,
      }))
    }
    case 'endpointslices': {
      const svc = m.labels?.[SERVICE_NAME_LABEL]
      if (!svc) return []
      const ports = (o.ports ?? []).map((p) => p.port).filter((p): p is number => p !== undefined)
      return (o.endpoints ?? []).flatMap((e) =>
        uniq(e.addresses ?? []).map((ip) => ({
          ...base,
          labels: {},
          ip,
          kind: 'endpoint' as const,
          name: svc,
          node: e.nodeName ?? '',
          ports,
          target: e.targetRef?.kind === 'Pod' ? (e.targetRef.name ?? '') : '',
        }))
      )
    }
    case 'nodes': {
      const ips = uniq(
        (o.status?.addresses ?? [])
          .filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP')
          .map((a) => a.address)
      )
      return ips.map((ip) => ({
        ...base,
        namespace: '',
        ip,
        kind: 'node',
        name: m.name ?? '',
        node: m.name ?? '',
        ports: [],
      }))
    }
  }
}
