/** Entry identity: `<node>/<flow_id>/<index>` (ARCHITECTURE §3). */

export interface EntryIdParts {
  node: string
  flowId: number
  index: number
}

export const formatEntryId = (node: string, flowId: number, index: number): string =>
  `${node}/${flowId}/${index}`

/**
 * Parses both forms the spec shows: `node/flow/index` and `/flow/index` (node then comes from
 * `node_id`). Returns undefined for anything else.
 */
export function parseEntryId(id: string, nodeHint = ''): EntryIdParts | undefined {
  const m = /^([A-Za-z0-9_-]*)\/(\d{1,16})\/(\d{1,9})$/.exec(id)
  if (!m) return undefined
  const node = m[1] || nodeHint
  if (!node) return undefined
  return { node, flowId: Number(m[2]), index: Number(m[3]) }
}
