/**
 * The hub's Kubernetes resolver: IPs (and ports) → pod, service, namespace, node and labels, as of
 * a time. One per hub (one per cluster); entries are enriched at ingest.
 */
import { KubeConfig } from '@kubernetes/client-node'
import type { IpHistoryOptions, SerializedRecord } from './ip-history.js'
import { IpHistory } from './ip-history.js'
import { KubernetesResolver } from './k8s-resolver.js'
import type { Resolver } from './resolver.js'
import { StaticResolver, nullResolver } from './static-resolver.js'

export { IpHistory, DEFAULT_MAX_RECORDS, DEFAULT_RETENTION_MS } from './ip-history.js'
export type {
  IpHistoryOptions,
  IpHistoryStats,
  IpRecord,
  RecordSpec,
  Resolution,
  ResolutionStatus,
  SerializedRecord,
} from './ip-history.js'
export { KubernetesResolver } from './k8s-resolver.js'
export type { KubernetesResolverOptions } from './k8s-resolver.js'
export {
  StaticResolver,
  StaticMappingError,
  nullResolver,
  parseStaticMappings,
} from './static-resolver.js'
export type { StaticMapping } from './static-resolver.js'
export type { Resolver, ResolverKind, ResolverStats, ResourceStats } from './resolver.js'
export { enrichEntry } from './enrich.js'
export { RESOLVE_ROUTES, IPS_PARAMS, WORKLOADS_PARAMS, mountResolve } from './routes.js'
export type { ResolveDeps } from './routes.js'

export interface CreateResolverOptions {
  /** A kubeconfig file (the `--kubeconfig` flag / KUBECONFIG). */
  kubeconfig?: string | undefined
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST is set when running in a cluster). */
  inCluster?: boolean | undefined
  /** A static mapping file (JSON), for running without Kubernetes; wins over the others. */
  staticFile?: string | undefined
  /** Already-built options for `KubeConfig.loadFromOptions` (tests). */
  kubeConfigOptions?: object | undefined
  history?: IpHistoryOptions | undefined
  log: (msg: string) => void
}

/**
 * Picks the resolver: a static mapping file, else Kubernetes (kubeconfig file, options, or
 * in-cluster), else the null resolver (entries carry `resolution_status: no_resolver`).
 */
export function createResolver(opts: CreateResolverOptions): Resolver {
  if (opts.staticFile) {
    const r = StaticResolver.fromFile(opts.staticFile)
    opts.log(`resolver: static mapping ${opts.staticFile} (${r.history.stats.records} records)`)
    return r
  }
  const kc = new KubeConfig()
  if (opts.kubeConfigOptions) kc.loadFromOptions(opts.kubeConfigOptions)
  else if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig)
  else if (opts.inCluster) kc.loadFromCluster()
  else {
    opts.log('resolver: no Kubernetes configuration and no static mapping; IPs stay unresolved')
    return nullResolver()
  }
  opts.log(`resolver: Kubernetes API ${kc.getCurrentCluster()?.server ?? '(unknown)'}`)
  return new KubernetesResolver({
    kubeConfig: kc,
    log: opts.log,
    ...(opts.history ? { history: opts.history } : {}),
  })
}

/**
 * Waits (bounded) until the resolver's first lists are done, so that entries replayed from the
 * stream at hub start are not all enriched as `not_synced`. Resolves false on timeout.
 */
export async function waitForResolver(resolver: Resolver, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!resolver.ready) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/**
 * A resolver over a stored table (a snapshot's resolution.json): answers as the cluster was in
 * that window. Nothing in it expires.
 */
export function historyResolver(records: readonly SerializedRecord[]): Resolver {
  const history = new IpHistory({ retentionMs: Number.POSITIVE_INFINITY })
  history.load(records)
  return {
    kind: 'static',
    ready: true,
    history,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    resolve: (ip, port, tsMs) => history.resolve(ip, port, tsMs),
    stats: () => ({ kind: 'static', ready: true, history: history.stats, resources: {} }),
  }
}
