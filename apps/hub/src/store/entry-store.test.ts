import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Entry } from '@tapwire/wire'
import { EntryStore } from './entry-store.js'

const e = (id: string, ts: number, proto = 'http'): Entry => ({ id, ts, proto })

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
    expect(s.query({ limit: 10, protocols: new Set(['dns']) }).total).toBe(0)
    expect(s.query({ limit: 10, predicate: (x) => x.proto === 'http' }).total).toBe(4)
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
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom('a', 'b', 'c')), { maxLength: 150 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 40 }),
        (rows, limit, start) => {
          const s = new EntryStore({ segmentSize: 5 })
          rows.forEach(([ts, node], i) => s.add({ ...e(`id${String(i).padStart(4, '0')}`, ts), node }))
          const grouped = s.groupQuery({ limit, start, predicate: (x) => (x.ts ?? 0) % 3 !== 0 }, (x) => x.node ?? '')
          const all = s.query({ limit: 1_000_000, start, predicate: (x) => (x.ts ?? 0) % 3 !== 0 }).items
          const expected = new Map<string, string[]>()
          for (const x of all) expected.set(x.node!, [...(expected.get(x.node!) ?? []), x.id!])
          expect([...grouped.keys()].sort()).toEqual([...expected.keys()].sort())
          for (const [k, ids] of expected) {
            expect(grouped.get(k)!.total).toBe(ids.length)
            expect(grouped.get(k)!.items.map((x) => x.id)).toEqual(ids.slice(0, limit))
          }
        }
      )
    )
  })
})
