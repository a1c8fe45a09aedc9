import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FlagSpec } from '@tapwire/wire'
import { FlagError, parseFlags, parseIntFlag, parseSize } from '@tapwire/wire'

export const HUB_FLAGS: readonly FlagSpec[] = [
  { name: 'port', env: 'HUB_PORT', default: '8898', description: 'HTTP port' },
  { name: 'host', env: 'HUB_HOST', default: '0.0.0.0', description: 'HTTP listen address' },
  { name: 'nats', env: 'NATS_URL', default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  { name: 'data-dir', env: 'HUB_DATA_DIR', description: 'snapshots and state (default: a temp dir)' },
  { name: 'auth-token', env: 'HUB_AUTH_TOKEN', description: 'admin bearer token; with any token set, every route but /healthz and /readyz needs one' },
  { name: 'viewer-token', env: 'HUB_VIEWER_TOKEN', description: 'viewer bearer token (queries only)' },
  { name: 'tokens-file', env: 'HUB_TOKENS_FILE', description: "file of '<viewer|admin> <name> <token>' lines (e.g. a mounted Secret)" },
  { name: 'retention-entries', env: 'HUB_RETENTION_ENTRIES', default: '2000000', description: 'entries kept in memory' },
  { name: 'store-max-bytes', env: 'HUB_STORE_MAX_BYTES', default: '1GiB', description: 'bound on the estimated bytes of the entries kept in memory (oldest evicted first); keep it below the heap limit' },
  { name: 'snapshot-quota', env: 'HUB_SNAPSHOT_QUOTA', default: '10GiB', description: 'bound on the bytes all snapshots (and their dissections) may use under <data-dir>/snapshots' },
  { name: 'kubeconfig', env: 'KUBECONFIG', description: 'kubeconfig of the cluster whose IPs to resolve (one watcher per hub)' },
  { name: 'in-cluster', boolean: true, description: "resolve with the pod's service account (default when KUBERNETES_SERVICE_HOST is set)" },
  { name: 'static-resolution', env: 'TAPWIRE_STATIC_RESOLUTION', description: 'JSON file [{ip, port?, pod, ns, svc, node, labels}] for running without Kubernetes' },
  { name: 'help', boolean: true, description: 'show this help' },
]

export interface HubConfig {
  port: number
  host: string
  natsUrl: string
  dataDir: string
  authToken: string | undefined
  viewerToken: string | undefined
  tokensFile: string | undefined
  retentionEntries: number
  storeMaxBytes: number
  snapshotQuota: number
  kubeconfig: string | undefined
  inCluster: boolean
  staticResolution: string | undefined
  help: boolean
}

export function loadHubConfig(argv: readonly string[], env: NodeJS.ProcessEnv): HubConfig {
  const f = parseFlags(argv, env, HUB_FLAGS)
  return {
    port: parseIntFlag('port', f.port, 0, 65535),
    host: f.host!,
    natsUrl: f.nats!,
    dataDir: f['data-dir'] || join(tmpdir(), 'tapwire-hub'),
    authToken: f['auth-token'] || undefined,
    viewerToken: f['viewer-token'] || undefined,
    tokensFile: f['tokens-file'] || undefined,
    retentionEntries: parseIntFlag('retention-entries', f['retention-entries'], 1000, 100_000_000),
    storeMaxBytes: parseStoreMaxBytes(f['store-max-bytes']!),
    snapshotQuota: parseSize(f['snapshot-quota']!),
    kubeconfig: f.kubeconfig || undefined,
    inCluster: f['in-cluster'] === 'true' || (!f.kubeconfig && !f['static-resolution'] && !!env.KUBERNETES_SERVICE_HOST),
    staticResolution: f['static-resolution'] || undefined,
    help: f.help === 'true',
  }
}

/** At least 1 MiB: below that a store holds too little to be useful (one segment is 1/16 of it). */
function parseStoreMaxBytes(text: string): number {
  const n = parseSize(text)
  if (n < 1024 * 1024) throw new FlagError(`--store-max-bytes must be at least 1MiB, got '${text}'`)
  return n
}
