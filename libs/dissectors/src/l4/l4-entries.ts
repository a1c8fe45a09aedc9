// Builders of the L4 entries: `tcp_conn`/`udp_conn` (one connection, cumulative counters) and
// `tcp_flow`/`udp_flow` (one peer flow, cumulative counters and rates over a report window). The
// attrs are the catalogue's CONN and FLOW variables (kubeshark-notes §1.1 "L4 connection", "L4
// flow"). Local is the client side (the connection's opener), remote the server side.
import type { Connection } from '@tapwire/reassembly'
import type { Attr, Endpoint, Entry } from '@tapwire/wire'
import { formatEntryId } from '@tapwire/wire'
import type { PeerFlow } from '../peer-flows.js'

/** `conn_state` / `flow_state` values (the reference's three). */
export type L4State = 'open' | 'in_progress' | 'closed'

export interface L4EntryContext {
  node: string
  worker: string
}

const str = (name: string, s: string): Attr => ({ name, str: s })
const num = (name: string, n: number): Attr => ({ name, num: n })
const list = (name: string, values: string[]): Attr => ({ name, list: { values } })

/** Everything an Entry carries, with the L7-only fields empty. */
function entry(
  ctx: L4EntryContext,
  flowId: number,
  index: number,
  connId: number,
  ts: number,
  proto: string,
  transport: 'tcp' | 'udp',
  src: Endpoint,
  dst: Endpoint,
  attrs: Attr[],
  summary: string
): Entry {
  return {
    id: formatEntryId(ctx.node, flowId, index),
    node: ctx.node,
    flowId,
    index,
    connId,
    ts,
    elapsedUs: 0,
    proto,
    transport,
    src,
    dst,
    method: '',
    path: '',
    url: '',
    status: 0,
    version: '',
    reqHeaders: [],
    respHeaders: [],
    reqBody: '',
    respBody: '',
    reqBodySize: 0,
    respBodySize: 0,
    reqHeaderSize: 0,
    respHeaderSize: 0,
    reqBodyTruncated: false,
    respBodyTruncated: false,
    errorType: '',
    errorMessage: '',
    worker: ctx.worker,
    attrs,
    gaps: 0,
    summary,
  }
}

/** A connection's report: counters as of now (cumulative since its first packet). */
export function connEntry(ctx: L4EntryContext, conn: Connection, flow: PeerFlow, index: number, state: L4State, ts: number, l7: string[]): Entry {
  const [out, back] = conn.stats
  const attrs = [
    str('conn_state', state),
    num('conn_local_pkts', out.pkts),
    num('conn_local_bytes', out.bytes),
    num('conn_remote_pkts', back.pkts),
    num('conn_remote_bytes', back.bytes),
    list('conn_l7_detected', l7),
    num('conn_group_id', flow.id),
  ]
  const summary = `${state}: ${out.pkts} pkts (${out.bytes} B) sent, ${back.pkts} pkts (${back.bytes} B) received`
  return entry(
    ctx,
    flow.id,
    index,
    conn.id,
    ts,
    `${conn.transport}_conn`,
    conn.transport,
    { ip: conn.client.ip, port: conn.client.port },
    { ip: conn.server.ip, port: conn.server.port },
    attrs,
    summary
  )
}

export interface FlowCounters {
  pkts: readonly [number, number]
  bytes: readonly [number, number]
}

/**
 * A peer flow's report: cumulative counters over all its connections, and rates of what moved in
 * the report window (`windowMs` long, at least 1 ms so the rates stay finite).
 */
export function flowEntry(
  ctx: L4EntryContext,
  flow: PeerFlow,
  index: number,
  state: L4State,
  ts: number,
  total: FlowCounters,
  moved: FlowCounters,
  windowMs: number,
  l7: string[]
): Entry {
  const secs = Math.max(1, windowMs) / 1000
  const pps = (d: 0 | 1): number => moved.pkts[d] / secs
  const bps = (d: 0 | 1): number => (moved.bytes[d] * 8) / secs
  const attrs = [
    str('flow_state', state),
    num('flow_local_pkts', total.pkts[0]),
    num('flow_local_bytes', total.bytes[0]),
    num('flow_remote_pkts', total.pkts[1]),
    num('flow_remote_bytes', total.bytes[1]),
    num('flow_local_pps', pps(0)),
    num('flow_local_bps', bps(0)),
    num('flow_remote_pps', pps(1)),
    num('flow_remote_bps', bps(1)),
    list('flow_l7_detected', l7),
    num('flow_group_id', flow.id),
  ]
  const rate = (d: 0 | 1): string => `${pps(d).toFixed(1)} pkt/s, ${Math.round(bps(d))} bit/s`
  const summary = `${state}: ${rate(0)} sent, ${rate(1)} received over ${(windowMs / 1000).toFixed(1)} s`
  return entry(
    ctx,
    flow.id,
    index,
    0,
    ts,
    `${flow.transport}_flow`,
    flow.transport,
    { ip: flow.clientIp, port: 0 },
    { ip: flow.serverIp, port: flow.serverPort },
    attrs,
    summary
  )
}
