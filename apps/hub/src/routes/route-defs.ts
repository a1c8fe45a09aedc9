import { z } from 'zod'
import { RESOLVE_ROUTES } from '../resolver/routes.js'
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

// --- raw capture, snapshots, delayed dissection (issue 6) -----------------------------------------

const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/
const NAME_EXPECTED = '1-63 characters: lowercase letters, digits, . _ - (starting with a letter or digit)'

export const SNAPSHOT_NAME_PARAM = required(stringParam('name', 'Snapshot name', 63, NAME_PATTERN, NAME_EXPECTED))

/** `nodes`: a JSON array of node names, or a comma-separated string. */
const nodesParam = (description: string): ParamDef<string | string[], 'nodes'> => ({
  name: 'nodes',
  type: 'string',
  description,
  expected: 'node names: an array or a comma-separated string',
  schema: z.union([z.array(z.string().max(128)).max(1000), z.string().max(65536)]),
})

export const CREATE_SNAPSHOT_PARAMS = [
  SNAPSHOT_NAME_PARAM,
  stringParam('duration', 'Time window to preserve, ending now (or at end): Go-style duration, e.g. 30m, 1h, 2h30m', 32),
  timestampParam('start', 'Window start (Unix ms); default end - duration'),
  timestampParam('end', 'Window end (Unix ms); default now; a future end captures forward until then'),
  nodesParam('Nodes to include (default: every node with raw capture)'),
] as const

/** The export's query parameters (the snapshot name travels in the path). */
export const EXPORT_PCAP_QUERY_PARAMS = [
  stringParam('nodes', 'Comma-separated node names (default: all nodes of the snapshot)', 65536),
  timestampParam('start_time', 'Only packets at or after this time (Unix ms)'),
  timestampParam('end_time', 'Only packets at or before this time (Unix ms)'),
  stringParam('bpf_filter', 'libpcap (tcpdump) filter, e.g. "tcp port 443" or "host 10.244.1.15"', 4096),
  stringParam('kfl', 'KFL filter: keep only the packets of connections whose API calls match it', 4096),
  enumParam('format', 'pcap (classic, ns timestamps; nodes must share a link type) or pcapng (one interface per node)', ['pcap', 'pcapng'], 'pcap'),
] as const

export const EXPORT_PCAP_PARAMS = [SNAPSHOT_NAME_PARAM, ...EXPORT_PCAP_QUERY_PARAMS] as const

export const START_DISSECTION_PARAMS = [
  required(stringParam('snapshot', 'Snapshot to dissect', 63, NAME_PATTERN, NAME_EXPECTED)),
  required(stringParam('name', 'Name of the resulting database (query it with db=<snapshot>/<name>)', 63, NAME_PATTERN, NAME_EXPECTED)),
] as const

export const LIST_DISSECTIONS_PARAMS = [stringParam('snapshot', 'Only the dissections of this snapshot', 63, NAME_PATTERN, NAME_EXPECTED)] as const

const DISSECTION_PATH_PARAMS = [
  required(stringParam('snapshot', 'Snapshot name', 63, NAME_PATTERN, NAME_EXPECTED)),
  required(stringParam('name', 'Dissection name', 63, NAME_PATTERN, NAME_EXPECTED)),
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
  { method: 'GET', path: '/mcp/raw-capture', description: 'Check if raw capture is enabled', tool: 'get_raw_capture_status', input: 'query', params: [] },
  { method: 'GET', path: '/mcp/data-boundaries', description: 'Get available data time range (raw capture, cluster and per node)', tool: 'get_data_boundaries', input: 'query', params: [] },
  { method: 'GET', path: '/mcp/snapshots', description: 'List all snapshots', tool: 'list_snapshots', input: 'query', params: [] },
  { method: 'POST', path: '/mcp/snapshots', description: 'Create a new snapshot', tool: 'create_snapshot', input: 'body', params: CREATE_SNAPSHOT_PARAMS },
  { method: 'GET', path: '/mcp/snapshots/:name', description: 'Get snapshot details', tool: 'get_snapshot', input: 'query', params: [SNAPSHOT_NAME_PARAM] },
  { method: 'DELETE', path: '/mcp/snapshots/:name', description: 'Delete a snapshot', tool: 'delete_snapshot', input: 'query', params: [SNAPSHOT_NAME_PARAM] },
  // Raw packets are not redacted: exporting them needs the admin role.
  { method: 'GET', path: '/mcp/snapshots/:name/pcap', description: 'Export snapshot as PCAP', tool: 'export_snapshot_pcap', input: 'query', params: EXPORT_PCAP_PARAMS, role: 'admin' },
  { method: 'GET', path: '/mcp/databases', description: 'List queryable databases: real-time per node and delayed dissections', tool: 'list_databases', input: 'query', params: [] },
  { method: 'POST', path: '/mcp/dissections', description: 'Start a delayed dissection of a snapshot', tool: 'start_snapshot_dissection', input: 'body', params: START_DISSECTION_PARAMS },
  { method: 'GET', path: '/mcp/dissections', description: 'List delayed dissections', tool: 'list_snapshot_dissections', input: 'query', params: LIST_DISSECTIONS_PARAMS },
  { method: 'GET', path: '/mcp/dissections/:snapshot/:name', description: 'Get the status and progress of a delayed dissection', tool: 'get_snapshot_dissection_status', input: 'query', params: DISSECTION_PATH_PARAMS },
  { method: 'POST', path: '/mcp/dissections/:snapshot/:name/stop', description: 'Stop a running delayed dissection', tool: 'stop_snapshot_dissection', input: 'body', params: DISSECTION_PATH_PARAMS },
  { method: 'DELETE', path: '/mcp/dissections/:snapshot/:name', description: 'Delete a delayed dissection and its database', tool: 'delete_snapshot_dissection', input: 'query', params: DISSECTION_PATH_PARAMS },
  ...RESOLVE_ROUTES,
]
