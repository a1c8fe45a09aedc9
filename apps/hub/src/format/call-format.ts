import type { Endpoint, Entry, Header } from '@tapwire/wire'
import { pb } from '@tapwire/wire'

/** The spec's Endpoint object: only the fields that are known. */
export interface EndpointJson {
  ip: string
  port: number
  pod?: string
  ns?: string
  svc?: string
  node?: string
}

export interface CompactCall {
  id: string
  ts: number
  src: EndpointJson
  dst: EndpointJson
  proto: string
  method: string
  path: string
  status: number
  latency_ms: number
  error?: { type: string; message: string }
}

export interface FullCall extends CompactCall {
  conn_id: number
  node_id: string
  flow_id: number
  req_headers: Record<string, string>
  resp_headers: Record<string, string>
  req_body: string
  resp_body: string
  req_size: number
  resp_size: number
  worker: string
  url: string
  version: string
  gaps: number
}

export function endpointJson(e: Endpoint | null | undefined): EndpointJson {
  const out: EndpointJson = { ip: e?.ip ?? '', port: e?.port ?? 0 }
  if (e?.pod) out.pod = e.pod
  if (e?.ns) out.ns = e.ns
  if (e?.svc) out.svc = e.svc
  if (e?.node) out.node = e.node
  return out
}

/** LLM-optimised: the essentials of a call. */
export function compactCall(e: Entry): CompactCall {
  const call: CompactCall = {
    id: e.id ?? '',
    ts: Math.round(e.ts ?? 0),
    src: endpointJson(e.src),
    dst: endpointJson(e.dst),
    proto: e.proto ?? '',
    method: e.method ?? '',
    path: e.path ?? '',
    status: e.status ?? 0,
    latency_ms: Math.round((e.elapsedUs ?? 0)) / 1000,
  }
  if (e.errorType) call.error = { type: e.errorType, message: e.errorMessage ?? '' }
  return call
}

/** Headers as an object; repeated names are joined with ", " (RFC 9110 §5.3). */
export function headerObject(headers: readonly Header[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const h of headers ?? []) {
    const name = h.name ?? ''
    out[name] = name in out ? `${out[name]}, ${h.value ?? ''}` : (h.value ?? '')
  }
  return out
}

export function fullCall(e: Entry): FullCall {
  return {
    ...compactCall(e),
    conn_id: e.connId ?? 0,
    node_id: e.node ?? '',
    flow_id: e.flowId ?? 0,
    req_headers: headerObject(e.reqHeaders),
    resp_headers: headerObject(e.respHeaders),
    req_body: e.reqBody ?? '',
    resp_body: e.respBody ?? '',
    req_size: e.reqBodySize ?? 0,
    resp_size: e.respBodySize ?? 0,
    worker: e.worker ?? '',
    url: e.url ?? '',
    version: e.version ?? '',
    gaps: e.gaps ?? 0,
  }
}

/** The entry exactly as the agent published it (protobuf field names in camelCase). */
export function rawCall(e: Entry): Record<string, unknown> {
  return pb.Entry.toObject(pb.Entry.fromObject(e), { defaults: true, arrays: true, objects: true, oneofs: true })
}

export type CallFormat = 'compact' | 'full' | 'raw'

export const formatCall = (e: Entry, format: CallFormat): unknown =>
  format === 'full' ? fullCall(e) : format === 'raw' ? rawCall(e) : compactCall(e)
