import type { Hono } from 'hono'
import type { FlowRecord } from '@tapwire/wire'
import { pb } from '@tapwire/wire'
import type { AgentGateway } from '../agents/agent-gateway.js'
import { ApiError, ErrorCode } from '../errors.js'
import { endpointJson } from '../format/call-format.js'
import type { NodeRegistry } from '../nodes/node-registry.js'
import { validateQuery } from './params.js'
import { FLOWS_PARAMS } from './route-defs.js'

export interface FlowsDeps {
  agents?: AgentGateway | undefined
  registry: NodeRegistry
}

/** Flows of every online node, asked in parallel; offline nodes are listed, not fatal. */
async function gather(deps: FlowsDeps, perNode: number): Promise<{ flows: FlowRecord[]; truncated: boolean; unreachable: string[] }> {
  if (!deps.agents) throw new ApiError(503, ErrorCode.NOT_CONFIGURED, 'the hub has no connection to agents')
  const agents = deps.agents
  const nodes = deps.registry.all().filter((r) => deps.registry.online(r.status.node ?? ''))
  const answers = await Promise.allSettled(nodes.map((r) => agents.flows(r.status.node ?? '', perNode)))
  const flows: FlowRecord[] = []
  let truncated = false
  const unreachable: string[] = []
  answers.forEach((a, i) => {
    if (a.status === 'fulfilled') {
      flows.push(...(a.value.flows ?? []))
      truncated ||= a.value.truncated ?? false
    } else unreachable.push(nodes[i]!.status.node ?? '')
  })
  return { flows, truncated, unreachable }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

const secsOf = (f: FlowRecord): number => Math.max(0.001, ((f.lastTs ?? 0) - (f.firstTs ?? 0)) / 1000)

/** The compact flow object of the L4 tools; `full` adds rates, ids and the time. */
function flowJson(f: FlowRecord, format: 'compact' | 'full'): Record<string, unknown> {
  const cp = f.clientPkts ?? 0
  const sp = f.serverPkts ?? 0
  const cb = f.clientBytes ?? 0
  const sb = f.serverBytes ?? 0
  const secs = secsOf(f)
  const handshakes = f.handshakeUs ?? []
  const hs =
    f.transport === 'tcp' && handshakes.length > 0
      ? { tcp_handshake_p50_us: pct(handshakes, 50), tcp_handshake_p90_us: pct(handshakes, 90), tcp_handshake_p99_us: pct(handshakes, 99) }
      : {}
  const rates = (txP: number, rxP: number, txB: number, rxB: number) =>
    format === 'full' ? { tx_pps: txP / secs, rx_pps: rxP / secs, tx_bps: (txB * 8) / secs, rx_bps: (rxB * 8) / secs } : {}
  const client = { ...endpointJson(f.client), node: f.client?.node || f.node || '' }
  delete (client as { port?: number }).port
  const out: Record<string, unknown> = {
    proto: f.transport ?? '',
    client,
    server: { ...endpointJson(f.server), ...(f.server?.node ? { node: f.server.node } : {}) },
    client_stats: { tx_pkts: cp, rx_pkts: sp, tx_bytes: cb, rx_bytes: sb, ...hs, ...rates(cp, sp, cb, sb) },
    server_stats: { tx_pkts: sp, rx_pkts: cp, tx_bytes: sb, rx_bytes: cb, ...hs, ...rates(sp, cp, sb, cb) },
    totals: { pkts: cp + sp, bytes: cb + sb, pps: (cp + sp) / secs, bps: ((cb + sb) * 8) / secs },
  }
  if (format === 'full') {
    Object.assign(out, {
      flow_id: f.flowId ?? 0,
      node: f.node ?? '',
      state: f.state ?? '',
      connections: f.connections ?? 0,
      l7: f.l7 ?? '',
      timestamp: new Date(f.lastTs ?? 0).toISOString(),
    })
  }
  return out
}

const either = (f: FlowRecord, pick: (e: NonNullable<FlowRecord['client']>) => string | null | undefined): string[] =>
  [pick(f.client ?? {}) ?? '', pick(f.server ?? {}) ?? ''].filter((x) => x !== '')

const aggregateKey = (f: FlowRecord, by: 'pod' | 'namespace' | 'node' | 'service'): string => {
  const s = f.server ?? {}
  if (by === 'node') return f.node ?? ''
  if (by === 'namespace') return s.ns ?? ''
  if (by === 'service') return s.svc ?? ''
  return s.pod || s.ip || ''
}

/** GET /mcp/flows and /mcp/flows/summary (tools list_l4_flows, get_l4_flow_summary). */
export function mountFlows(app: Hono, deps: FlowsDeps): void {
  app.get('/mcp/flows', async (c) => {
    const q = validateQuery(FLOWS_PARAMS, c.req.queries())
    const limit = q.limit ?? 100
    const { flows, truncated: agentTruncated, unreachable } = await gather(deps, 10_000)
    const matches = flows.filter(
      (f) =>
        (q.l4proto === undefined || f.transport === q.l4proto) &&
        (q.ip === undefined || either(f, (e) => e.ip).includes(q.ip)) &&
        (q.ns === undefined || either(f, (e) => e.ns).includes(q.ns)) &&
        (q.svc === undefined || either(f, (e) => e.svc).includes(q.svc)) &&
        (q.pod === undefined || either(f, (e) => e.pod).some((p) => p.includes(q.pod!)))
    )
    matches.sort((a, b) => (b.clientBytes ?? 0) + (b.serverBytes ?? 0) - ((a.clientBytes ?? 0) + (a.serverBytes ?? 0)))
    const format = q.format ?? 'compact'
    const render = (f: FlowRecord) => (format === 'raw' ? pb.FlowRecord.toObject(pb.FlowRecord.fromObject(f), { defaults: true, arrays: true }) : flowJson(f, format))
    const extra = unreachable.length > 0 ? { unreachable_nodes: unreachable } : {}
    if (q.aggregate === undefined) {
      return c.json({ flows: matches.slice(0, limit).map(render), total: matches.length, truncated: agentTruncated || matches.length > limit, ...extra })
    }
    const groups = new Map<string, FlowRecord[]>()
    for (const f of matches) {
      const k = aggregateKey(f, q.aggregate)
      const list = groups.get(k) ?? []
      list.push(f)
      groups.set(k, list)
    }
    const out = [...groups.entries()].map(([key, list]) => ({
      key,
      flows: list.length,
      pkts: list.reduce((n, f) => n + (f.clientPkts ?? 0) + (f.serverPkts ?? 0), 0),
      bytes: list.reduce((n, f) => n + (f.clientBytes ?? 0) + (f.serverBytes ?? 0), 0),
    }))
    out.sort((a, b) => b.bytes - a.bytes)
    return c.json({ aggregate: q.aggregate, groups: out.slice(0, limit), total: out.length, truncated: out.length > limit, ...extra })
  })

  app.get('/mcp/flows/summary', async (c) => {
    validateQuery([], c.req.queries())
    const { flows, unreachable } = await gather(deps, 10_000)
    const who = (e: FlowRecord['client']) => e?.pod || e?.ip || ''
    const bytesOf = (f: FlowRecord) => (f.clientBytes ?? 0) + (f.serverBytes ?? 0)
    const pktsOf = (f: FlowRecord) => (f.clientPkts ?? 0) + (f.serverPkts ?? 0)
    const byNs: Record<string, number> = {}
    const cross = new Map<string, { src_ns: string; dst_ns: string; flows: number; bytes: number }>()
    for (const f of flows) {
      const dst = f.server?.ns ?? ''
      const src = f.client?.ns ?? ''
      if (dst) byNs[dst] = (byNs[dst] ?? 0) + 1
      if (src && dst && src !== dst) {
        const k = `${src}>${dst}`
        const x = cross.get(k) ?? { src_ns: src, dst_ns: dst, flows: 0, bytes: 0 }
        x.flows++
        x.bytes += bytesOf(f)
        cross.set(k, x)
      }
    }
    const top = (score: (f: FlowRecord) => number, name: 'bytes' | 'pkts') =>
      [...flows]
        .sort((a, b) => score(b) - score(a))
        .slice(0, 10)
        .map((f) => ({ client_pod: who(f.client), server_pod: who(f.server), [name]: score(f) }))
    return c.json({
      total_flows: flows.length,
      tcp_flows: flows.filter((f) => f.transport === 'tcp').length,
      udp_flows: flows.filter((f) => f.transport === 'udp').length,
      total_bytes: flows.reduce((n, f) => n + bytesOf(f), 0),
      total_pkts: flows.reduce((n, f) => n + pktsOf(f), 0),
      unique_clients: new Set(flows.map((f) => f.client?.ip ?? '')).size,
      unique_servers: new Set(flows.map((f) => `${f.server?.ip ?? ''}:${f.server?.port ?? 0}`)).size,
      top_by_bytes: top(bytesOf, 'bytes'),
      top_by_pkts: top(pktsOf, 'pkts'),
      by_namespace: byNs,
      cross_namespace: [...cross.values()].sort((a, b) => b.bytes - a.bytes),
      ...(unreachable.length > 0 ? { unreachable_nodes: unreachable } : {}),
    })
  })
}
