import { CoreV1Api, DiscoveryV1Api, ListWatch, Watch } from '@kubernetes/client-node'
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node'
import { IpHistory } from './ip-history.js'
import type { IpHistoryOptions, Resolution } from './ip-history.js'
import { ownerOf, slim, specsOf, startOf } from './k8s-objects.js'
import type { ResourceKind, SlimObject } from './k8s-objects.js'
import type { Resolver, ResolverStats, ResourceStats } from './resolver.js'

export interface KubernetesResolverOptions {
  kubeConfig: KubeConfig
  log: (msg: string) => void
  history?: IpHistoryOptions
  /** Items per list page (`limit`): a big cluster is listed in pages, not one huge response. */
  pageSize?: number
  /** Restart delays after a failed list or watch: exponential from `initialMs` to `maxMs`, jittered. */
  backoff?: { initialMs?: number; maxMs?: number }
  /** Watch `timeoutSeconds` is drawn from this range, so reconnections of many hubs spread out. */
  watchTimeoutSeconds?: readonly [number, number]
  /** How often closed records past retention are dropped. */
  pruneIntervalMs?: number
  random?: () => number
}

interface ListPage {
  items: unknown[]
  metadata?: { resourceVersion?: string; _continue?: string }
}

type PageFn = (limit: number, cont: string | undefined) => Promise<ListPage>

const PATHS: Record<ResourceKind, string> = {
  pods: '/api/v1/pods',
  services: '/api/v1/services',
  endpointslices: '/apis/discovery.k8s.io/v1/endpointslices',
  nodes: '/api/v1/nodes',
}

const statusCode = (e: unknown): number | undefined => {
  const o = e as { code?: unknown; statusCode?: unknown } | null
  const c = o?.code ?? o?.statusCode
  return typeof c === 'number' ? c : undefined
}

const describe = (e: unknown): string => {
  const code = statusCode(e)
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
  return code !== undefined ? `HTTP ${code}: ${msg}` : (msg ?? 'unknown error')
}

/**
 * The library's Watch, with what client-go's reflector asks and ListWatch does not: bookmarks
 * (a quiet resource still learns the current resourceVersion, so a reconnect rarely lands on a
 * compacted one and relists) and a server-side timeout (a half-dead connection is replaced).
 * Every event is trimmed before the informer caches it.
 */
class ResolverWatch extends Watch {
  readonly #rw: ResourceWatch

  constructor(kc: KubeConfig, rw: ResourceWatch) {
    super(kc)
    this.#rw = rw
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void
  ): Promise<AbortController> {
    // ListWatch calls watch() right after applying a list: the cache is complete from here on.
    this.#rw.onWatchStart()
    const params = {
      ...queryParams,
      allowWatchBookmarks: true,
      timeoutSeconds: this.#rw.watchTimeout(),
    }
    return super.watch(
      path,
      params,
      (phase, obj, watchObj) => {
        this.#rw.onEvent()
        const ours = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED'
        callback(phase, ours ? slim(this.#rw.kind, obj) : obj, watchObj)
      },
      done
    )
  }
}

interface WatchOpts {
  pageSize: number
  watchTimeoutSeconds: readonly [number, number]
  random: () => number
  log: (m: string) => void
  initialMs: number
  maxMs: number
}

/** One informer (list, then watch; relist on 410; restart with backoff on errors). */
class ResourceWatch {
  readonly kind: ResourceKind
  readonly stats: ResourceStats = { synced: false, lists: 0, watches: 0, events: 0, errors: 0 }
  readonly #informer: ListWatch<KubernetesObject>
  readonly #page: PageFn
  readonly #opts: WatchOpts
  #attempt = 0
  #timer: NodeJS.Timeout | undefined
  #stopped = true

  constructor(
    kind: ResourceKind,
    kc: KubeConfig,
    page: PageFn,
    history: IpHistory,
    opts: WatchOpts
  ) {
    this.kind = kind
    this.#page = page
    this.#opts = opts
    this.#informer = new ListWatch<KubernetesObject>(
      PATHS[kind],
      new ResolverWatch(kc, this),
      () => this.#list(),
      false
    )
    const upsert = (o: KubernetesObject): void => {
      const s = o as unknown as SlimObject
      history.set(ownerOf(kind, s), specsOf(kind, s), startOf(s))
    }
    this.#informer.on('add', upsert)
    this.#informer.on('update', upsert)
    this.#informer.on('delete', (o) => history.remove(ownerOf(kind, o as unknown as SlimObject)))
    this.#informer.on('error', (e) => this.#onError(e))
  }

  start(): void {
    this.#stopped = false
    void this.#informer.start()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#informer.stop()
  }

  onWatchStart(): void {
    this.stats.synced = true
    this.stats.watches++
  }

  onEvent(): void {
    this.stats.events++
    // A watch that delivers is healthy: the next failure starts the backoff from the beginning.
    this.#attempt = 0
  }

  watchTimeout(): number {
    const [lo, hi] = this.#opts.watchTimeoutSeconds
    return Math.round(lo + this.#opts.random() * (hi - lo))
  }

  /** Lists in pages of one consistent snapshot; an expired continue token restarts the list. */
  async #list(): Promise<KubernetesListObject<KubernetesObject>> {
    for (let restart = 0; ; restart++) {
      this.stats.lists++
      const items: KubernetesObject[] = []
      let rv = ''
      let cont: string | undefined
      try {
        do {
          const page = await this.#page(this.#opts.pageSize, cont)
          if (cont === undefined) rv = page.metadata?.resourceVersion ?? ''
          for (const o of page.items) items.push(slim(this.kind, o) as unknown as KubernetesObject)
          cont = page.metadata?._continue || undefined
        } while (cont !== undefined)
      } catch (e) {
        if (statusCode(e) === 410 && cont !== undefined && restart < 3) continue
        throw e
      }
      return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: rv }, items }
    }
  }

  #onError(e: unknown): void {
    // Stopping aborts the watch, which the library reports as an error too.
    if (this.#stopped) return
    this.stats.errors++
    const exp = Math.min(this.#opts.maxMs, this.#opts.initialMs * 2 ** Math.min(this.#attempt, 30))
    // Equal jitter: never zero, never in lock-step with other hubs after an API server restart.
    const delay = Math.round(exp / 2 + (this.#opts.random() * exp) / 2)
    this.#attempt++
    this.#opts.log(`k8s ${this.kind}: ${describe(e)}; retrying in ${delay} ms`)
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (!this.#stopped) void this.#informer.start()
    }, delay)
  }
}

/**
 * The cluster's IP → workload table, kept by four informers (pods, services, EndpointSlices,
 * nodes) over `@kubernetes/client-node`. One per hub, which is one per cluster.
 */
export class KubernetesResolver implements Resolver {
  readonly kind = 'kubernetes' as const
  readonly history: IpHistory
  readonly #watches: ResourceWatch[]
  readonly #log: (msg: string) => void
  readonly #pruneMs: number
  #pruneTimer: NodeJS.Timeout | undefined

  constructor(opts: KubernetesResolverOptions) {
    this.history = new IpHistory(opts.history)
    this.#log = opts.log
    this.#pruneMs = opts.pruneIntervalMs ?? 60_000
    const kc = opts.kubeConfig
    const core = kc.makeApiClient(CoreV1Api)
    const discovery = kc.makeApiClient(DiscoveryV1Api)
    const c = (cont: string | undefined): { _continue?: string } =>
      cont !== undefined ? { _continue: cont } : {}
    const pages: Record<ResourceKind, PageFn> = {
      pods: (limit, cont) => core.listPodForAllNamespaces({ limit, ...c(cont) }),
      services: (limit, cont) => core.listServiceForAllNamespaces({ limit, ...c(cont) }),
      endpointslices: (limit, cont) =>
        discovery.listEndpointSliceForAllNamespaces({ limit, ...c(cont) }),
      nodes: (limit, cont) => core.listNode({ limit, ...c(cont) }),
    }
    const wopts: WatchOpts = {
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? [300, 600],
      random: opts.random ?? Math.random,
      log: opts.log,
      initialMs: opts.backoff?.initialMs ?? 500,
      maxMs: opts.backoff?.maxMs ?? 30_000,
    }
    this.#watches = (Object.keys(PATHS) as ResourceKind[]).map(
      (k) => new ResourceWatch(k, kc, pages[k], this.history, wopts)
    )
  }

  get ready(): boolean {
    return this.#watches.every((w) => w.stats.synced)
  }

  start(): Promise<void> {
    for (const w of this.#watches) w.start()
    this.#pruneTimer = setInterval(() => this.history.prune(), this.#pruneMs)
    this.#pruneTimer.unref()
    this.#log(`k8s resolver: watching ${this.#watches.map((w) => w.kind).join(', ')}`)
    return Promise.resolve()
  }

  async stop(): Promise<void> {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer)
    this.#pruneTimer = undefined
    await Promise.all(this.#watches.map((w) => w.stop()))
  }

  resolve(ip: string, port: number, tsMs: number): Resolution {
    const r = this.history.resolve(ip, port, tsMs)
    // Before the first lists complete, "not found" means "not known yet".
    return r.status === 'unresolved' && !this.ready ? { ...r, status: 'not_synced' } : r
  }

  stats(): ResolverStats {
    return {
      kind: this.kind,
      ready: this.ready,
      history: this.history.stats,
      resources: Object.fromEntries(this.#watches.map((w) => [w.kind, { ...w.stats }])),
    }
  }
}
