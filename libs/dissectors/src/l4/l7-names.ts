// The names in `conn_l7_detected` / `flow_l7_detected`: what the engine found on a connection,
// spelled as KFL's `protocol` variable spells an entry's protocol (its id in upper case: "HTTP",
// "GRPC", "WS", "REDIS"...), so `"HTTP" in conn_l7_detected` reads like `protocol == "HTTP"`.

/** Dissector ids that differ from the protocol they detect. */
const DISSECTOR_PROTOCOL: Readonly<Record<string, string>> = {
  http1: 'HTTP',
  http2: 'HTTP',
  websocket: 'WS',
  'dns-tcp': 'DNS',
}

/**
 * The fallback dissectors (`tcp`, `udp`) take what nothing recognised: that is the absence of an
 * L7 protocol, not one.
 */
const NOT_L7 = new Set(['tcp', 'udp', ''])

/** gRPC and GraphQL calls travel over HTTP (KFL's `http` flag is true for them too). */
const OVER_HTTP = new Set(['grpc', 'gql', 'gqlv1', 'gqlv2'])

/** Protocol of the dissector pinned on a connection, or undefined for none / the fallback. */
export function dissectorProtocol(id: string | undefined): string | undefined {
  if (id === undefined || NOT_L7.has(id)) return undefined
  return DISSECTOR_PROTOCOL[id] ?? id.toUpperCase()
}

/** Adds the protocols a call of `proto` shows to `names` (kept in first-seen order, no repeats). */
export function addCallProtocols(names: string[], proto: string): void {
  if (NOT_L7.has(proto)) return
  if (OVER_HTTP.has(proto)) addName(names, 'HTTP')
  addName(names, proto.toUpperCase())
}

export function addName(names: string[], name: string | undefined): void {
  if (name !== undefined && !names.includes(name)) names.push(name)
}
