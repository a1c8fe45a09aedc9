import type { ParamDef } from './params.js'
import { boolParam, enumParam, intParam, required, stringParam, timestampParam } from './params.js'

/** One endpoint of the HTTP surface, as the discovery document (and MCP tools) describe it. */
export interface RouteDef {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  description: string
  /** MCP tool name (ARCHITECTURE §3). */
  tool: string
  /** Where the parameters travel: the query string or a JSON body. */
  input: 'query' | 'body'
  /** Role needed when auth is on; default viewer for GET, admin for anything else. */
  role?: 'viewer' | 'admin'
  params: readonly ParamDef[]
}

export const CALLS_PARAMS = [
  stringParam(
    'kfl',
    'KFL2 filter expression (CEL), e.g. http && status_code >= 500; the spec sugar (and/or, contains, response.status) works too',
    4096
  ),
  intParam('limit', 'Max items (1-1000)', 1, 1000, 100),
  enumParam('format', 'Response format: compact, full, raw', ['compact', 'full', 'raw'], 'compact'),
  enumParam('group_by', 'Group results: node, ns, worker', ['node', 'ns', 'worker']),
  timestampParam('start', 'Start timestamp (Unix ms)'),
  timestampParam('end', 'End timestamp (Unix ms)'),
  stringParam(
    'db',
    'Query dissection DB: <snapshot>/<dissection> (default: real-time)',
    130,
    /^[a-z0-9][a-z0-9._-]{0,62}\/[a-z0-9][a-z0-9._-]{0,62}$/,
    '<snapshot>/<dissection>'
  ),
] as const

export const DETAILS_PARAMS = [
  required(stringParam('id', 'Entry ID from list_api_calls (e.g. node1/170710/0 or /170710/0 with node_id)', 200)),
  required(stringParam('node_id', "Node name from the entry's node_id (format=full) or src.node/dst.node", 128)),
  boolParam('include_payload', 'Fetch full request/response body', true),
  boolParam('include_l4', 'Fetch L4 flow and connection info', true),
  boolParam('include_pcap', 'Include connection PCAP data as base64', false),
  intParam('max_payload_size', 'Max bytes per payload body. Larger payloads are truncated', 1, 16 * 1024 * 1024, 65536),
] as const

export const FLOWS_PARAMS = [
  enumParam('format', 'Response format: compact, full, raw', ['compact', 'full', 'raw'], 'compact'),
  enumParam('aggregate', 'Aggregate flows by pod, namespace, node or service', ['pod', 'namespace', 'node', 'service']),
  enumParam('l4proto', 'Transport: tcp or udp', ['tcp', 'udp']),
  stringParam('ip', 'Only flows with this IP on either side', 64),
  stringParam('ns', 'Only flows with this namespace on either side', 253),
  stringParam('pod', 'Only flows with a pod whose name contains this on either side', 253),
  stringParam('svc', 'Only flows with this service on either side', 253),
  intParam('limit', 'Max flows (1-10000)', 1, 10_000, 100),
] as const

/** Every endpoint the hub serves; GET /mcp is generated from this list. */
export const ROUTES: readonly RouteDef[] = [
  { method: 'GET', path: '/mcp/calls', description: 'Query L7 API transactions', tool: 'list_api_calls', input: 'query', params: CALLS_PARAMS },
  {
    method: 'POST',
    path: '/mcp/tools/get_api_call_details',
    description: 'Get full details for a single API call: full bodies, L4 flow and connection statistics',
    tool: 'get_api_call_details',
    input: 'body',
    // A read: POST only because the spec says so.
    role: 'viewer',
    params: DETAILS_PARAMS,
  },
  { method: 'GET', path: '/mcp/dissection', description: 'Get current dissection status', tool: 'get_dissection_status', input: 'query', params: [] },
  { method: 'POST', path: '/mcp/dissection/enable', description: 'Enable L7 protocol parsing on all workers', tool: 'enable_dissection', input: 'body', params: [] },
  { method: 'POST', path: '/mcp/dissection/disable', description: 'Disable L7 protocol parsing (raw capture continues)', tool: 'disable_dissection', input: 'body', params: [] },
  { method: 'GET', path: '/mcp/flows', description: 'List L4 flows (TCP/UDP) with packet and byte counters', tool: 'list_l4_flows', input: 'query', params: FLOWS_PARAMS },
  { method: 'GET', path: '/mcp/flows/summary', description: 'Summary of L4 flows: totals, top talkers, namespaces', tool: 'get_l4_flow_summary', input: 'query', params: [] },
]
