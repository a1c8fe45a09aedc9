import { z } from 'zod'
import type { ToolAnnotations } from '@modelcontextprotocol/server'

/**
 * What a model needs to know about each tool beyond the REST route's one-line description. Kept
 * here, keyed by tool name, so route-defs.ts stays the single source of paths and parameters
 * while this file owns the prose; a route without an entry falls back to its own description.
 */
export interface ToolDoc {
  title?: string
  description: string
  /** Merged over the annotations derived from the HTTP method. */
  annotations?: ToolAnnotations
  /** Only where the answer's shape is fixed by the spec; kept loose so additive fields never fail. */
  outputSchema?: z.ZodType
}

/** The KFL primer every tool that takes a filter carries: models copy what they see in examples. */
export const KFL_PRIMER = `KFL filter language (Google CEL over one flat set of variables per call; an empty filter matches everything):
- Protocol flags are booleans: http, grpc, ws, gql, redis, dns, kafka, amqp, postgresql, mysql, mongodb, tls, tcp, udp.
- Fields: method, path, url, status_code (int), elapsed_time (MICROseconds), request.headers["name"], response.headers["name"] (keys case-insensitive), src.ip, src.port, dst.ip, dst.port, src.namespace, dst.namespace, src.pod.name, dst.pod.name, src.service.name, dst.service.name, proto, timestamp, response_body_size.
- Operators: == != < <= > >= && || ! in, parentheses; methods s.contains(x) s.startsWith(x) s.endsWith(x) s.matches(re); size(x); duration("5m"); now(); timestamp("2026-03-14T22:00:00Z"); map_get(map, key, default).
- The older spec sugar is accepted too: and / or / not, infix contains/startsWith/endsWith/matches, response.status (= status_code), request.path, request.method, src.ns / dst.ns (namespace), dst.pod / dst.svc / dst.node as strings, response.latency (MILLIseconds).
- Strings use double quotes. Types are checked: status_code == "500" is an error (write status_code == 500). Missing fields and headers read as "" / 0 / false, so request.headers["Authorization"] == "" finds calls without that header.
Examples:
  http && status_code >= 500                       server errors
  http and response.status >= 400                  all HTTP errors (spec sugar)
  http && method == "POST" && path.startsWith("/api/orders")
  dst.namespace == "payments" && elapsed_time > 1000000     slower than 1 s
  response.latency > 1000                          slower than 1 s (spec sugar, ms)
  src.namespace == "frontend" && dst.service.name == "backend"
  grpc && grpc_status != 0
  timestamp > now() - duration("5m")               the last five minutes
  dns && "example.com" in dns_questions
  !(src.pod.namespace == "kube-system")
A bad filter returns an error naming the [start,end) offsets and a hint: fix it and retry.`

// Loose on purpose: format=raw returns the agent's protobuf shape, which has other field types.
const call = z
  .record(z.string(), z.unknown())
  .describe(
    'A call; compact fields: id, ts (Unix ms), src, dst ({ip, port, pod, ns, svc, node}), proto, method, path, status, latency_ms'
  )
const snapshot = z.looseObject({
  name: z.string().optional(),
  status: z.string().optional(),
  size_bytes: z.number().optional(),
  created_at: z.string().optional(),
  duration: z.string().optional(),
})

/**
 * An output schema that also admits the hub's error object: a failed call returns
 * `{ error: { code, message, details } }` as structuredContent with isError, and clients (the v1
 * SDK does) validate structuredContent against outputSchema even then. So every field is
 * optional; the descriptions, not `required`, tell the model what a success holds.
 */
function output(fields: Record<string, z.ZodType>) {
  const optional = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()]))
  return z.looseObject({
    ...optional,
    error: z
      .looseObject({ code: z.string(), message: z.string() })
      .optional()
      .describe('Present only on failure (isError)'),
  })
}

/** The answer of export_snapshot_pcap (the tool builds it: a link, never the bytes). */
export const PCAP_LINK_OUTPUT = output({
  name: z.string(),
  uri: z.string().describe('Absolute download URL (GET with the same bearer token)'),
  mime_type: z.string(),
  snapshot: z.record(z.string(), z.unknown()),
})

export const TOOL_DOCS: Record<string, ToolDoc> = {
  list_api_calls: {
    title: 'List captured API calls',
    description: `Query dissected L7 API calls (HTTP, gRPC, Redis, DNS, Kafka, SQL, ...) captured across the cluster, newest first. Use it to find errors, slow calls, or the traffic of a service. Returns { calls, total, truncated } (or { group_by, groups } with group_by). total counts every match, so a small limit still tells you how many there are.
Use format=full to get node_id, conn_id, headers and body previews for a drill-down with get_api_call_details(id, node_id). start/end are Unix milliseconds (call get_data_boundaries to see what time range exists).

${KFL_PRIMER}`,
    annotations: { openWorldHint: false },
    outputSchema: output({
      calls: z.array(call).describe('Newest first (without group_by)'),
      group_by: z.string(),
      groups: z
        .array(z.looseObject({ key: z.string(), total: z.number(), calls: z.array(call) }))
        .describe('With group_by'),
      total: z.number().describe('Every match, not just those returned'),
      truncated: z.boolean(),
    }),
  },
  get_api_call_details: {
    title: 'Get one API call in full',
    description:
      'Full details of one call found with list_api_calls: complete request/response bodies (up to max_payload_size), L4 flow and connection statistics, optionally the connection PCAP (include_pcap=true: pcap is a base64 classic pcap of the TCP/UDP connection that carried the call, both directions, from the node raw-capture ring, with pcap_packets; pcap_truncated=true and pcap_note when packets are missing (size bound, aged out of the ring); pcap_error instead of pcap when none are left. Prefer a snapshot export for large captures). Pass the call id and node_id (from format=full results; the node is also the first part of the id, "<node>/<flow>/<index>").',
    // A POST only because the spec says so: it reads, it changes nothing.
    annotations: { readOnlyHint: true, idempotentHint: true, destructiveHint: false },
  },
  get_dissection_status: {
    title: 'Is L7 dissection on?',
    description:
      'Whether L7 protocol dissection is enabled on the agents. When it is off, list_api_calls returns no new calls; enable_dissection turns it on.',
    outputSchema: output({ enabled: z.boolean() }),
  },
  enable_dissection: {
    title: 'Enable L7 dissection',
    description:
      'Turn L7 protocol dissection on for every agent (idempotent). Needed before list_api_calls sees new traffic.',
    annotations: { idempotentHint: true, destructiveHint: false },
    outputSchema: output({ enabled: z.boolean() }),
  },
  disable_dissection: {
    title: 'Disable L7 dissection',
    description:
      'Turn L7 protocol dissection off on every agent (idempotent). New API calls stop being recorded until it is enabled again; only do this when the user asks.',
    annotations: { idempotentHint: true, destructiveHint: true },
    outputSchema: output({ enabled: z.boolean() }),
  },
  get_raw_capture_status: {
    title: 'Is raw packet capture on?',
    description:
      'Whether raw packet capture is enabled. Raw capture is needed to create snapshots and export PCAP.',
    outputSchema: output({ enabled: z.boolean() }),
  },
  get_data_boundaries: {
    title: 'Available time range',
    description:
      'The oldest and newest timestamps (Unix ms) of captured data, for the cluster and per node. Call it before choosing start/end for list_api_calls or a snapshot duration.',
  },
  list_snapshots: {
    title: 'List snapshots',
    description:
      'All traffic snapshots with status (in_progress, completed, failed), size and window.',
    outputSchema: output({ snapshots: z.array(snapshot) }),
  },
  create_snapshot: {
    title: 'Create a traffic snapshot',
    description:
      'Preserve the raw traffic of the last `duration` (e.g. "30m", "1h") from every node under a unique `name` (lowercase letters, digits, . _ -), as evidence for later analysis or PCAP export. Creation runs in the background: poll get_snapshot until status is completed.',
    annotations: { destructiveHint: false, idempotentHint: false },
  },
  get_snapshot: {
    title: 'Get a snapshot',
    description:
      'Details of one snapshot: status, window (start_ts/end_ts), nodes, size and packet count.',
  },
  delete_snapshot: {
    title: 'Delete a snapshot',
    description: 'Delete a snapshot and its PCAP files for good. Only when the user asks.',
    annotations: { destructiveHint: true, idempotentHint: true },
  },
  export_snapshot_pcap: {
    title: 'Export a snapshot as PCAP',
    description:
      'Get a download link (resource_link) for a completed snapshot merged into one PCAP file for Wireshark/tshark. The bytes are not put in the conversation: give the link to the user, or download it with `tapwire snapshot download NAME`.',
    outputSchema: PCAP_LINK_OUTPUT,
  },
  list_l4_flows: {
    title: 'List L4 flows',
    description:
      'Lightweight TCP/UDP connectivity view (who talks to whom, bytes, packets, state) without L7 dissection. Good for "is X reaching Y at all" before looking at API calls.',
  },
  get_l4_flow_summary: {
    title: 'Summarise L4 flows',
    description: 'Aggregated L4 statistics (top talkers, connection counts, bytes per peer).',
  },
}
