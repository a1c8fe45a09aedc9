import type { Attr, Endpoint, Entry, Header } from '@tapwire/wire'
import { EMPTY_LIST, EMPTY_MAP, defaultValue } from './types.js'
import type { KType } from './types.js'

/** Reads one variable of one entry; absent values read as the type's default. */
export type Accessor = (e: Entry) => unknown

/** Header and cookie maps: keys are stored lower-case and looked up case-insensitively. */
export class CaseInsensitiveMap extends Map<unknown, unknown> {
  override get(key: unknown): unknown {
    return super.get(typeof key === 'string' ? key.toLowerCase() : key)
  }
  override has(key: unknown): boolean {
    return super.has(typeof key === 'string' ? key.toLowerCase() : key)
  }
}

// Derived per-entry data (maps, attr index...) is built on first use and kept with the entry, so
// a filter that never looks at headers never pays for them, and ten filters over one entry build
// them once. A WeakMap keeps entries collectable.
interface Derived {
  attrs?: Map<string, Attr>
  reqHeaders?: Map<unknown, unknown>
  respHeaders?: Map<unknown, unknown>
  reqCookies?: Map<unknown, unknown>
  respCookies?: Map<unknown, unknown>
  query?: Map<unknown, unknown>
  localLabels?: Map<unknown, unknown>
  remoteLabels?: Map<unknown, unknown>
  namespaces?: string[]
  pods?: string[]
  services?: string[]
}

const cache = new WeakMap<Entry, Derived>()

/**
 * A filter may be evaluated on a view of an entry rather than the entry object (the hub's store
 * runs it on one cursor over its columns). Such a view names the entry it currently shows under
 * this key, so derived data is cached per entry, never per view.
 */
export const ENTRY_SELF: unique symbol = Symbol('tapwire.kfl.entry')

function derived(e: Entry): Derived {
  const key = (e as { [ENTRY_SELF]?: Entry })[ENTRY_SELF] ?? e
  let d = cache.get(key)
  if (d === undefined) {
    d = {}
    cache.set(key, d)
  }
  return d
}

function headerMap(headers: readonly Header[] | null | undefined): Map<unknown, unknown> {
  const m = new CaseInsensitiveMap()
  if (headers === null || headers === undefined) return m
  for (const h of headers) {
    const name = (h.name ?? '').toLowerCase()
    const value = h.value ?? ''
    const prev = m.get(name)
    // Repeated header lines combine as RFC 9110 says a list-valued field does.
    m.set(name, prev === undefined ? value : `${prev as string}, ${value}`)
  }
  return m
}

function cookiesOf(
  headers: readonly Header[] | null | undefined,
  set: boolean
): Map<unknown, unknown> {
  const m = new CaseInsensitiveMap()
  for (const h of headers ?? []) {
    const name = (h.name ?? '').toLowerCase()
    if (name !== (set ? 'set-cookie' : 'cookie')) continue
    // Set-Cookie: one cookie per header, attributes after the first ';'. Cookie: many per header.
    const pairs = set ? [(h.value ?? '').split(';')[0] ?? ''] : (h.value ?? '').split(';')
    for (const pair of pairs) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const key = pair.slice(0, eq).trim().toLowerCase()
      if (key !== '' && !m.has(key)) m.set(key, pair.slice(eq + 1).trim())
    }
  }
  return m
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

function queryOf(url: string): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>()
  const q = url.indexOf('?')
  if (q < 0) return m
  const hash = url.indexOf('#', q)
  for (const part of url.slice(q + 1, hash < 0 ? undefined : hash).split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const key = decode(eq < 0 ? part : part.slice(0, eq))
    // First value wins for repeated keys, like Go's url.Values.Get.
    if (!m.has(key)) m.set(key, eq < 0 ? '' : decode(part.slice(eq + 1)))
  }
  return m
}

function labelsOf(ep: Endpoint | null | undefined): Map<unknown, unknown> {
  const labels = ep?.labels
  if (labels === null || labels === undefined) return EMPTY_MAP as Map<unknown, unknown>
  return new Map(Object.entries(labels))
}

function both(e: Entry, pick: (ep: Endpoint) => string | null | undefined): string[] {
  const out: string[] = []
  for (const ep of [e.src, e.dst]) {
    const v = ep === null || ep === undefined ? undefined : pick(ep)
    if (v !== undefined && v !== null && v !== '' && !out.includes(v)) out.push(v)
  }
  return out
}

function attrsOf(e: Entry): Map<string, Attr> {
  const d = derived(e)
  if (d.attrs === undefined) {
    d.attrs = new Map()
    for (const a of e.attrs ?? []) if (a.name) d.attrs.set(a.name, a)
  }
  return d.attrs
}

/** The attr's value if it has the catalogue's type, else undefined (so the default applies). */
function attrValue(a: Attr | undefined, t: KType): unknown {
  if (a === undefined) return undefined
  // Decoded protobuf messages say which oneof member is set; plain objects just carry one.
  const which = a.value
  const pick = (k: 'str' | 'num' | 'flag' | 'list'): boolean =>
    which === undefined ? a[k] !== null && a[k] !== undefined : which === k
  switch (t.k) {
    case 'string':
    case 'bytes':
      return pick('str') ? a.str : undefined
    case 'int':
    case 'double':
    case 'timestamp':
    case 'duration':
      return pick('num') ? a.num : undefined
    case 'bool':
      return pick('flag') ? a.flag : undefined
    case 'list':
      return pick('list') ? (a.list?.values ?? EMPTY_LIST) : undefined
    default:
      return undefined
  }
}

type EndpointKey = 'src' | 'dst'
const ep =
  (side: EndpointKey, f: (p: Endpoint) => unknown, dflt: unknown): Accessor =>
  (e) => {
    const p = e[side]
    if (p === null || p === undefined) return dflt
    return f(p) ?? dflt
  }

function sideAccessors(side: EndpointKey): Record<string, Accessor> {
  const ns = ep(side, (p) => p.ns, '')
  return {
    [`${side}.ip`]: ep(side, (p) => p.ip, ''),
    [`${side}.port`]: ep(side, (p) => p.port, 0),
    [`${side}.pod.name`]: ep(side, (p) => p.pod, ''),
    [`${side}.pod.namespace`]: ns,
    [`${side}.service.name`]: ep(side, (p) => p.svc, ''),
    [`${side}.service.namespace`]: ns,
    [`${side}.namespace`]: ns,
    [`${side}.name`]: ep(side, (p) => p.pod || p.svc, ''),
    [`${side}.node`]: ep(side, (p) => p.node, ''),
  }
}

const lazy =
  <K extends keyof Derived>(key: K, build: (e: Entry) => NonNullable<Derived[K]>): Accessor =>
  (e) => {
    const d = derived(e)
    return (d[key] ??= build(e))
  }

/** Variables backed by Entry fields; every other catalogue variable reads `entry.attrs`. */
const DIRECT: Record<string, Accessor> = {
  ...sideAccessors('src'),
  ...sideAccessors('dst'),
  method: (e) => e.method ?? '',
  path: (e) => e.path ?? '',
  url: (e) => e.url ?? '',
  status_code: (e) => e.status ?? 0,
  http_version: (e) => e.version ?? '',
  query_string: lazy('query', (e) => queryOf(e.url ?? '')),
  'request.headers': lazy('reqHeaders', (e) => headerMap(e.reqHeaders)),
  'response.headers': lazy('respHeaders', (e) => headerMap(e.respHeaders)),
  'request.cookies': lazy('reqCookies', (e) => cookiesOf(e.reqHeaders, false)),
  'response.cookies': lazy('respCookies', (e) => cookiesOf(e.respHeaders, true)),
  request_body_size: (e) => e.reqBodySize ?? 0,
  response_body_size: (e) => e.respBodySize ?? 0,
  request_headers_size: (e) => e.reqHeaderSize ?? 0,
  response_headers_size: (e) => e.respHeaderSize ?? 0,
  elapsed_time: (e) => Math.trunc(e.elapsedUs ?? 0),
  timestamp: (e) => e.ts ?? 0,
  node_name: (e) => e.node ?? '',
  node_id: (e) => e.node ?? '',
  node: (e) => new Map([['name', e.node ?? '']]),
  local_node_name: ep('src', (p) => p.node, ''),
  remote_node_name: ep('dst', (p) => p.node, ''),
  local_labels: lazy('localLabels', (e) => labelsOf(e.src)),
  remote_labels: lazy('remoteLabels', (e) => labelsOf(e.dst)),
  local_resolution_status: ep('src', (p) => p.resolutionStatus, ''),
  remote_resolution_status: ep('dst', (p) => p.resolutionStatus, ''),
  namespaces: lazy('namespaces', (e) => both(e, (p) => p.ns)),
  pods: lazy('pods', (e) => both(e, (p) => p.pod)),
  services: lazy('services', (e) => both(e, (p) => p.svc)),
  id: (e) => e.id ?? '',
  index: (e) => e.index ?? 0,
  flow_id: (e) => e.flowId ?? 0,
  conn_id: (e) => e.connId ?? 0,
  worker: (e) => e.worker ?? '',
  protocol: (e) => (e.proto ?? '').toUpperCase(),
  proto: (e) => e.proto ?? '',
}

/**
 * Which entry protocols each flag is true for. `http` covers every HTTP-carried call; `conn` and
 * `flow` cover their TCP and UDP variants.
 */
export const PROTOCOL_FLAGS: Readonly<Record<string, readonly string[]>> = {
  http: ['http', 'grpc', 'gql', 'gqlv1', 'gqlv2'],
  gql: ['gql', 'gqlv1', 'gqlv2'],
  conn: ['conn', 'tcp_conn', 'udp_conn'],
  flow: ['flow', 'tcp_flow', 'udp_flow'],
  ...Object.fromEntries(
    [
      'grpc',
      'gqlv1',
      'gqlv2',
      'ws',
      'dns',
      'tls',
      'tlsx',
      'tcp',
      'udp',
      'sctp',
      'icmp',
      'redis',
      'kafka',
      'amqp',
      'ldap',
      'radius',
      'diameter',
      'mongodb',
      'mysql',
      'postgresql',
      'tcp_conn',
      'udp_conn',
      'tcp_flow',
      'udp_flow',
    ].map((p) => [p, [p]])
  ),
}

function flagAccessor(protos: readonly string[]): Accessor {
  // A few string compares: protocol flags lead most filters, so they must stay cheap. Padding
  // with a value no protocol has keeps one code shape for one to five protocols.
  if (protos.length <= 5) {
    const [a, b, c, d, f] = [...protos, '\0', '\0', '\0', '\0', '\0']
    return (e) => {
      const p = e.proto
      return p === a || p === b || p === c || p === d || p === f
    }
  }
  const set = new Set(protos)
  return (e) => set.has(e.proto ?? '')
}

/**
 * `request.headers["x"]` and `"x" in request.headers` with a literal key: scanning the few header
 * lines directly is cheaper than building the entry's header map. Repeated lines join with ", ".
 */
export function headerLookup(
  name: string,
  key: string
): { value: Accessor; has: Accessor } | undefined {
  const side =
    name === 'request.headers'
      ? 'reqHeaders'
      : name === 'response.headers'
        ? 'respHeaders'
        : undefined
  if (side === undefined) return undefined
  const lower = key.toLowerCase()
  const matches = (n: string | null | undefined): boolean =>
    typeof n === 'string' && n.length === lower.length && (n === lower || sameLetters(n, lower))
  return {
    value: (e) => {
      const headers = e[side]
      if (headers === null || headers === undefined) return ''
      let out: string | undefined
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i]!
        if (matches(h.name)) out = out === undefined ? (h.value ?? '') : `${out}, ${h.value ?? ''}`
      }
      return out ?? ''
    },
    has: (e) => {
      const headers = e[side]
      if (headers === null || headers === undefined) return false
      for (let i = 0; i < headers.length; i++) if (matches(headers[i]!.name)) return true
      return false
    },
  }
}

/** ASCII case-insensitive equality of same-length strings, `lower` already lower case; no allocation. */
function sameLetters(s: string, lower: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const l = lower.charCodeAt(i)
    if (c !== l && !(c >= 65 && c <= 90 && c + 32 === l))
      return c > 127 ? s.toLowerCase() === lower : false
  }
  return true
}

/** The accessor of a catalogue variable of type `t`. */
export function accessor(name: string, t: KType): Accessor {
  const flag = PROTOCOL_FLAGS[name]
  if (flag !== undefined) return flagAccessor(flag)
  const direct = DIRECT[name]
  if (direct !== undefined) return direct
  const dflt = defaultValue(t)
  if (t.k === 'map') {
    // Attrs carry no maps; capture["source"] is assembled from its flat variables.
    if (name === 'capture') {
      return (e) => {
        const a = attrsOf(e)
        return new Map([
          ['source', attrValue(a.get('capture_source'), t.value) ?? ''],
          ['backend', attrValue(a.get('capture_backend'), t.value) ?? ''],
        ])
      }
    }
    return () => dflt
  }
  return (e) => attrValue(attrsOf(e).get(name), t) ?? dflt
}
