import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import type { Entry } from '@tapwire/wire'
import { pb } from '@tapwire/wire'
import { fullCall, rawCall } from '../format/call-format.js'
import { ENTRY_OVERHEAD_BYTES, EntryCompactor, HEADER_OVERHEAD_BYTES, UNNAMED_ENTRY_FIELDS } from './stored-entry.js'
import { StringPool } from './string-pool.js'
import { arbitraryEntries, viaWire } from './test-entries.js'

const compactor = (): EntryCompactor => new EntryCompactor(new StringPool())

describe('EntryCompactor', () => {
  it('names every field of the schema (update the compactor with the proto)', () => {
    expect(UNNAMED_ENTRY_FIELDS).toEqual([])
  })

  it('keeps every value of a decoded entry (property)', () => {
    fc.assert(
      fc.property(arbitraryEntries(20), (entries) => {
        const c = compactor()
        for (const d of viaWire(entries)) {
          const stored = c.compact(d)
          // The raw format is the protobuf view of all fields: identical before and after.
          expect(rawCall(stored)).toEqual(rawCall(d))
          // The decoded entry answers an absent 64-bit field with a Long object; the stored one with 0.
          const n = (v: unknown): number => (typeof v === 'number' ? v : 0)
          const direct = fullCall(d)
          expect(fullCall(stored)).toEqual({ ...direct, conn_id: n(direct.conn_id), flow_id: n(direct.flow_id), req_size: n(direct.req_size), resp_size: n(direct.resp_size) })
        }
      })
    )
  })

  it('gives every entry the same fields in the same order, whatever its protocol', () => {
    const c = compactor()
    const [http, dns, bare] = viaWire([
      { id: 'a', proto: 'http', method: 'GET', status: 200, reqHeaders: [{ name: 'a', value: 'b' }] },
      { id: 'b', proto: 'dns', attrs: [{ name: 'dns_questions', list: { values: ['x'] } }] },
      {},
    ]).map((d) => c.compact(d))
    expect(Object.keys(dns!)).toEqual(Object.keys(http!))
    expect(Object.keys(bare!)).toEqual(Object.keys(http!))
  })

  it('reads absent 64-bit fields as 0, not as the Long object protobufjs puts on the prototype', () => {
    const [d] = viaWire([{ id: 'x', ts: 1 }])
    expect(typeof d!.connId).toBe('object') // the decoder's default: why compaction matters
    const stored = compactor().compact(d!)
    expect([stored.connId, stored.flowId, stored.reqBodySize, stored.respBodySize]).toEqual([0, 0, 0, 0])
    expect(compile('conn_id == 0 && flow_id == 0 && response_body_size == 0').predicate(stored)).toBe(true)
    expect(fullCall(stored).conn_id).toBe(0)
  })

  it('shares repeated endpoints and header blocks, and only equal ones', () => {
    const c = compactor()
    const ep = { ip: '10.0.0.1', port: 80, pod: 'api', ns: 'b', labels: { app: 'api' } }
    const hs = [{ name: 'Host', value: 'api' }, { name: 'Accept', value: '*/*' }]
    const [a, b, other, relabelled] = viaWire([
      { id: 'a', dst: ep, reqHeaders: hs },
      { id: 'b', dst: ep, reqHeaders: hs },
      { id: 'c', dst: { ...ep, port: 81 }, reqHeaders: [hs[0]!] },
      { id: 'd', dst: { ...ep, labels: { app: 'web' } }, reqHeaders: [hs[0]!, { name: 'Accept', value: 'text/html' }] },
    ]).map((d) => c.compact(d))
    expect(b!.dst).toBe(a!.dst)
    expect(b!.reqHeaders).toBe(a!.reqHeaders)
    expect(other!.dst).not.toBe(a!.dst)
    expect(other!.dst!.port).toBe(81)
    expect(relabelled!.dst).not.toBe(a!.dst)
    expect(relabelled!.dst!.labels).toEqual({ app: 'web' })
    expect(other!.reqHeaders![0]).toBe(a!.reqHeaders![0]) // the same line, shared
    expect(relabelled!.reqHeaders).toEqual([hs[0], { name: 'Accept', value: 'text/html' }])
  })

  it('estimates bytes as a fixed overhead plus characters, whatever is shared', () => {
    const c = compactor()
    const base: Entry = { id: 'n/1/0', proto: 'http' }
    c.compact(base)
    expect(c.bytes).toBe(ENTRY_OVERHEAD_BYTES + 'n/1/0'.length + 'http'.length)
    c.compact({ ...base, respBody: 'x'.repeat(1000) })
    expect(c.bytes).toBe(ENTRY_OVERHEAD_BYTES + 9 + 1000)
    const withHeader = { ...base, reqHeaders: [{ name: 'Host', value: 'api' }] }
    c.compact(withHeader)
    const first = c.bytes
    c.compact(withHeader) // shared the second time, counted the same
    expect(c.bytes).toBe(first)
    expect(first).toBe(ENTRY_OVERHEAD_BYTES + 9 + HEADER_OVERHEAD_BYTES + 7)
  })

  it('keeps an attr as decoded, so which oneof member is set survives', () => {
    const [d] = viaWire([{ id: 'x', proto: 'grpc', attrs: [{ name: 'grpc_status', num: 0 }] }])
    const stored = compactor().compact(d!)
    expect(pb.Attr.toObject(stored.attrs![0] as InstanceType<typeof pb.Attr>, { oneofs: true })).toMatchObject({ value: 'num' })
    expect(compile('grpc_status == 0').predicate(stored)).toBe(true)
  })
})

describe('StringPool', () => {
  it('returns one copy per value and starts over at its bound', () => {
    const p = new StringPool(3)
    const a = p.intern(['a', 'b'].join(''))
    expect(p.intern('ab')).toBe(a)
    p.intern('c')
    p.intern('d')
    expect(p.size).toBe(3)
    p.intern('e')
    expect(p.size).toBe(1)
    expect(p.intern('x'.repeat(500))).toBe('x'.repeat(500)) // too long to pool, returned as is
    expect(p.size).toBe(1)
  })
})
