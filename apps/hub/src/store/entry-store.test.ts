import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import type { Entry } from '@tapwire/wire'
import type { GroupBy } from './entry-store.js'
import { EntryStore } from './entry-store.js'
import { EntryCompactor } from './stored-entry.js'
import { StringPool } from './string-pool.js'
import { arbitraryEntries, viaWire } from './test-entries.js'

const e = (id: string, ts: number, proto = 'http'): Entry => ({ id, ts, proto })
const ids = (xs: readonly Entry[]): string[] => xs.map((x) => x.id ?? '')
const sizeOf = (x: Entry): number => {
  const c = new EntryCompactor(new StringPool())
  c.compact(x)
  return c.bytes
}
/** Newest first, as the store answers: later ts, then larger id. */
const newestFirst = (a: Entry, b: Entry): number => (b.ts ?? 0) - (a.ts ?? 0) || ((b.id ?? '') > (a.id ?? '') ? 1 : (b.id ?? '') < (a.id ?? '') ? -1 : 0)

describe('EntryStore', () => {
  it('returns the newest matches first, counting all of them', () => {
    const s = new EntryStore({ segmentSize: 4 })
    // Out of order arrival across segments (several nodes, batching).
    for (const [id, ts] of [['a', 5], ['b', 1], ['c', 9], ['d', 3], ['e', 7], ['f', 2], ['g', 8]] as const) s.add(e(id, ts))
    const r = s.query({ limit: 3 })
    expect(r.items.map((x) => x.id)).toEqual(['c', 'g', 'e'])
    expect(r.total).toBe(7)
    expect(s.query({ limit: 10, start: 2, end: 7 }).items.map((x) => x.id)).toEqual(["e", "a", "d", "f"])
    // Whole-ms semantics: 6.6 shows as 7 and is inside [2, 7]; 7.5 shows as 8 and is not.
    s.add(e("h", 6.6))
    s.add(e("i", 7.5))
    expect(s.query({ limit: 10, start: 7, end: 7 }).items.map((x) => x.id)).toEqual(["e", "h"])
  })

  it('prunes by protocol and evicts the oldest segments past its bound', () => {
    const s = new EntryStore({ segmentSize: 2, maxEntries: 4 })
    for (let i = 0; i < 8; i++) s.add(e(`x${i}`, i, i < 4 ? 'dns' : 'http'))
    expect(s.size).toBe(4)
    expect(s.evicted).toBe(4)
    expect(s.evictedForBytes).toBe(0)
    expect(s.query({ limit: 10, protocols: new Set(['dns']) }).total).toBe(0)
    expect(s.query({ limit: 10, predicate: (x) => x.proto === 'http' }).total).toBe(4)
  })

  it('evicts the oldest entries exactly at the byte bound', () => {
    const entry = (i: number): Entry => ({ id: `n/${i}/0`, ts: 1000 + i, proto: 'http', url: '/x' })
    const b = sizeOf(entry(0))
    expect(b).toBe(sizeOf(entry(9))) // same-sized entries: the bound is a whole number of them
    // Room for 3 entries and a half. A segment closes at 1/16 of the bound, here after 1 entry.
    const s = new EntryStore({ maxBytes: 3.5 * b, segmentSize: 8 })
    for (let i = 0; i < 3; i++) s.add(entry(i))
    expect([s.size, s.bytes, s.evicted]).toEqual([3, 3 * b, 0])
    s.add(entry(3))
    expect([s.size, s.bytes, s.evicted, s.evictedForBytes]).toEqual([3, 3 * b, 1, 1])
    s.add(entry(4))
    expect([s.size, s.evicted, s.evictedForBytes]).toEqual([3, 2, 2])
    const r = s.query({ limit: 10 })
    expect(ids(r.items)).toEqual(['n/4/0', 'n/3/0', 'n/2/0'])
    expect(r.total).toBe(3)
    // Queries over the evicted range find nothing; drill-down no longer finds evicted ids.
    expect(s.query({ limit: 10, end: 1001 }).total).toBe(0)
    expect(s.get('n/1/0')).toBeUndefined()
    expect(s.get('n/2/0')?.url).toBe('/x')
  })

  it('a larger entry evicts as many old ones as it needs', () => {
    const small = (i: number): Entry => ({ id: `s${String(i).padStart(2, '0')}`, ts: i, proto: 'http' })
    const b = sizeOf(small(0))
    const s = new EntryStore({ maxBytes: 16 * b, segmentSize: 1 })
    for (let i = 0; i < 16; i++) s.add(small(i))
    expect([s.size, s.evicted]).toEqual([16, 0])
    const big: Entry = { id: 'big', ts: 99, proto: 'http', respBody: 'x'.repeat(5 * b) }
    s.add(big)
    // 16 b + (b + 5 b) = 22 b: six of the oldest must go (each segment is one entry here).
    expect(sizeOf(big)).toBe(6 * b)
    expect([s.size, s.bytes, s.evicted, s.evictedForBytes]).toEqual([11, 16 * b, 6, 6])
    expect(ids(s.query({ limit: 2 }).items)).toEqual(['big', 's15'])
    expect(s.query({ limit: 100 }).items.at(-1)?.id).toBe('s06')
  })

  it('holds both bounds within one segment, and its byte count is what it holds (property)', () => {
    fc.assert(
      fc.property(arbitraryEntries(60), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 3, max: 30 }), fc.integer({ min: 2, max: 40 }), (entries, segmentSize, maxEntries, kb) => {
        const decoded = viaWire(entries)
        const maxBytes = kb * 1024
        const s = new EntryStore({ segmentSize, maxEntries, maxBytes })
        for (const x of decoded) s.add(x)
        const held = s.query({ limit: 1_000 }).items
        expect(held.length).toBe(s.size)
        expect(s.size + s.evicted).toBe(decoded.length)
        expect(s.bytes).toBe(held.reduce((sum, x) => sum + sizeOf(x), 0))
        // The open segment is never evicted, so a bound holds to within one segment.
        expect(s.size).toBeLessThanOrEqual(Math.max(maxEntries, segmentSize))
        const biggest = Math.max(0, ...decoded.map(sizeOf))
        expect(s.bytes).toBeLessThanOrEqual(Math.max(maxBytes, maxBytes / 16 + biggest))
        // What is kept is the newest arrivals.
        expect(new Set(ids(held))).toEqual(new Set(ids(decoded.slice(decoded.length - s.size))))
      })
    )
  })

  it('agrees with a sort of everything (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), fc.integer({ min: 1, max: 20 }), (tss, limit) => {
        const s = new EntryStore({ segmentSize: 7 })
        tss.forEach((ts, i) => s.add(e(`id${String(i).padStart(4, '0')}`, ts)))
        const expected = tss
          .map((ts, i) => ({ ts, id: `id${String(i).padStart(4, '0')}` }))
          .sort((a, b) => b.ts - a.ts || (b.id > a.id ? 1 : -1))
          .slice(0, limit)
          .map((x) => x.id)
        expect(s.query({ limit }).items.map((x) => x.id)).toEqual(expected)
      })
    )
  })

  it('groups in one pass exactly like sorting every match and grouping (property)', () => {
    const keyOf = (x: Entry, by: GroupBy): string => (by === 'node' ? x.node! : by === 'worker' ? x.worker! : x.dst?.ns || x.src?.ns || '')
    fc.assert(
      fc.property(
        arbitraryEntries(80),
        fc.constantFrom<GroupBy>('node', 'ns', 'worker'),
        fc.integer({ min: 1, max: 6 }),
        fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
        fc.constantFrom(undefined, 'http', 'status_code >= 500 || dns'),
        (entries, by, limit, from, kfl) => {
          const s = new EntryStore({ segmentSize: 5 })
          for (const x of viaWire(entries)) s.add(x)
          const start = from === undefined ? undefined : 1_773_525_600_000 + from * 10
          const f = kfl === undefined ? undefined : compile(kfl)
          const q = { start, predicate: f?.predicate, protocols: f?.protocolHint }
          const grouped = s.groupQuery({ ...q, limit }, by)
          const all = s.query({ ...q, limit: 1_000_000 }).items
          const expected = new Map<string, string[]>()
          for (const x of all) expected.set(keyOf(x, by), [...(expected.get(keyOf(x, by)) ?? []), x.id!])
          expect([...grouped.keys()].sort()).toEqual([...expected.keys()].sort())
          for (const [k, group] of expected) {
            expect(grouped.get(k)!.total).toBe(group.length)
            expect(ids(grouped.get(k)!.items)).toEqual(group.slice(0, limit))
          }
        }
      )
    )
  })

  // Filters evaluated by the store (through its columns and cursor, after protocol pruning) select
  // exactly what they select evaluated on the decoded entries themselves.
  const FILTERS = [
    'http',
    'http && status_code >= 500',
    'http && path.startsWith("/api/v1")',
    'method in ["POST", "DELETE"] && url.matches("/api/v[0-9]+/orders/[0-9]+")',
    'request.headers["content-type"] == "application/json"',
    '"authorization" in request.headers',
    'request.cookies["theme"] == "dark"',
    'query_string["y"] == " z"',
    'elapsed_time > 2000 || response_body_size > 100',
    'local_labels["app"] == "web" && remote_labels["tier"] == "edge"',
    '"backend" in namespaces || dst.pod == "api-1"',
    'redis && redis_key.startsWith("session:")',
    'grpc && grpc_status == 14',
    'dns && "example.com" in dns_questions',
    'node_name == "node-1" && worker != "agent-b"',
    'src.ip == "10.0.0.1" && dst.port == 8080 && local_resolution_status == ""',
    'index == 3 || http_version == "HTTP/1.1" || timestamp < timestamp("2026-03-14T22:00:00.100Z")',
    '!(http) && protocol == "REDIS"',
  ]

  it.each(FILTERS)('store.query(%s) selects what the filter selects on the entries', (kfl) => {
    const f = compile(kfl)
    fc.assert(
      fc.property(arbitraryEntries(70), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 40 }), (entries, segmentSize, limit) => {
        const decoded = viaWire(entries)
        const s = new EntryStore({ segmentSize })
        for (const x of decoded) s.add(x)
        const expected = decoded.filter((x) => f.predicate(x)).sort(newestFirst)
        const r = s.query({ predicate: f.predicate, protocols: f.protocolHint, limit })
        expect(r.total).toBe(expected.length)
        expect(ids(r.items)).toEqual(ids(expected.slice(0, limit)))
      }),
      { numRuns: 60 }
    )
  })

  it('does not evaluate the filter on entries of protocols it cannot match', () => {
    const s = new EntryStore({ segmentSize: 3 })
    for (let i = 0; i < 9; i++) s.add(e(`x${i}`, i, ['http', 'dns', 'redis'][i % 3]))
    const seen: string[] = []
    const r = s.query({ limit: 10, protocols: new Set(['dns']), predicate: (x) => (seen.push(x.proto!), true) })
    expect(r.total).toBe(3)
    expect(seen).toEqual(['dns', 'dns', 'dns'])
  })
})
