import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { connect } from 'nats'
import type { NatsConnection } from 'nats'
import { CONTROL_BUCKET, renderMetrics } from '@tapwire/wire'
import { NatsAgentGateway } from './agents/agent-gateway.js'
import { KvDissectionControl } from './control/dissection-control.js'
import { createApp } from './app.js'
import { createResolver, waitForResolver } from './resolver/index.js'
import type { Resolver } from './resolver/index.js'
import { TokenSet } from './auth/tokens.js'
import type { AppDeps } from './app.js'
import type { CallFilter } from './routes/calls.js'
import type { HubConfig } from './config.js'
import { EntryIngest } from './ingest/entry-ingest.js'
import { NodeRegistry } from './nodes/node-registry.js'
import { EntryStore } from './store/entry-store.js'
import { join } from 'node:path'
import { DissectionManager } from './dissections/dissection-manager.js'
import { SnapshotManager } from './snapshots/snapshot-manager.js'
import { natsSliceTransport } from './snapshots/transfer.js'
import type { SliceTransport } from './snapshots/transfer.js'

export type Log = (msg: string) => void

/** The hub process: NATS ingest into the store, and the HTTP server over both. */
export class Hub {
  readonly config: HubConfig
  readonly store: EntryStore
  readonly registry = new NodeRegistry()
  readonly tokens: TokenSet
  readonly resolver: Resolver
  readonly #log: Log
  readonly #compileFilter: (kfl: string) => CallFilter | undefined
  #nc: NatsConnection | undefined
  #ingest: EntryIngest | undefined
  #server: ServerType | undefined
  #transport: SliceTransport | undefined
  readonly snapshots: SnapshotManager
  readonly dissections: DissectionManager

  constructor(config: HubConfig, log: Log, compileFilter: (kfl: string) => CallFilter | undefined) {
    this.config = config
    this.#log = log
    this.#compileFilter = compileFilter
    this.store = new EntryStore({ maxEntries: config.retentionEntries, maxBytes: config.storeMaxBytes })
    this.resolver = createResolver({ kubeconfig: config.kubeconfig, inCluster: config.inCluster, staticFile: config.staticResolution, log })
    this.snapshots = new SnapshotManager({
      dir: join(config.dataDir, 'snapshots'),
      quotaBytes: config.snapshotQuota,
      registry: this.registry,
      // A minute of margin: a call's IP may have been assigned just before the window.
      resolutionTable: (start, end) => this.resolver.history.exportWindow(start - 60_000, end + 60_000),
      transport: () => this.#transport,
      log,
    })
    this.dissections = new DissectionManager(this.snapshots, log)
    this.snapshots.setOnDeleted((name) => this.dissections.forgetSnapshot(name))
    this.tokens = TokenSet.load({ adminToken: config.authToken, viewerToken: config.viewerToken, tokensFile: config.tokensFile })
  }

  async start(): Promise<{ port: number }> {
    const deps: AppDeps = {
      store: this.store,
      compileFilter: this.#compileFilter,
      tokens: this.tokens,
      ready: () => this.#ingest?.caughtUp === true && deps.control !== undefined && this.#nc !== undefined && !this.#nc.isClosed(),
      metrics: () => this.#metrics(),
      log: this.#log,
      registry: this.registry,
      resolver: this.resolver,
      snapshotResolution: (id: string) => this.snapshots.resolutionOf(id),
      // Filled in once NATS is connected (routes read them per request); until then they answer 503.
      agents: undefined,
      control: undefined,
      snapshots: this.snapshots,
      dissections: this.dissections,
      lookupDb: (db) => this.dissections.db(db),
    }
    // Manifests first: a snapshot cut short by a restart must read `failed` from the first request.
    await this.snapshots.load()
    await this.dissections.load()
    const app = createApp(deps)
    // Serve /healthz at once; /readyz turns ready when the stream replay has caught up.
    const port = await new Promise<number>((resolve, reject) => {
      this.#server = serve({ fetch: app.fetch, port: this.config.port, hostname: this.config.host }, (info) => resolve(info.port))
      this.#server.once('error', reject)
    })
    this.#nc = await connect({
      servers: this.config.natsUrl,
      name: 'tapwire-hub',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: true,
    })
    deps.agents = new NatsAgentGateway(this.#nc)
    this.#transport = natsSliceTransport(this.#nc)
    deps.control = new KvDissectionControl(await this.#nc.jetstream().views.kv(CONTROL_BUCKET))
    // Resolve before replaying, or every replayed entry would be enriched as not_synced.
    await this.resolver.start()
    if (!(await waitForResolver(this.resolver))) this.#log('resolver not synced after 15 s; entries are marked not_synced until it is')
    this.#ingest = new EntryIngest(this.#nc, this.store, this.registry, this.#log, this.resolver)
    await this.#ingest.start()
    return { port }
  }

  async stop(): Promise<void> {
    this.#ingest?.stop()
    await this.resolver.stop()
    await this.dissections.shutdown()
    await this.snapshots.stop()
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()))
    if (this.#nc && !this.#nc.isClosed()) await this.#nc.close()
  }

  #metrics(): string {
    const i = this.#ingest?.stats
    return renderMetrics('tapwire_hub', {
      entries_ingested_total: ['Entries read from the entry stream', i?.entries ?? 0],
      batches_ingested_total: ['Entry batches read from the entry stream', i?.batches ?? 0],
      bad_messages_total: ['Undecodable messages skipped', i?.badMessages ?? 0],
      store_entries: ['Entries held in the store', this.store.size],
      store_evicted_total: ['Entries evicted from the store by its count or byte bound', this.store.evicted],
      store_evicted_for_bytes_total: ['Entries evicted from the store because its byte bound was reached', this.store.evictedForBytes],
      store_bytes: ['Estimated bytes of the entries held in the store', this.store.bytes],
      nodes_known: ['Nodes that sent a heartbeat', this.registry.all().length],
      resolver_ready: ['1 when the resolver answers from a complete table', this.resolver.ready ? 1 : 0],
      resolver_records: ['IP history records kept', this.resolver.stats().history.records],
      resolver_dropped_total: ['IP history records dropped (retention or cap)', this.resolver.stats().history.droppedExpired + this.resolver.stats().history.droppedOverCap],
      snapshot_used_bytes: ['Bytes under <data-dir>/snapshots, transfers in flight included', this.snapshots.usedBytes()],
      snapshot_quota_bytes: ['The snapshot storage quota (--snapshot-quota)', this.snapshots.quotaBytes],
      snapshot_quota_refusals_total: ['Snapshot creates refused with 507: quota used up', this.snapshots.quotaStats().refusals],
      snapshot_quota_failures_total: ['Snapshots failed while collecting: they would have crossed the quota', this.snapshots.quotaStats().failures],
      snapshot_quota_discarded_bytes_total: ['Bytes received by those snapshots and removed again', this.snapshots.quotaStats().discardedBytes],
    })
  }
}
