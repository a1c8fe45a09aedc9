import type { Hono } from 'hono'
import type { L4Stats } from '@tapwire/wire'
import { parseEntryId } from '@tapwire/wire'
import type { AgentGateway } from '../agents/agent-gateway.js'
import { ApiError, ErrorCode } from '../errors.js'
import { fullCall } from '../format/call-format.js'
import type { EntryStore } from '../store/entry-store.js'
import { validateBody } from './params.js'
import { DETAILS_PARAMS } from './route-defs.js'

export interface DetailsDeps {
  store: EntryStore
  agents?: AgentGateway | undefined
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Text bodies as text; anything that is not valid UTF-8 as base64, and says so. */
function bodyText(b: Uint8Array): { text: string; encoding: 'utf8' | 'base64' } {
  try {
    return { text: utf8.decode(b), encoding: 'utf8' }
  } catch {
    return { text: Buffer.from(b).toString('base64'), encoding: 'base64' }
  }
}

const l4Conn = (s: L4Stats) => ({
  conn_id: s.id ?? 0,
  state: s.state ?? '',
  local_pkts: s.localPkts ?? 0,
  local_bytes: s.localBytes ?? 0,
  remote_pkts: s.remotePkts ?? 0,
  remote_bytes: s.remoteBytes ?? 0,
})

const l4Flow = (s: L4Stats) => ({
  flow_id: s.id ?? 0,
  state: s.state ?? '',
  local_pkts: s.localPkts ?? 0,
  local_bytes: s.localBytes ?? 0,
  remote_pkts: s.remotePkts ?? 0,
  remote_bytes: s.remoteBytes ?? 0,
  local_pps: round(s.localPps),
  local_bps: round(s.localBps),
  remote_pps: round(s.remotePps),
  remote_bps: round(s.remoteBps),
})

const round = (n: number | null | undefined): number => Math.round((n ?? 0) * 100) / 100

/** POST /mcp/tools/get_api_call_details (tool get_api_call_details): drill-down to the agent. */
export function mountDetails(app: Hono, deps: DetailsDeps): void {
  app.post('/mcp/tools/get_api_call_details', async (c) => {
    const body: unknown = await c.req.json().catch(() => {
      throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be JSON')
    })
    const a = validateBody(DETAILS_PARAMS, body)
    const id = a.id!
    const nodeId = a.node_id!
    const parts = parseEntryId(id, nodeId)
    if (!parts) {
      throw new ApiError(400, ErrorCode.INVALID_PARAMETER, `invalid id: expected <node>/<flow>/<index> or /<flow>/<index>, got ${JSON.stringify(id)}`, { param: 'id' })
    }
    if (parts.node !== nodeId) {
      throw new ApiError(400, ErrorCode.INVALID_PARAMETER, `id ${id} belongs to node '${parts.node}', not node_id '${nodeId}'`, { param: 'node_id' })
    }
    const fullId = `${parts.node}/${parts.flowId}/${parts.index}`
    const entry = deps.store.get(fullId)
    if (!entry) throw new ApiError(404, ErrorCode.ENTRY_NOT_FOUND, `no call with id ${fullId}`, { id: fullId })
    if (!deps.agents) throw new ApiError(503, ErrorCode.NOT_CONFIGURED, 'the hub has no connection to agents')
    const max = a.max_payload_size ?? 65536
    const d = await deps.agents.details(parts.node, {
      id: fullId,
      maxPayloadSize: max,
      includePayload: a.include_payload ?? true,
      includeL4: a.include_l4 ?? true,
      includePcap: a.include_pcap ?? false,
      // The agent finds the connection's packets by it even once the bodies left its cache.
      connId: entry.connId ?? 0,
      flowId: entry.flowId ?? 0,
    })
    const out: Record<string, unknown> = { entry: fullCall(entry) }
    if (a.include_payload ?? true) {
      if (d.found) {
        const req = bodyText(d.reqBody ?? new Uint8Array())
        const resp = bodyText(d.respBody ?? new Uint8Array())
        out.req_body = req.text
        out.resp_body = resp.text
        if (req.encoding !== 'utf8') out.req_body_encoding = req.encoding
        if (resp.encoding !== 'utf8') out.resp_body_encoding = resp.encoding
        out.truncated = d.truncated ?? false
      } else {
        // The agent no longer holds the bodies: answer with the previews the entry carries.
        out.req_body = (entry.reqBody ?? '').slice(0, max)
        out.resp_body = (entry.respBody ?? '').slice(0, max)
        out.truncated = true
        out.details_source = 'preview'
        out.details_note = d.error ?? 'the agent no longer holds this call'
      }
    }
    if (a.include_l4 ?? true) {
      if (d.l4Flow) out.l4_flow = l4Flow(d.l4Flow)
      if (d.l4Conn) out.l4_conn = l4Conn(d.l4Conn)
    }
    if (a.include_pcap) {
      // A classic pcap of the connection's packets, both directions, from the node's raw-capture
      // ring; pcap_truncated when some are missing (size bound, aged out), pcap_note says why.
      if (d.pcap && d.pcap.length > 0) {
        out.pcap = Buffer.from(d.pcap).toString('base64')
        out.pcap_packets = Number(d.pcapPackets ?? 0)
        out.pcap_truncated = d.pcapTruncated ?? false
        if (d.pcapError) out.pcap_note = d.pcapError
      } else {
        out.pcap_error = d.pcapError || d.error || "no packets of this connection are in the node's raw-capture ring"
      }
    }
    return c.json(out)
  })
}
