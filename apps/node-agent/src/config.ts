import { hostname } from 'node:os'
import { join } from 'node:path'
import type { FlagSpec } from '@tapwire/wire'
import { parseFlags, parseIntFlag, parseSize, toNodeToken } from '@tapwire/wire'

export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'node', env: 'NODE_NAME', description: 'node name (default: host name)' },
  { name: 'interface', env: 'CAPTURE_INTERFACE', default: 'any', description: 'interface to capture on' },
  { name: 'bpf', env: 'CAPTURE_BPF', default: '', description: 'libpcap capture filter' },
  { name: 'read', description: 'replay a pcap/pcapng file instead of capturing live, then exit' },
  { name: 'nats', env: 'NATS_URL', default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  { name: 'data-dir', env: 'AGENT_DATA_DIR', description: 'state and PCAP ring directory (default /var/lib/tapwire/<node>)' },
  { name: 'ring-size', env: 'RING_SIZE', default: '1GiB', description: 'PCAP ring size' },
  { name: 'port', env: 'AGENT_PORT', default: '8897', description: 'port of /healthz, /readyz, /metrics (0: none)' },
  { name: 'host', env: 'AGENT_HOST', default: '0.0.0.0', description: 'address of the health server' },
  { name: 'worker', env: 'POD_NAME', description: 'worker name reported in entries (default: node name)' },
  { name: 'preview-bytes', env: 'PREVIEW_BYTES', default: '4096', description: 'body bytes copied into published entries' },
  { name: 'max-body-bytes', env: 'MAX_BODY_BYTES', default: '256KiB', description: 'body bytes kept per message for drill-down' },
  { name: 'detail-cache', env: 'DETAIL_CACHE_SIZE', default: '64MiB', description: 'memory for full bodies of recent calls' },
  { name: 'help', boolean: true, description: 'show this help' },
]

export interface AgentConfig {
  node: string
  worker: string
  interface: string
  bpf: string
  readFile: string | undefined
  natsUrl: string
  dataDir: string
  ringSize: number
  port: number
  host: string
  previewBytes: number
  maxBodyBytes: number
  detailCacheBytes: number
  help: boolean
}

export function loadAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const f = parseFlags(argv, env, AGENT_FLAGS)
  const node = toNodeToken(f.node || hostname())
  return {
    node,
    worker: f.worker || node,
    interface: f.interface!,
    bpf: f.bpf ?? '',
    readFile: f.read,
    natsUrl: f.nats!,
    dataDir: f['data-dir'] || join('/var/lib/tapwire', node),
    ringSize: parseSize(f['ring-size']!),
    port: parseIntFlag('port', f.port, 0, 65535),
    host: f.host!,
    previewBytes: parseIntFlag('preview-bytes', f['preview-bytes'], 0, 1 << 20),
    maxBodyBytes: parseSize(f['max-body-bytes']!),
    detailCacheBytes: parseSize(f['detail-cache']!),
    help: f.help === 'true',
  }
}
