import { hostname } from 'node:os'
import { join } from 'node:path'
import type { FlagSpec } from '@tapwire/wire'
import { FlagError, parseDuration, parseFlags, parseIntFlag, parseSize, toNodeToken } from '@tapwire/wire'

export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'node', env: 'NODE_NAME', description: 'node name (default: host name)' },
  { name: 'interface', env: 'CAPTURE_INTERFACE', default: 'any', description: 'interface to capture on' },
  { name: 'bpf', env: 'CAPTURE_BPF', default: '', description: 'libpcap capture filter' },
  { name: 'capture-buffer', env: 'CAPTURE_BUFFER', default: '16MiB', description: "libpcap buffer size: the kernel ring, mapped into the agent (counts in its RSS)" },
  { name: 'read', description: 'replay a pcap/pcapng file instead of capturing live, then exit' },
  { name: 'nats', env: 'NATS_URL', default: 'nats://127.0.0.1:4222', description: 'NATS server' },
  { name: 'data-dir', env: 'AGENT_DATA_DIR', description: 'state and PCAP ring directory (default /var/lib/tapwire/<node>)' },
  { name: 'ring-size', env: 'RING_SIZE', default: '1GiB', description: 'PCAP ring size (bound on <data-dir>/ring)' },
  { name: 'ring-on-read', env: 'RING_ON_READ', boolean: true, description: 'with --read, also write the replayed packets into the PCAP ring (off by default)' },
  { name: 'port', env: 'AGENT_PORT', default: '8897', description: 'port of /healthz, /readyz, /metrics (0: none)' },
  { name: 'host', env: 'AGENT_HOST', default: '0.0.0.0', description: 'address of the health server' },
  { name: 'worker', env: 'POD_NAME', description: 'worker name reported in entries (default: node name)' },
  { name: 'preview-bytes', env: 'PREVIEW_BYTES', default: '4096', description: 'body bytes copied into published entries' },
  { name: 'max-body-bytes', env: 'MAX_BODY_BYTES', default: '256KiB', description: 'body bytes kept per message for drill-down' },
  { name: 'detail-cache', env: 'DETAIL_CACHE_SIZE', default: '32MiB', description: 'memory for full bodies of recent calls' },
  { name: 'details-pcap-max', env: 'DETAILS_PCAP_MAX', default: '4MiB', description: "bound on a drill-down's connection PCAP (include_pcap; also bounded by NATS max_payload)" },
  { name: 'redact', env: 'REDACT', default: 'on', description: "redaction of secrets before entries leave the node: 'on' or 'off'" },
  { name: 'redact-headers', env: 'REDACT_HEADERS', default: '', description: 'more header names to redact (comma-separated)' },
  { name: 'redact-keys', env: 'REDACT_KEYS', default: '', description: 'more JSON/form/query keys to redact (comma-separated)' },
  { name: 'redact-patterns', env: 'REDACT_PATTERNS', default: '', description: 'more regular expressions to redact (comma-separated)' },
  { name: 'publish-buffer', env: 'PUBLISH_BUFFER', default: '32MiB', description: 'encoded entries held while NATS is slow or away; beyond it new batches are dropped and counted' },
  { name: 'worker-heap', env: 'WORKER_HEAP_MB', default: '128', description: 'V8 old-generation limit of the dissector worker, MiB (0: none)' },
  { name: 'l4-entries', env: 'L4_ENTRIES', boolean: true, default: 'true', description: "publish L4 entries (tcp_conn, udp_conn, tcp_flow, udp_flow) for KFL's conn/flow variables; --l4-entries=false turns them off" },
  { name: 'l4-interval', env: 'L4_INTERVAL', default: '30s', description: 'window of the periodic open-connection and flow reports (packet time, 1s to 1h)' },
  { name: 'help', boolean: true, description: 'show this help' },
]

export interface AgentConfig {
  node: string
  worker: string
  interface: string
  bpf: string
  /** libpcap buffer size asked for; TPACKET_V3 maps twice this into the process. */
  captureBufferBytes: number
  readFile: string | undefined
  natsUrl: string
  dataDir: string
  ringSize: number
  /** --read only: raw capture of the replay is opt-in (a replay is usually a one-off analysis). */
  ringOnRead: boolean
  port: number
  host: string
  previewBytes: number
  maxBodyBytes: number
  detailCacheBytes: number
  /** Bound on the connection PCAP of one drill-down (include_pcap). */
  detailsPcapMax: number
  redaction: RedactionConfig | undefined
  publishBufferBytes: number
  workerHeapMb: number
  /** Emit L4 connection/flow entries (on unless --l4-entries=false). */
  l4Entries: boolean
  l4IntervalMs: number
  help: boolean
}

/** Extra redaction rules on top of the defaults; undefined turns redaction off. */
export interface RedactionConfig {
  headers: string[]
  keys: string[]
  patterns: string[]
}

const list = (s: string | undefined): string[] => (s ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')

function redactionConfig(f: Record<string, string | undefined>): RedactionConfig | undefined {
  if (f.redact === 'off') return undefined
  if (f.redact !== 'on') throw new FlagError(`--redact must be 'on' or 'off', got '${f.redact ?? ''}'`)
  const patterns = list(f['redact-patterns'])
  for (const p of patterns) {
    try {
      new RegExp(p)
    } catch {
      throw new FlagError(`--redact-patterns: '${p}' is not a valid regular expression`)
    }
  }
  return { headers: list(f['redact-headers']), keys: list(f['redact-keys']), patterns }
}

/** A boolean flag that defaults to true, so it must also accept an explicit `false`. */
function booleanFlag(name: string, v: string | undefined): boolean {
  if (v === 'true' || v === undefined) return true
  if (v === 'false') return false
  throw new FlagError(`--${name} must be 'true' or 'false', got '${v}'`)
}

function durationFlag(name: string, v: string | undefined, min: number, max: number): number {
  const ms = parseDuration(v ?? '')
  if (ms < min || ms > max) throw new FlagError(`--${name} must be from ${min / 1000}s to ${max / 1000}s, got '${v ?? ''}'`)
  return ms
}

export function loadAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const f = parseFlags(argv, env, AGENT_FLAGS)
  const node = toNodeToken(f.node || hostname())
  return {
    node,
    worker: f.worker || node,
    interface: f.interface!,
    bpf: f.bpf ?? '',
    captureBufferBytes: parseSize(f['capture-buffer']!),
    readFile: f.read,
    natsUrl: f.nats!,
    dataDir: f['data-dir'] || join('/var/lib/tapwire', node),
    ringSize: parseSize(f['ring-size']!),
    ringOnRead: f['ring-on-read'] === 'true',
    port: parseIntFlag('port', f.port, 0, 65535),
    host: f.host!,
    previewBytes: parseIntFlag('preview-bytes', f['preview-bytes'], 0, 1 << 20),
    maxBodyBytes: parseSize(f['max-body-bytes']!),
    detailCacheBytes: parseSize(f['detail-cache']!),
    detailsPcapMax: parseSize(f['details-pcap-max']!),
    redaction: redactionConfig(f),
    publishBufferBytes: parseSize(f['publish-buffer']!),
    workerHeapMb: parseIntFlag('worker-heap', f['worker-heap'], 0, 65536),
    l4Entries: booleanFlag('l4-entries', f['l4-entries']),
    l4IntervalMs: durationFlag('l4-interval', f['l4-interval'], 1000, 3_600_000),
    help: f.help === 'true',
  }
}
