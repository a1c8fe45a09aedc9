import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/**
 * A test Kubernetes API server that speaks the real list/watch HTTP protocol, so that the real
 * `@kubernetes/client-node` informers run against it unmodified:
 *
 * - LIST `GET /api/v1/pods`, `/api/v1/namespaces/{ns}/pods` (and services, nodes, namespaces,
 *   `/apis/discovery.k8s.io/v1/[namespaces/{ns}/]endpointslices`): `{kind: PodList, metadata:
 *   {resourceVersion, continue, remainingItemCount}, items}`; `limit`/`continue` paging serves the
 *   pages of one consistent snapshot, and an expired continue token (after compaction) is a 410.
 * - WATCH `?watch=true&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=S`: a chunked
 *   response of newline-delimited JSON events (ADDED/MODIFIED/DELETED/BOOKMARK). A resourceVersion
 *   older than the compaction point gets HTTP 200 and then an ERROR event holding a Status with
 *   code 410 (reason Expired), exactly as kube-apiserver answers; no resourceVersion (or "0") gets
 *   synthetic ADDED events for the current state first.
 * - one monotonic resourceVersion across all resources (etcd's revision), a bearer token checked on
 *   every request, label and simple field selectors.
 *
 * The test API mutates objects, compacts, sends bookmarks, ends, drops or holds watch connections,
 * and injects HTTP errors. Loopback only.
 */

export type K8sResource = 'pods' | 'services' | 'endpointslices' | 'nodes' | 'namespaces'

export interface K8sObject {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string
    namespace?: string
    uid?: string
    resourceVersion?: string
    creationTimestamp?: string
    labels?: Record<string, string>
    [k: string]: unknown
  }
  [k: string]: unknown
}

interface ResourceInfo {
  /** `/api/v1` or `/apis/<group>/<version>`. */
  prefix: string
  apiVersion: string
  kind: string
  namespaced: boolean
}

const RESOURCES: Record<K8sResource, ResourceInfo> = {
  pods: { prefix: '/api/v1', apiVersion: 'v1', kind: 'Pod', namespaced: true },
  services: { prefix: '/api/v1', apiVersion: 'v1', kind: 'Service', namespaced: true },
  nodes: { prefix: '/api/v1', apiVersion: 'v1', kind: 'Node', namespaced: false },
  namespaces: { prefix: '/api/v1', apiVersion: 'v1', kind: 'Namespace', namespaced: false },
  endpointslices: {
    prefix: '/apis/discovery.k8s.io/v1',
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    namespaced: true,
  },
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

interface LoggedEvent {
  rv: number
  resource: K8sResource
  type: EventType
  object: K8sObject
}

interface Selector {
  labels: ((l: Record<string, string>) => boolean)[]
  fields: ((o: K8sObject) => boolean)[]
}

interface Watcher {
  resource: K8sResource
  namespace: string | undefined
  selector: Selector
  bookmarks: boolean
  res: ServerResponse
  socket: Socket
  timer: NodeJS.Timeout | undefined
  queue: string[]
  draining: boolean
  ending: boolean
}

/** A request the server saw, for assertions ("one watch per resource", "relisted after 410"). */
export interface K8sRequestRecord {
  verb: 'list' | 'watch' | 'get' | 'other'
  resource: K8sResource | undefined
  namespace: string | undefined
  query: Record<string, string>
  status: number
}

export interface K8sApiServerOptions {
  /** The bearer token every request must carry (default: a fixed test token). */
  token?: string
  /** Starting resourceVersion (default 1000: clients must not assume small numbers). */
  initialResourceVersion?: number
  /**
   * Split every watch event across two writes, mid-JSON, so a client that does not buffer lines
   * across chunks fails (the real server's chunks are not aligned to events either).
   */
  fragmentEvents?: boolean
}

/** What `@kubernetes/client-node`'s `KubeConfig.loadFromOptions` takes. */
export interface KubeConfigOptions {
  clusters: { name: string; server: string; skipTLSVerify: boolean }[]
  users: { name: string; token: string }[]
  contexts: { name: string; cluster: string; user: string }[]
  currentContext: string
}

export interface K8sApiServerHandle {
  readonly url: string
  readonly port: number
  /** For `new KubeConfig().loadFromOptions(...)`. */
  readonly kubeConfigOptions: KubeConfigOptions
  /** The same as a kubeconfig file's text. */
  kubeconfigYaml(): string
  /** Writes the kubeconfig to `path` (for a `--kubeconfig` flag). */
  writeKubeconfig(path: string): void
  readonly resourceVersion: number
  readonly requests: readonly K8sRequestRecord[]
  /** Watch connections open now, optionally of one resource. */
  openWatches(resource?: K8sResource): number
  /** Creates an object (resourceVersion, uid and creationTimestamp filled in); emits ADDED. */
  add(resource: K8sResource, obj: K8sObject): K8sObject
  /** Replaces an existing object; emits MODIFIED. */
  update(resource: K8sResource, obj: K8sObject): K8sObject
  /** Deletes an object; emits DELETED with the deletion's resourceVersion. Returns it or undefined. */
  remove(resource: K8sResource, namespace: string | undefined, name: string): K8sObject | undefined
  get(resource: K8sResource, namespace: string | undefined, name: string): K8sObject | undefined
  list(resource: K8sResource): K8sObject[]
  /** Forgets the history up to the current resourceVersion: older watches and continue tokens get 410. */
  compact(): void
  /** Sends a BOOKMARK at the current resourceVersion on every watch that allowed bookmarks. */
  bookmark(): void
  /** Ends every watch response cleanly, as a `timeoutSeconds` expiry does. */
  endWatches(): void
  /** Destroys every watch connection's socket (a network failure or an API server restart). */
  dropWatches(): void
  /** Sends ERROR 410 on every open watch and ends it (the watcher fell out of the watch window). */
  expireWatches(): void
  /** New watch requests wait (no response headers) until `resumeWatches()`. */
  pauseWatches(): void
  resumeWatches(): void
  /** The next `count` requests (list or watch; of one resource if given) fail with `status`. */
  failRequests(count: number, status: number, resource?: K8sResource): void
  close(): Promise<void>
}

const RV_PARAM_TOO_OLD = (requested: number, oldest: number): string =>
  `too old resource version: ${requested} (${oldest})`

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
}

/** `app=web,tier!=db,env in (a,b)`-lite: equality, inequality and existence, as most callers use. */
function parseLabelSelector(s: string): Selector['labels'] {
  const out: Selector['labels'] = []
  for (const raw of s.split(',')) {
    const term = raw.trim()
    if (term === '') continue
    const ne = /^([^!=]+)!=(.*)$/.exec(term)
    const eq = /^([^!=]+)==?(.*)$/.exec(term)
    if (ne) out.push((l) => l[ne[1]!.trim()] !== ne[2]!.trim())
    else if (eq) out.push((l) => l[eq[1]!.trim()] === eq[2]!.trim())
    else if (term.startsWith('!')) out.push((l) => !(term.slice(1) in l))
    else out.push((l) => term in l)
  }
  return out
}

function fieldValue(o: K8sObject, path: string): unknown {
  let cur: unknown = o
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function parseFieldSelector(s: string): Selector['fields'] {
  const out: Selector['fields'] = []
  for (const raw of s.split(',')) {
    const term = raw.trim()
    if (term === '') continue
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term)
    if (!m) continue
    const [, path, op, value] = m as unknown as [string, string, string, string]
    out.push((o) => {
      const v = fieldValue(o, path)
      const s =
        typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : ''
      return op === '!=' ? s !== value : s === value
    })
  }
  return out
}

const clone = <T>(v: T): T => structuredClone(v)
const keyOf = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`

/** Parses the request path into resource, namespace and (optional) object name. */
function route(
  path: string
): { resource: K8sResource; namespace?: string; name?: string } | undefined {
  for (const [resource, info] of Object.entries(RESOURCES) as [K8sResource, ResourceInfo][]) {
    if (!path.startsWith(info.prefix + '/')) continue
    const parts = path
      .slice(info.prefix.length + 1)
      .split('/')
      .filter(Boolean)
    if (info.namespaced) {
      if (parts.length === 1 && parts[0] === resource) return { resource }
      if (
        parts.length >= 3 &&
        parts.length <= 4 &&
        parts[0] === 'namespaces' &&
        parts[2] === resource
      ) {
        return {
          resource,
          namespace: decodeURIComponent(parts[1]!),
          ...(parts[3] ? { name: decodeURIComponent(parts[3]) } : {}),
        }
      }
    } else if (parts[0] === resource && parts.length <= 2) {
      return { resource, ...(parts[1] ? { name: decodeURIComponent(parts[1]) } : {}) }
    }
  }
  return undefined
}

export async function startK8sApiServer(
  opts: K8sApiServerOptions = {}
): Promise<K8sApiServerHandle> {
  const token = opts.token ?? 'tapwire-test-token'
  let rv = opts.initialResourceVersion ?? 1000
  /** Watches from a resourceVersion below this get 410; pages of older lists too. */
  let compactedRv = 0
  const objects = new Map<K8sResource, Map<string, K8sObject>>()
  for (const r of Object.keys(RESOURCES) as K8sResource[]) objects.set(r, new Map())
  const log: LoggedEvent[] = []
  const watchers = new Set<Watcher>()
  const held: (() => void)[] = []
  let paused = false
  const sockets = new Set<Socket>()
  /** Consistent list snapshots for `continue` tokens, by token id. */
  const pagers = new Map<string, { rv: number; items: K8sObject[] }>()
  const requests: K8sRequestRecord[] = []
  const failures: { left: number; status: number; resource: K8sResource | undefined }[] = []

  const store = (r: K8sResource): Map<string, K8sObject> => objects.get(r)!

  const withKind = (r: K8sResource, o: K8sObject): K8sObject => ({
    apiVersion: RESOURCES[r].apiVersion,
    kind: RESOURCES[r].kind,
    ...o,
  })

  const matches = (
    w: { resource: K8sResource; namespace: string | undefined; selector: Selector },
    r: K8sResource,
    o: K8sObject
  ): boolean =>
    w.resource === r &&
    (w.namespace === undefined || o.metadata.namespace === w.namespace) &&
    w.selector.labels.every((f) => f(o.metadata.labels ?? {})) &&
    w.selector.fields.every((f) => f(o))

  /** Writes go through a per-watch queue so that fragments of consecutive events never interleave. */
  const drain = (w: Watcher): void => {
    w.draining = true
    setImmediate(() => {
      const piece = w.queue.shift()
      const alive = !w.res.writableEnded && !w.res.destroyed
      if (piece !== undefined && alive) w.res.write(piece)
      if (w.queue.length > 0) return drain(w)
      w.draining = false
      if (w.ending && alive) w.res.end()
    })
  }

  const send = (w: Watcher, event: Record<string, unknown>): void => {
    if (w.res.writableEnded || w.res.destroyed || w.ending) return
    const line = JSON.stringify(event) + '\n'
    if (!opts.fragmentEvents) {
      w.res.write(line)
      return
    }
    const cut = Math.floor(line.length / 2)
    w.queue.push(line.slice(0, cut), line.slice(cut))
    if (!w.draining) drain(w)
  }

  const endWatch = (w: Watcher): void => {
    watchers.delete(w)
    if (w.timer) clearTimeout(w.timer)
    if (w.draining) w.ending = true
    else if (!w.res.writableEnded) w.res.end()
  }

  const emit = (resource: K8sResource, type: EventType, obj: K8sObject): void => {
    const ev: LoggedEvent = { rv, resource, type, object: withKind(resource, clone(obj)) }
    log.push(ev)
    for (const w of watchers) if (matches(w, resource, obj)) send(w, { type, object: ev.object })
  }

  const sendJson = (res: ServerResponse, code: number, body: unknown): void => {
    const text = JSON.stringify(body)
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    })
    res.end(text)
  }

  const fail = (res: ServerResponse, code: number, message: string): number => {
    sendJson(res, code, status(code, REASONS[code] ?? 'InternalError', message))
    return code
  }

  const sortedItems = (
    resource: K8sResource,
    namespace: string | undefined,
    selector: Selector
  ): K8sObject[] =>
    [...store(resource).entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o)
      .filter((o) => matches({ resource, namespace, selector }, resource, o))
      .map(clone)

  const handleList = (
    res: ServerResponse,
    resource: K8sResource,
    namespace: string | undefined,
    q: URLSearchParams,
    selector: Selector
  ): number => {
    const limit = Number(q.get('limit') ?? '0')
    const cont = q.get('continue') ?? ''
    let snapshot: { rv: number; items: K8sObject[] }
    let offset = 0
    let id: string
    if (cont !== '') {
      let parsed: { id?: string; offset?: number } = {}
      try {
        parsed = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as typeof parsed
      } catch {
        return fail(res, 400, 'continue key is not valid: illegal base64 data')
      }
      const found = parsed.id !== undefined ? pagers.get(parsed.id) : undefined
      if (!found || found.rv < compactedRv) {
        return fail(
          res,
          410,
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'
        )
      }
      snapshot = found
      offset = parsed.offset ?? 0
      id = parsed.id!
    } else {
      snapshot = { rv, items: sortedItems(resource, namespace, selector) }
      id = randomUUID()
    }
    const page =
      limit > 0 ? snapshot.items.slice(offset, offset + limit) : snapshot.items.slice(offset)
    const next = offset + page.length
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) }
    if (limit > 0 && next < snapshot.items.length) {
      pagers.set(id, snapshot)
      metadata.continue = Buffer.from(JSON.stringify({ id, offset: next })).toString('base64')
      metadata.remainingItemCount = snapshot.items.length - next
    } else {
      pagers.delete(id)
    }
    const info = RESOURCES[resource]
    sendJson(res, 200, {
      kind: `${info.kind}List`,
      apiVersion: info.apiVersion,
      metadata,
      items: page,
    })
    return 200
  }

  const startWatch = (
    req: IncomingMessage,
    res: ServerResponse,
    resource: K8sResource,
    namespace: string | undefined,
    q: URLSearchParams,
    selector: Selector
  ): void => {
    // The client may have given up while the request was held (pauseWatches).
    if (res.destroyed || req.socket.destroyed) return
    const rvParam = q.get('resourceVersion') ?? ''
    const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam)
    if (from !== undefined && !Number.isSafeInteger(from)) {
      fail(res, 400, `resourceVersion: Invalid value: "${rvParam}"`)
      return
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' })
    res.flushHeaders()
    const w: Watcher = {
      resource,
      namespace,
      selector,
      bookmarks: q.get('allowWatchBookmarks') === 'true',
      res,
      socket: req.socket,
      timer: undefined,
      queue: [],
      draining: false,
      ending: false,
    }
    if (from !== undefined && from < compactedRv) {
      // kube-apiserver answers an expired watch with 200 and one ERROR event, then ends the stream.
      send(w, {
        type: 'ERROR',
        object: status(410, 'Expired', RV_PARAM_TOO_OLD(from, compactedRv)),
      })
      endWatch(w)
      return
    }
    watchers.add(w)
    if (from === undefined) {
      for (const o of sortedItems(resource, namespace, selector))
        send(w, { type: 'ADDED', object: withKind(resource, o) })
    } else {
      for (const ev of log)
        if (ev.rv > from && matches(w, ev.resource, ev.object))
          send(w, { type: ev.type, object: ev.object })
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '0')
    if (timeout > 0) w.timer = setTimeout(() => endWatch(w), timeout * 1000)
    res.on('close', () => {
      watchers.delete(w)
      if (w.timer) clearTimeout(w.timer)
    })
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const q = url.searchParams
    const r = route(url.pathname)
    const query = Object.fromEntries(q.entries())
    const watch = q.get('watch') === 'true' || q.get('watch') === '1'
    const verb: K8sRequestRecord['verb'] = !r
      ? 'other'
      : r.name !== undefined
        ? 'get'
        : watch
          ? 'watch'
          : 'list'
    const record: K8sRequestRecord = {
      verb,
      resource: r?.resource,
      namespace: r?.namespace,
      query,
      status: 200,
    }
    requests.push(record)
    if (requests.length > 10_000) requests.splice(0, 5_000)

    if ((req.headers.authorization ?? '') !== `Bearer ${token}`) {
      record.status = fail(res, 401, 'Unauthorized')
      return
    }
    if (req.method !== 'GET') {
      record.status = fail(
        res,
        405,
        `the server does not allow this method on the requested resource`
      )
      return
    }
    if (!r) {
      record.status = fail(res, 404, 'the server could not find the requested resource')
      return
    }
    const failure = failures.find(
      (f) => f.left > 0 && (f.resource === undefined || f.resource === r.resource)
    )
    if (failure) {
      failure.left--
      record.status = fail(res, failure.status, 'injected failure')
      return
    }
    const selector: Selector = {
      labels: parseLabelSelector(q.get('labelSelector') ?? ''),
      fields: parseFieldSelector(q.get('fieldSelector') ?? ''),
    }
    if (r.name !== undefined) {
      const o = store(r.resource).get(keyOf(r.namespace, r.name))
      if (!o) record.status = fail(res, 404, `${r.resource} "${r.name}" not found`)
      else sendJson(res, 200, withKind(r.resource, o))
      return
    }
    if (!watch) {
      record.status = handleList(res, r.resource, r.namespace, q, selector)
      return
    }
    const go = (): void => startWatch(req, res, r.resource, r.namespace, q, selector)
    if (paused) held.push(go)
    else go()
  }

  const server: Server = createServer(handle)
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string')
    throw new Error('k8s test server has no port')
  const port = address.port
  const url = `http://127.0.0.1:${port}`
  const kubeConfigOptions: KubeConfigOptions = {
    clusters: [{ name: 'tapwire-test', server: url, skipTLSVerify: true }],
    users: [{ name: 'tapwire-test', token }],
    contexts: [{ name: 'tapwire-test', cluster: 'tapwire-test', user: 'tapwire-test' }],
    currentContext: 'tapwire-test',
  }
  const kubeconfigYaml = (): string =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: tapwire-test',
      '  cluster:',
      `    server: ${url}`,
      // The client library refuses plain HTTP unless TLS verification is (nominally) off.
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: tapwire-test',
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: tapwire-test',
      '  context:',
      '    cluster: tapwire-test',
      '    user: tapwire-test',
      'current-context: tapwire-test',
      '',
    ].join('\n')

  const prepare = (
    resource: K8sResource,
    obj: K8sObject,
    prev: K8sObject | undefined
  ): K8sObject => {
    const o = clone(obj)
    if (RESOURCES[resource].namespaced) o.metadata.namespace ??= 'default'
    else delete o.metadata.namespace
    rv++
    o.metadata.resourceVersion = String(rv)
    o.metadata.uid = prev?.metadata.uid ?? o.metadata.uid ?? randomUUID()
    o.metadata.creationTimestamp =
      prev?.metadata.creationTimestamp ??
      o.metadata.creationTimestamp ??
      new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    delete o.kind
    delete o.apiVersion
    return o
  }

  return {
    url,
    port,
    kubeConfigOptions,
    kubeconfigYaml,
    writeKubeconfig: (path) => writeFileSync(path, kubeconfigYaml()),
    get resourceVersion() {
      return rv
    },
    requests,
    openWatches: (resource) =>
      [...watchers].filter((w) => resource === undefined || w.resource === resource).length,
    add(resource, obj) {
      const key = keyOf(
        RESOURCES[resource].namespaced ? (obj.metadata.namespace ?? 'default') : undefined,
        obj.metadata.name
      )
      if (store(resource).has(key)) throw new Error(`${resource} ${key} already exists`)
      const o = prepare(resource, obj, undefined)
      store(resource).set(key, o)
      emit(resource, 'ADDED', o)
      return clone(o)
    },
    update(resource, obj) {
      const key = keyOf(
        RESOURCES[resource].namespaced ? (obj.metadata.namespace ?? 'default') : undefined,
        obj.metadata.name
      )
      const prev = store(resource).get(key)
      if (!prev) throw new Error(`${resource} ${key} does not exist`)
      const o = prepare(resource, obj, prev)
      store(resource).set(key, o)
      emit(resource, 'MODIFIED', o)
      return clone(o)
    },
    remove(resource, namespace, name) {
      const key = keyOf(RESOURCES[resource].namespaced ? (namespace ?? 'default') : undefined, name)
      const prev = store(resource).get(key)
      if (!prev) return undefined
      store(resource).delete(key)
      rv++
      const o = clone(prev)
      o.metadata.resourceVersion = String(rv)
      emit(resource, 'DELETED', o)
      return clone(o)
    },
    get: (resource, namespace, name) => {
      const o = store(resource).get(
        keyOf(RESOURCES[resource].namespaced ? (namespace ?? 'default') : undefined, name)
      )
      return o ? clone(o) : undefined
    },
    list: (resource) => [...store(resource).values()].map(clone),
    compact() {
      compactedRv = rv
      log.length = 0
      for (const [id, p] of pagers) if (p.rv < compactedRv) pagers.delete(id)
    },
    bookmark() {
      for (const w of watchers) {
        if (!w.bookmarks) continue
        const info = RESOURCES[w.resource]
        send(w, {
          type: 'BOOKMARK',
          object: {
            kind: info.kind,
            apiVersion: info.apiVersion,
            metadata: { resourceVersion: String(rv) },
          },
        })
      }
    },
    endWatches() {
      for (const w of [...watchers]) endWatch(w)
    },
    dropWatches() {
      for (const w of [...watchers]) {
        watchers.delete(w)
        if (w.timer) clearTimeout(w.timer)
        w.socket.destroy()
      }
    },
    expireWatches() {
      for (const w of [...watchers]) {
        send(w, { type: 'ERROR', object: status(410, 'Expired', RV_PARAM_TOO_OLD(Number(rv), rv)) })
        endWatch(w)
      }
    },
    pauseWatches() {
      paused = true
    },
    resumeWatches() {
      paused = false
      for (const go of held.splice(0)) go()
    },
    failRequests(count, code, resource) {
      failures.push({ left: count, status: code, resource })
    },
    async close() {
      paused = false
      held.length = 0
      for (const w of [...watchers]) {
        if (w.timer) clearTimeout(w.timer)
      }
      watchers.clear()
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
