import type { IpHistory, IpHistoryStats, Resolution } from './ip-history.js'

/** Where the hub's IP → workload answers come from. */
export type ResolverKind = 'kubernetes' | 'static' | 'none'

export interface ResourceStats {
  synced: boolean
  lists: number
  watches: number
  events: number
  errors: number
}

export interface ResolverStats {
  kind: ResolverKind
  ready: boolean
  history: IpHistoryStats
  /** Per watched resource (Kubernetes only). */
  resources: Record<string, ResourceStats>
}

/**
 * Turns an IP (and port) into the pod, service, namespace, node and labels that held it at a time.
 * One per hub (one per cluster): never one per node, whose watch storms can take an API server down.
 */
export interface Resolver {
  readonly kind: ResolverKind
  /** True once answers come from a complete table (the initial lists are done). */
  readonly ready: boolean
  /** The time-aware table; routes and snapshots read it. */
  readonly history: IpHistory
  start(): Promise<void>
  stop(): Promise<void>
  resolve(ip: string, port: number, tsMs: number): Resolution
  stats(): ResolverStats
}
