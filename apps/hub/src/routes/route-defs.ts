import type { ParamDef } from './params.js'
import { enumParam, intParam, stringParam, timestampParam } from './params.js'

/** One endpoint of the HTTP surface, as the discovery document (and MCP tools) describe it. */
export interface RouteDef {
  method: 'GET' | 'POST' | 'DELETE'
  path: string
  description: string
  /** MCP tool name (ARCHITECTURE §3). */
  tool: string
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

/** Every endpoint the hub serves; GET /mcp is generated from this list. */
export const ROUTES: readonly RouteDef[] = [
  {
    method: 'GET',
    path: '/mcp/calls',
    description: 'Query L7 API transactions',
    tool: 'list_api_calls',
    params: CALLS_PARAMS,
  },
]
