import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FlagSpec } from '@tapwire/wire'
import { parseFlags, parseIntFlag } from '@tapwire/wire'

export const HUB_FLAGS: readonly FlagSpec[] = [
  { name: 'port', env: 'HUB_PORT', default: '8898', description: 'HTTP port' },
  { name: 'host', env: 'HUB_HOST', default: '0.0.0.0', description: 'HTTP listen address' },
  { name: 'nats', env: 'NATS_URL', default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  { name: 'data-dir', env: 'HUB_DATA_DIR', description: 'snapshots and state (default: a temp dir)' },
  { name: 'auth-token', env: 'HUB_AUTH_TOKEN', description: 'require Authorization: Bearer <token> on every route but /healthz and /readyz' },
  { name: 'retention-entries', env: 'HUB_RETENTION_ENTRIES', default: '2000000', description: 'entries kept in memory' },
  { name: 'help', boolean: true, description: 'show this help' },
]

export interface HubConfig {
  port: number
  host: string
  natsUrl: string
  dataDir: string
  authToken: string | undefined
  retentionEntries: number
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
    retentionEntries: parseIntFlag('retention-entries', f['retention-entries'], 1000, 100_000_000),
    help: f.help === 'true',
  }
}
