import { z } from 'zod'
import type { McpServer } from '@modelcontextprotocol/server'

/**
 * Prompts for the investigations users ask for most (spec "Use Cases"): each one is a worked plan
 * that names the tools and writes the KFL, so a model starts from a correct filter instead of
 * guessing field names. Prompt arguments are strings on the wire.
 */

const quote = (s: string): string => JSON.stringify(s)

/** `dst` scoping for a service given as "name" or "namespace/name". */
function serviceFilter(
  service: string | undefined,
  namespace: string | undefined,
  side: 'dst' | 'src' = 'dst'
): string[] {
  const parts: string[] = []
  if (service) {
    const [ns, name] = service.includes('/')
      ? (service.split('/', 2) as [string, string])
      : [undefined, service]
    parts.push(
      `(${side}.service.name == ${quote(name)} || ${side}.pod.name.startsWith(${quote(name)}))`
    )
    if (ns) parts.push(`${side}.namespace == ${quote(ns)}`)
  }
  if (namespace) parts.push(`${side}.namespace == ${quote(namespace)}`)
  return parts
}

function minutesWindow(minutes: string | undefined): string[] {
  const m = minutes?.trim()
  return m && /^\d{1,5}$/.test(m) ? [`timestamp > now() - duration("${m}m")`] : []
}

const text = (t: string) => ({
  messages: [{ role: 'user' as const, content: { type: 'text' as const, text: t } }],
})

export const PROMPT_NAMES = [
  'find_errors',
  'latency_analysis',
  'service_traffic',
  'incident_snapshot',
] as const

export function registerPrompts(server: McpServer): void {
  server.registerPrompt(
    'find_errors',
    {
      title: 'Find failing API calls',
      description:
        'Find HTTP 5xx/4xx and gRPC errors, optionally for one service or namespace and a recent window, and explain their cause.',
      argsSchema: z.object({
        service: z.string().optional().describe('Destination service, "name" or "namespace/name"'),
        namespace: z.string().optional().describe('Destination namespace'),
        minutes: z.string().optional().describe('Only the last N minutes'),
        include_client_errors: z
          .string()
          .optional()
          .describe('"true" to include 4xx as well as 5xx'),
      }),
    },
    ({ service, namespace, minutes, include_client_errors }) => {
      const min = include_client_errors === 'true' ? 400 : 500
      const scope = [...serviceFilter(service, namespace), ...minutesWindow(minutes)]
      const kfl = [
        `((http && status_code >= ${min}) || (grpc && grpc_status != 0))`,
        ...scope,
      ].join(' && ')
      return text(
        `Investigate failing API calls${service ? ` to ${service}` : ''}${namespace ? ` in namespace ${namespace}` : ''}${minutes ? ` in the last ${minutes} minutes` : ''}.
1. Call get_dissection_status; if it is off, tell me and stop (ask before enabling).
2. Call list_api_calls with kfl = ${quote(kfl)}, group_by = "ns", limit = 20, to see where errors cluster and how many there are (total).
3. Call list_api_calls with the same kfl, format = "full", limit = 20, and look at paths, status codes, response bodies and the pods involved.
4. For the two or three most representative failures, call get_api_call_details(id, node_id) and read the request and response bodies.
5. Report: which endpoints fail, since when (timestamps), which callers are affected, the likely cause, and the evidence (call ids).`
      )
    }
  )

  server.registerPrompt(
    'latency_analysis',
    {
      title: 'Analyse slow API calls',
      description:
        'Find the slowest endpoints above a latency threshold and explain where the time goes.',
      argsSchema: z.object({
        threshold_ms: z
          .string()
          .optional()
          .describe('Latency threshold in milliseconds (default 1000)'),
        service: z.string().optional().describe('Destination service, "name" or "namespace/name"'),
        minutes: z.string().optional().describe('Only the last N minutes'),
      }),
    },
    ({ threshold_ms, service, minutes }) => {
      const ms =
        threshold_ms && /^\d{1,7}$/.test(threshold_ms.trim()) ? Number(threshold_ms.trim()) : 1000
      const kfl = [
        `elapsed_time > ${ms * 1000}`,
        ...serviceFilter(service, undefined),
        ...minutesWindow(minutes),
      ].join(' && ')
      return text(
        `Find API calls slower than ${ms} ms${service ? ` to ${service}` : ''}${minutes ? ` in the last ${minutes} minutes` : ''}. (KFL elapsed_time is in microseconds; latency_ms in results is milliseconds.)
1. Call list_api_calls with kfl = ${quote(kfl)}, group_by = "ns", limit = 50 to see how many slow calls there are per namespace.
2. Call list_api_calls with the same kfl, limit = 100, and rank endpoints (method + path + destination) by count and worst latency_ms.
3. Compare with the same endpoints without the threshold (drop "elapsed_time > ..." and filter on the path) to tell a slow tail from an endpoint that is always slow.
4. For the worst calls, get_api_call_details(id, node_id) to check payload sizes and L4 statistics (retransmissions or small windows point to the network, not the service).
5. Report the slow endpoints with counts, typical vs worst latency, and the most likely cause.`
      )
    }
  )

  server.registerPrompt(
    'service_traffic',
    {
      title: "Summarise a service's traffic",
      description: 'Who calls a service, what it calls, which endpoints, error rate and latency.',
      argsSchema: z.object({
        service: z.string().describe('Service name, "name" or "namespace/name"'),
        namespace: z.string().optional().describe('Namespace of the service'),
        minutes: z.string().optional().describe('Only the last N minutes'),
      }),
    },
    ({ service, namespace, minutes }) => {
      const inbound = [...serviceFilter(service, namespace, 'dst'), ...minutesWindow(minutes)].join(
        ' && '
      )
      const outbound = [
        ...serviceFilter(service, namespace, 'src'),
        ...minutesWindow(minutes),
      ].join(' && ')
      return text(
        `Describe the traffic of service ${service}${namespace ? ` in ${namespace}` : ''}${minutes ? ` over the last ${minutes} minutes` : ''}.
1. Inbound: list_api_calls with kfl = ${quote(inbound)}, group_by = "ns", limit = 50 — who calls it and how much.
2. Outbound: list_api_calls with kfl = ${quote(outbound)}, limit = 100 — what it depends on (databases, other services, external APIs).
3. Errors: add " && status_code >= 400" to the inbound filter; latency: look at latency_ms of the inbound calls.
4. Report a table of endpoints (method, path, callers, count, error count, p50/worst latency) and its dependencies.`
      )
    }
  )

  server.registerPrompt(
    'incident_snapshot',
    {
      title: 'Preserve traffic for an incident',
      description:
        'Create a snapshot of recent traffic, summarise what it holds and hand out the PCAP link.',
      argsSchema: z.object({
        name: z
          .string()
          .describe('Snapshot name (lowercase letters, digits, . _ -), e.g. incident-2026-03-14'),
        duration: z
          .string()
          .optional()
          .describe('How far back to capture, e.g. 30m or 1h (default 30m)'),
        service: z
          .string()
          .optional()
          .describe('Service the incident is about, to summarise its calls'),
      }),
    },
    ({ name, duration, service }) => {
      const d = duration?.trim() || '30m'
      const errors = [`(http && status_code >= 500)`, ...serviceFilter(service, undefined)].join(
        ' && '
      )
      return text(
        `Preserve the evidence of an incident as snapshot ${quote(name)} covering the last ${d}.
1. Call get_raw_capture_status; snapshots need raw capture. Call get_data_boundaries to check that ${d} of data exists; if less, say so and use what exists.
2. Call create_snapshot with name = ${quote(name)} and duration = ${quote(d)}; then poll get_snapshot(name) until status is "completed" (or report a failure).
3. Summarise what happened in the window: list_api_calls with kfl = ${quote(errors)}, group_by = "ns"${service ? `, and the traffic of ${service}` : ''}.
4. Call export_snapshot_pcap(name) and give me the download link (do not try to read the PCAP yourself).`
      )
    }
  )
}
