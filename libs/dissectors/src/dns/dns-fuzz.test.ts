import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Chunk } from '../test-support/fuzz.js'
import { feed, mutated, params, randomChunks } from '../test-support/fuzz.js'
import { dnsTcpDissector, dnsUdpDissector } from './dns-dissector.js'
import { parseDns, readName } from './dns-message.js'

// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded (harness in ../test-support/fuzz.ts).

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
void enc

function name(n: string): number[] {
  return [...n.split('.').flatMap((l) => [l.length, ...enc(l)]), 0]
}
function query(id: number, qname: string, type: number): Uint8Array {
  return Uint8Array.from([
    id >> 8,
    id & 255,
    1,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...name(qname),
    0,
    type,
    0,
    1,
  ])
}
/** The query echoed back with one answer whose owner is a compression pointer to offset 12. */
function response(q: Uint8Array, type: number, rdata: number[]): Uint8Array {
  const out = Uint8Array.from([
    ...q,
    0xc0,
    12,
    0,
    type,
    0,
    1,
    0,
    0,
    0,
    60,
    rdata.length >> 8,
    rdata.length & 255,
    ...rdata,
  ])
  out[2] = 0x81
  out[3] = 0x80
  out[7] = 1
  return out
}
const tcp = (m: Uint8Array): Uint8Array => Uint8Array.from([m.length >> 8, m.length & 255, ...m])
const q1 = query(0x1234, 'web.tapwire.test', 1)
const q2 = query(0x2222, 'tapwire.test', 15)
const q3 = query(0x3333, 'tapwire.test', 33)
const udpSeeds: Chunk[][] = [
  [
    { dir: 0, data: q1 },
    { dir: 1, data: response(q1, 1, [10, 1, 2, 3]) },
  ],
  [
    { dir: 0, data: q2 },
    { dir: 1, data: response(q2, 15, [0, 10, 0xc0, 12]) },
  ],
  [
    { dir: 0, data: q3 },
    { dir: 1, data: response(q3, 33, [0, 1, 0, 5, 0x1f, 0x90, 0xc0, 12]) },
  ],
]

describe('DNS fuzzing', () => {
  it('random bytes never throw (UDP datagrams and TCP streams)', () => {
    fc.assert(
      fc.property(randomChunks, (chunks) => {
        feed(dnsUdpDissector, chunks)
        feed(dnsTcpDissector, chunks)
        for (const c of chunks) {
          dnsUdpDissector.probe(c.data, c.dir, {
            id: 1,
            transport: 'udp',
            client: { ip: 'a', port: 1 },
            server: { ip: 'b', port: 2 },
          })
          dnsTcpDissector.probe(c.data, c.dir, {
            id: 1,
            transport: 'tcp',
            client: { ip: 'a', port: 1 },
            server: { ip: 'b', port: 2 },
          })
        }
      }),
      params
    )
  })

  it('mutated conversations never throw; at most one call per query', () => {
    fc.assert(
      fc.property(mutated(udpSeeds), (chunks) => {
        const calls = feed(dnsUdpDissector, chunks)
        expect(calls.length).toBeLessThanOrEqual(chunks.filter((c) => c.dir === 0).length)
        const tcpChunks = chunks.map((c) => ({ dir: c.dir, data: tcp(c.data) }))
        expect(feed(dnsTcpDissector, tcpChunks).length).toBeLessThanOrEqual(tcpChunks.length)
      }),
      params
    )
  })

  it('well-formed seeds pair, render and time out', () => {
    const calls = feed(dnsUdpDissector, udpSeeds.flat())
    expect(calls.map((c) => c.summary)).toEqual([
      'A web.tapwire.test → 10.1.2.3',
      'MX tapwire.test → 10 tapwire.test',
      'SRV tapwire.test → 1 5 8080 tapwire.test',
    ])
    const lost = feed(dnsUdpDissector, [{ dir: 0, data: q1 }])
    expect(lost[0]!.error?.type).toBe('timeout')
  })

  it('compression loops, forward pointers and oversized names are rejected', () => {
    // A name that points at itself (RFC 1035 §4.1.4 pointers must point to a prior occurrence).
    const loop = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])
    expect(readName(loop, 12)).toBeUndefined()
    expect(parseDns(loop)!.malformed).toBe(true)
    // 40 labels of 63 bytes: beyond 255 octets.
    const long = Uint8Array.from([
      ...Array.from({ length: 40 }, () => [63, ...new Array<number>(63).fill(0x61)]).flat(),
      0,
    ])
    expect(readName(long, 0)).toBeUndefined()
    // Many pending queries: bounded by maxPendingRequests.
    const many: Chunk[] = Array.from({ length: 100 }, (_, i) => ({
      dir: 0,
      data: query(i, 'x.test', 1),
    }))
    const calls = feed(dnsUdpDissector, many)
    expect(calls.length).toBe(100)
    expect(calls.filter((c) => c.error?.type === 'pair-not-found').length).toBe(100 - 32)
  })
})
