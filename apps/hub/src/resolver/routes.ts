import { isIP } from 'node:net'
import type { Hono } from 'hono'
import { ApiError, ErrorCode } from '../errors.js'
import {
  enumParam,
  intParam,
  stringParam,
  timestampParam,
  validateQuery,
} from '../routes/params.js'
import type { RouteDef } from '../routes/route-defs.js'
import type { IpRecord, SerializedRecord } from './ip-history.js'
import { IpHistory } from './ip-history.js'
import type { Resolver } from './resolver.js'

const LABELS_RE =
  /^[A-Za-z0-9][A-Za-z0-9._/-]*=[A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._/-]*=[A-Za-z0-9._-]*)*$/

const snapshotParam = stringParam(
  'snapshot_id',
  'Resolve from a snapshot instead of the live table',
  128
)
const namespacesParam = stringParam('namespaces', 'Only these namespaces (comma-separated)', 4096)
const nameRegexParam = stringParam('name_regex', 'Only names matching this regular expression', 256)
const labelsParam = stringParam(
  'labels',
  'Only workloads with all these labels: comma-separated key=value pairs, e.g. app=checkout,version=v2',
  4096,
  LABELS_RE,
  'comma-separated key=value pairs, e.g. app=checkout,version=v2'
)
const timestampArg = timestampParam('timestamp', 'Resolve as of this time (Unix ms); default: now')
const limitParam = intParam('limit', 'Max items (1-10000)', 1, 10_000, 1000)

export const WORKLOADS_PARAMS = [
  snapshotParam,
  stringParam('name', 'Workload name (exact); needs namespace', 253),
  stringParam('namespace', 'Namespace of name (required with name)', 253),
  namespacesParam,
  nameRegexParam,
  labelsParam,
  enumParam('type', 'Workload type: pod or service', ['pod', 'service']),
  timestampArg,
  limitParam,
] as const

export const IPS_PARAMS = [
  snapshotParam,
  stringParam('ip', 'Only this IP (v4 or v6)', 64),
  namespacesParam,
  nameRegexParam,
  labelsParam,
  timestampArg,
  limitParam,
] as const

export const RESOLVE_ROUTES: readonly RouteDef[] = [
  {
    method: 'GET',
    path: '/mcp/resolve/workloads',
    description: 'List pods and services with their IPs, as of now or a timestamp',
    tool: 'list_workloads',
    input: 'query',
    params: WORKLOADS_PARAMS,
  },
  {
    method: 'GET',
    path: '/mcp/resolve/ips',
    description:
      'List IPs with the workloads that held them (all kept history, or as of a timestamp)',
    tool: 'list_ips',
    input: 'query',
    params: IPS_PARAMS,
  },
]

export interface ResolveDeps {
  /** Absent: the hub runs without a resolver, and both lists are empty. */
  resolver?: Resolver | undefined
  now?: () => number
  /** The workload table a snapshot stored (resolution.json); undefined when there is none. */
  snapshotResolution?: ((snapshot: string) => Promise<unknown[] | undefined>) | undefined
}

/** The table to answer from: a snapshot's (as it was in its window), else the live one. */
async function historyFor(deps: ResolveDeps, snapshot: string | undefined): Promise<Iterable<IpRecord>> {
  if (snapshot === undefined) return deps.resolver?.history.records() ?? []
  const table = await deps.snapshotResolution?.(snapshot)
  if (table === undefined) noSnapshots(snapshot)
  // Snapshot tables are history: nothing in them may expire.
  const h = new IpHistory({ retentionMs: Number.POSITIVE_INFINITY })
  h.load(table as SerializedRecord[])
  return h.records()
}

interface Filters {
  namespaces: Set<string> | undefined
  nameRe: RegExp | undefined
  labels: [string, string][]
}

function invalid(param: string, value: unknown, expected: string): ApiError {
  return new ApiError(
    400,
    ErrorCode.INVALID_PARAMETER,
    `invalid ${param}: expected ${expected}, got ${JSON.stringify(value)}`,
    {
      param,
      value,
      expected,
    }
  )
}

function filtersOf(q: {
  namespaces?: string | undefined
  name_regex?: string | undefined
  labels?: string | undefined
}): Filters {
  let nameRe: RegExp | undefined
  if (q.name_regex !== undefined) {
    try {
      nameRe = new RegExp(q.name_regex)
    } catch {
      throw invalid('name_regex', q.name_regex, 'a valid regular expression')
    }
  }
  const namespaces =
    q.namespaces !== undefined
      ? new Set(
          q.namespaces
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        )
      : undefined
  const labels = (q.labels ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv): [string, string] => {
      const i = kv.indexOf('=')
      return [kv.slice(0, i), kv.slice(i + 1)]
    })
  return { namespaces: namespaces && namespaces.size > 0 ? namespaces : undefined, nameRe, labels }
}

const passes = (r: IpRecord, f: Filters): boolean =>
  (f.namespaces === undefined || f.namespaces.has(r.namespace)) &&
  (f.nameRe === undefined || f.nameRe.test(r.name)) &&
  f.labels.every(([k, v]) => r.labels[k] === v)

function noSnapshots(id: string | undefined): void {
  if (id === undefined) return
  // Snapshots (and their kept resolution tables) are not implemented yet.
  throw new ApiError(404, 'SNAPSHOT_NOT_FOUND', `snapshot '${id}' not found`, {
    snapshot_id: id,
  })
}

/** GET /mcp/resolve/workloads and /mcp/resolve/ips (tools list_workloads, list_ips). */
export function mountResolve(app: Hono, deps: ResolveDeps): void {
  const now = deps.now ?? Date.now

  app.get('/mcp/resolve/workloads', async (c) => {
    const q = validateQuery(WORKLOADS_PARAMS, c.req.queries())
    if (q.name !== undefined && q.namespace === undefined) {
      throw new ApiError(
        400,
        ErrorCode.MISSING_PARAMETER,
        'missing namespace: required with name',
        { param: 'namespace', expected: 'a namespace' }
      )
    }
    const records = await historyFor(deps, q.snapshot_id)
    const f = filtersOf(q)
    const ts = q.timestamp ?? now()
    const groups = new Map<
      string,
      {
        name: string
        namespace: string
        kind: string
        labels: Record<string, string>
        ips: { ip: string; timestamp: number }[]
      }
    >()
    for (const r of records) {
      if (r.kind !== 'pod' && r.kind !== 'service') continue
      if (!(r.from <= ts && ts < r.to)) continue
      if (q.type !== undefined && r.kind !== q.type) continue
      if (q.name !== undefined && (r.name !== q.name || r.namespace !== q.namespace)) continue
      if (q.namespace !== undefined && q.name === undefined && r.namespace !== q.namespace) continue
      if (!passes(r, f)) continue
      const key = `${r.kind}\0${r.namespace}\0${r.name}`
      const g = groups.get(key) ?? {
        name: r.name,
        namespace: r.namespace,
        kind: r.kind,
        labels: { ...r.labels },
        ips: [],
      }
      g.ips.push({ ip: r.ip, timestamp: r.from })
      groups.set(key, g)
    }
    const workloads = [...groups.values()].sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) ||
        a.name.localeCompare(b.name) ||
        a.kind.localeCompare(b.kind)
    )
    const limit = q.limit ?? 1000
    return c.json({
      workloads: workloads.slice(0, limit),
      total: workloads.length,
      ...(workloads.length > limit ? { truncated: true } : {}),
    })
  })

  app.get('/mcp/resolve/ips', async (c) => {
    const q = validateQuery(IPS_PARAMS, c.req.queries())
    if (q.ip !== undefined && isIP(q.ip) === 0) throw invalid('ip', q.ip, 'an IPv4 or IPv6 address')
    const records = await historyFor(deps, q.snapshot_id)
    const f = filtersOf(q)
    const byIp = new Map<
      string,
      { name: string; namespace: string; kind: string; timestamp: number; end: number | null }[]
    >()
    for (const r of records) {
      // Endpoint records say which service an IP backs; the IP's holder is its pod record.
      if (r.kind === 'endpoint') continue
      if (q.ip !== undefined && r.ip !== q.ip) continue
      if (q.timestamp !== undefined && !(r.from <= q.timestamp && q.timestamp < r.to)) continue
      if (!passes(r, f)) continue
      const list = byIp.get(r.ip) ?? []
      list.push({
        name: r.name,
        namespace: r.namespace,
        kind: r.kind,
        timestamp: r.from,
        end: r.to === Infinity ? null : r.to,
      })
      byIp.set(r.ip, list)
    }
    const ips = [...byIp.entries()]
      .map(([ip, records]) => ({ ip, records: records.sort((a, b) => b.timestamp - a.timestamp) }))
      .sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }))
    const limit = q.limit ?? 1000
    return c.json({
      ips: ips.slice(0, limit),
      total: ips.length,
      ...(ips.length > limit ? { truncated: true } : {}),
    })
  })
}
