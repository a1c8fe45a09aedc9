import type { RouteDef } from './route-defs.js'

export interface DiscoveryDocument {
  name: string
  version: string
  description: string
  endpoints: {
    path: string
    method: string
    description: string
    tool: string
    params: { name: string; type: string; description: string; default?: unknown }[]
  }[]
}

/** The spec's `GET /mcp` document, built from the same definitions that validate requests. */
export function discoveryDocument(routes: readonly RouteDef[], version: string): DiscoveryDocument {
  return {
    name: 'Tapwire MCP Server',
    version,
    description:
      "Model Context Protocol server exposing Tapwire's L7 API visibility data (dissected calls, snapshots, PCAP) for AI assistants",
    endpoints: routes.map((r) => ({
      path: r.path,
      method: r.method,
      description: r.description,
      tool: r.tool,
      params: r.params.map((p) => ({
        name: p.name,
        type: p.type,
        description: p.description,
        ...(p.default !== undefined ? { default: p.default } : {}),
      })),
    })),
  }
}
