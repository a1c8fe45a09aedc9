// KFL evaluation rate: how many entries per second one compiled filter scans on one core.
// The store runs a filter over every stored entry of a query's time range, so this bounds
// /mcp/calls latency. Goal: ≥ 5M entries/s for protocol-flag + comparison filters.
import { compile } from '@tapwire/kfl'
import type { Entry, Header } from '@tapwire/wire'

export const KFL_BENCH_FILTERS = [
  'http',
  'http && status_code >= 500',
  'http && path.startsWith("/api/v1")',
  'http && request.headers["content-type"] == "application/json"',
  'http && method in ["PUT", "DELETE"] && url.matches("/api/v[0-9]+/orders/[0-9]+")',
] as const

/** Deterministic pseudo-random numbers (mulberry32), so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const PROTOS = [
  'http',
  'http',
  'http',
  'http',
  'http',
  'grpc',
  'dns',
  'redis',
  'tcp',
  'kafka',
  'postgresql',
]
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE']
const PATHS = [
  '/api/v1/users',
  '/api/v1/orders/17',
  '/api/v2/orders/9',
  '/health',
  '/metrics',
  '/static/app.js',
]
const STATUSES = [200, 200, 200, 200, 201, 204, 301, 404, 500, 503]
const HEADER_SETS: Header[][] = [
  [
    { name: 'Host', value: 'api' },
    { name: 'Content-Type', value: 'application/json' },
  ],
  [
    { name: 'Host', value: 'api' },
    { name: 'Accept', value: '*/*' },
    { name: 'User-Agent', value: 'curl/8' },
  ],
  [
    { name: 'host', value: 'web' },
    { name: 'content-type', value: 'text/plain' },
    { name: 'Authorization', value: 'Bearer x' },
  ],
]
const ENDPOINTS = Array.from({ length: 16 }, (_, i) => ({
  ip: `10.${i % 4}.0.${i}`,
  port: i % 2 === 0 ? 8080 : 40000 + i,
  pod: `pod-${i}`,
  ns: ['frontend', 'backend', 'production', 'kube-system'][i % 4]!,
  svc: `svc-${i % 5}`,
  node: `node-${i % 3}`,
  labels: { app: `app-${i % 6}` },
}))

export function syntheticEntries(count: number, seed = 1): Entry[] {
  const r = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const entries: Entry[] = new Array<Entry>(count)
  const t0 = Date.parse('2026-03-14T22:00:00Z')
  for (let i = 0; i < count; i++) {
    const proto = pick(PROTOS)
    const httpLike = proto === 'http' || proto === 'grpc'
    const path = pick(PATHS)
    entries[i] = {
      id: `node-1/${i >> 4}/${i & 15}`,
      node: 'node-1',
      flowId: i >> 4,
      index: i & 15,
      ts: t0 + i,
      elapsedUs: Math.floor(r() * 2_000_000),
      proto,
      src: pick(ENDPOINTS),
      dst: pick(ENDPOINTS),
      method: httpLike ? pick(METHODS) : '',
      path: httpLike ? path : '',
      url: httpLike ? `${path}?page=${i % 7}` : '',
      status: httpLike ? pick(STATUSES) : 0,
      reqHeaders: httpLike ? pick(HEADER_SETS) : [],
      respBodySize: Math.floor(r() * 50_000),
      attrs: proto === 'redis' ? [{ name: 'redis_key', str: `session:${i}` }] : [],
    }
  }
  return entries
}

function rate(
  filter: string,
  entries: readonly Entry[]
): { entriesPerSec: number; matched: number } {
  const { predicate } = compile(filter)
  // Warm up the JIT on a slice; the timed pass still meets most entries for the first time, so
  // lazily derived data (header maps) is built inside the measurement.
  for (let i = 0; i < Math.min(20_000, entries.length); i++) predicate(entries[i]!)
  const start = performance.now()
  let matched = 0
  for (let i = 0; i < entries.length; i++) if (predicate(entries[i]!)) matched++
  const seconds = (performance.now() - start) / 1000
  return { entriesPerSec: Math.round(entries.length / seconds), matched }
}

export async function measureKflEval(
  count = 1_000_000
): Promise<{ filter: string; entriesPerSec: number }[]> {
  const entries = syntheticEntries(count)
  const results: { filter: string; entriesPerSec: number }[] = []
  for (const filter of KFL_BENCH_FILTERS) {
    results.push({ filter, entriesPerSec: rate(filter, entries).entriesPerSec })
    // Let a caller's timers and logs run between filters.
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  return results
}
