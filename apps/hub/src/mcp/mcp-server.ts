import type {
  CallToolResult,
  StandardSchemaWithJSON,
  ToolAnnotations,
} from '@modelcontextprotocol/server'
import { McpServer } from '@modelcontextprotocol/server'
import { ApiError } from '../errors.js'
import type { RouteDef } from '../routes/route-defs.js'
import { registerPrompts } from './prompts.js'
import { renderError, renderResult } from './render.js'
import { KFL_PRIMER, TOOL_DOCS } from './tool-docs.js'
import { prepareCall, toolShape } from './tool-schema.js'

export const PCAP_MIME = 'application/vnd.tcpdump.pcap'

/** Calls the hub's own REST surface in-process (Hono's `app.request`). */
export type RestCall = (path: string, init: RequestInit) => Response | Promise<Response>

export interface McpServerDeps {
  routes: readonly RouteDef[]
  rest: RestCall
  version: string
  /** The caller's `Authorization` header, forwarded so REST authorizes the tool call as it would the caller. */
  authorization?: string | undefined
  /** Absolute origin (and optional prefix) the hub is reached at; download links are built on it. */
  baseUrl: string
}

/**
 * A Standard Schema that advertises the route's JSON Schema but accepts any arguments: the tool
 * handler validates with the route's own `validateArgs`, so a bad argument gets the hub's stable
 * error object (`INVALID_PARAMETER`, `UNKNOWN_PARAMETER`, ...) exactly as REST would answer it,
 * not an SDK-worded message that a model could not match against the REST docs.
 */
function passThroughSchema(
  json: Record<string, unknown>
): StandardSchemaWithJSON<Record<string, unknown>> {
  return {
    '~standard': {
      version: 1,
      vendor: 'tapwire',
      validate: (value: unknown) => ({
        value: (typeof value === 'object' && value !== null ? value : {}) as Record<
          string,
          unknown
        >,
      }),
      jsonSchema: { input: () => json, output: () => json },
    },
  }
}

function annotationsFor(route: RouteDef): ToolAnnotations {
  const base: ToolAnnotations =
    route.method === 'GET'
      ? { readOnlyHint: true, idempotentHint: true }
      : route.method === 'DELETE'
        ? { readOnlyHint: false, destructiveHint: true, idempotentHint: true }
        : { readOnlyHint: false, destructiveHint: false }
  // Tapwire only talks to its own cluster's data: no open world.
  return { ...base, openWorldHint: false, ...TOOL_DOCS[route.tool]?.annotations }
}

const asObject = (body: unknown): Record<string, unknown> =>
  typeof body === 'object' && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : { result: body }

function errorResult(status: number, body: unknown): CallToolResult {
  return {
    content: [{ type: 'text', text: renderError(status, body) }],
    structuredContent: asObject(body),
    isError: true,
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text()
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }
  return text
}

/** Builds one stateless MCP server instance (a fresh one per HTTP request; cheap). */
export function createMcpServer(deps: McpServerDeps): McpServer {
  const server = new McpServer(
    { name: 'tapwire', title: 'Tapwire', version: deps.version },
    {
      instructions: `Tapwire shows the API calls (HTTP, gRPC, Redis, DNS, Kafka, SQL, ...) flowing between the pods of a Kubernetes cluster, captured from the network. Start with list_api_calls and a KFL filter; drill into one call with get_api_call_details; preserve evidence with create_snapshot and export_snapshot_pcap. Timestamps are Unix milliseconds.\n\n${KFL_PRIMER}`,
    }
  )
  const headers = (json: boolean): Record<string, string> => ({
    accept: 'application/json',
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...(deps.authorization ? { authorization: deps.authorization } : {}),
  })
  const call = async (method: string, url: string, body?: string): Promise<Response> =>
    deps.rest(url, {
      method,
      headers: headers(body !== undefined),
      ...(body !== undefined ? { body } : {}),
    })

  for (const route of deps.routes) {
    const doc = TOOL_DOCS[route.tool]
    const shape = toolShape(route)
    const isPcap = route.tool === 'export_snapshot_pcap'
    server.registerTool(
      route.tool,
      {
        title: doc?.title ?? route.description,
        description: doc?.description ?? route.description,
        inputSchema: passThroughSchema(shape.inputSchema),
        ...(doc?.outputSchema ? { outputSchema: doc.outputSchema } : {}),
        annotations: annotationsFor(route),
        _meta: { 'tapwire/rest': `${route.method} ${route.path}` },
      },
      async (args: Record<string, unknown>): Promise<CallToolResult> => {
        let prepared
        try {
          prepared = prepareCall(route, args)
        } catch (e) {
          if (e instanceof ApiError) return errorResult(e.status, e.toJSON())
          throw e
        }
        if (isPcap) return pcapLink(args, prepared.url)
        const res = await call(prepared.method, prepared.url, prepared.body)
        const body = await readBody(res)
        if (!res.ok) return errorResult(res.status, body)
        return {
          content: [{ type: 'text', text: renderResult(route.tool, body) }],
          structuredContent: asObject(body),
        }
      }
    )
  }
  registerPrompts(server)
  return server

  /**
   * A link, not the bytes: a snapshot PCAP can be gigabytes, and base64 in the conversation would
   * inflate it by a third and fill the model's context with noise. The snapshot is looked up first
   * (when the hub has get_snapshot) so a wrong name is an error now, not a broken link later.
   */
  async function pcapLink(args: Record<string, unknown>, url: string): Promise<CallToolResult> {
    const given = args['name'] ?? Object.values(args)[0]
    const name = typeof given === 'string' ? given : 'snapshot'
    let snapshot: Record<string, unknown> | undefined
    const get = deps.routes.find((r) => r.tool === 'get_snapshot')
    if (get) {
      const res = await call(
        'GET',
        get.path.replace(/:[A-Za-z_][A-Za-z0-9_]*/, encodeURIComponent(name))
      )
      const body = await readBody(res)
      if (!res.ok) return errorResult(res.status, body)
      snapshot = asObject(body)
    }
    // Relative to the base so a path prefix (an ingress mounting the hub under /tapwire) is kept.
    const uri = new URL(
      url.replace(/^\//, ''),
      deps.baseUrl.endsWith('/') ? deps.baseUrl : `${deps.baseUrl}/`
    ).toString()
    const size =
      typeof snapshot?.['size_bytes'] === 'number'
        ? ` (~${snapshot['size_bytes']} bytes captured)`
        : ''
    return {
      content: [
        {
          type: 'resource_link',
          uri,
          name: `${name}.pcap`,
          title: `Snapshot ${name} as PCAP`,
          mimeType: PCAP_MIME,
          description: `Merged PCAP of snapshot ${name}${size}. Download with GET (send the same bearer token), or: tapwire snapshot download ${name}`,
        },
        {
          type: 'text',
          text: `PCAP of snapshot ${name}${size}: ${uri}\nDownload it with curl -H 'Authorization: Bearer …' -o ${name}.pcap '${uri}' or tapwire snapshot download ${name}.`,
        },
      ],
      structuredContent: { name, uri, mime_type: PCAP_MIME, ...(snapshot ? { snapshot } : {}) },
    }
  }
}
