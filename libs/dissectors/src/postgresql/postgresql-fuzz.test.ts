import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Chunk } from '../test-support/fuzz.js'
import { feed, mutated, params, randomChunks, session } from '../test-support/fuzz.js'
import { postgresqlDissector, splitTag } from './postgresql-dissector.js'

// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded (harness in ../test-support/fuzz.ts).

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
void enc

const int32 = (n: number): number[] => [
  (n >>> 24) & 255,
  (n >>> 16) & 255,
  (n >>> 8) & 255,
  n & 255,
]
const msg = (type: string, ...parts: (string | number[])[]): Uint8Array => {
  const body = parts.flatMap((p) => (typeof p === 'string' ? [...enc(p), 0] : p))
  return Uint8Array.from([type.charCodeAt(0), ...int32(body.length + 4), ...body])
}
const startup = (): Uint8Array => {
  const body = [...int32(196608), ...enc('user\0tapwire\0database\0appdb\0\0')]
  return Uint8Array.from([...int32(body.length + 4), ...body])
}
const sslRequest = Uint8Array.from([0, 0, 0, 8, ...int32(80877103)])
const ready = msg('Z', [0x49])
const seeds: Chunk[][] = [
  [
    { dir: 0, data: sslRequest },
    { dir: 1, data: enc('N') },
    { dir: 0, data: startup() },
    {
      dir: 1,
      data: Uint8Array.from([...msg('R', int32(0)), ...msg('S', 'server_version', '15'), ...ready]),
    },
    { dir: 0, data: msg('Q', 'SELECT 1; SELECT 2') },
    {
      dir: 1,
      data: Uint8Array.from([
        ...msg('T', [0, 1], 'x', int32(0), [0, 0], int32(23), [0, 4], int32(-1), [0, 0]),
        ...msg('D', [0, 1], int32(1), [0x31]),
        ...msg('C', 'SELECT 1'),
        ...msg('C', 'SELECT 1'),
        ...ready,
      ]),
    },
  ],
  [
    { dir: 0, data: startup() },
    { dir: 1, data: ready },
    {
      dir: 0,
      data: Uint8Array.from([
        ...msg('P', 's1', 'SELECT $1', [0, 0]),
        ...msg('B', '', 's1', [0, 0, 0, 0, 0, 0]),
        ...msg('D', [0x50], ''),
        ...msg('E', '', int32(0)),
        ...msg('S'),
      ]),
    },
    {
      dir: 1,
      data: Uint8Array.from([
        ...msg('1'),
        ...msg('2'),
        ...msg('n'),
        ...msg('C', 'SELECT 1'),
        ...ready,
      ]),
    },
    {
      dir: 0,
      data: Uint8Array.from([
        ...msg('P', '', 'SELEC', [0, 0]),
        ...msg('B', '', '', [0, 0, 0, 0, 0, 0]),
        ...msg('E', '', int32(0)),
        ...msg('S'),
      ]),
    },
    {
      dir: 1,
      data: Uint8Array.from([
        ...msg('E', [0x53], 'ERROR', [0x43], '42601', [0x4d], 'syntax error', []),
        ...ready,
      ]),
    },
  ],
]

describe('PostgreSQL fuzzing', () => {
  it('random bytes never throw', () => {
    fc.assert(
      fc.property(randomChunks, (chunks) => void feed(postgresqlDissector, chunks)),
      params
    )
  })

  it('mutated conversations never throw; calls bounded by messages', () => {
    fc.assert(
      fc.property(mutated(seeds), (chunks) => {
        const calls = feed(postgresqlDissector, chunks)
        expect(calls.length).toBeLessThanOrEqual(chunks.reduce((n, c) => n + c.data.length, 0))
      }),
      params
    )
  })

  it('seeds decode: startup, multi-statement Q, named Parse/Execute, aborted batch', () => {
    const calls = seeds.flatMap((s) => feed(postgresqlDissector, s))
    expect(calls.map((c) => `${c.method}|${c.path}|${c.status}`)).toEqual([
      'Startup|appdb|0',
      'SELECT;SELECT|SELECT 1; SELECT 2|0',
      'Startup|appdb|0',
      'SELECT|SELECT $1|0',
      'Execute|SELEC|1',
    ])
    expect(splitTag('INSERT 0 5')).toEqual({ verb: 'INSERT', rows: 5 })
    expect(splitTag('CREATE TABLE')).toEqual({ verb: 'CREATE TABLE', rows: 0 })
  })

  it('keeps memory bounded on a 64 MiB message streamed in pieces', () => {
    const { s, calls } = session(postgresqlDissector)
    s.onData(0, startup(), 0)
    s.onData(1, ready, 1)
    const before = process.memoryUsage().heapUsed
    const chunk = new Uint8Array(1 << 20).fill(0x20)
    s.onData(0, Uint8Array.from([0x51, ...int32((64 << 20) + 5), ...enc('SELECT')]), 2)
    for (let i = 0; i < 64; i++) s.onData(0, chunk, 3)
    s.onData(0, Uint8Array.from([0x31, 0]), 4)
    s.onData(1, Uint8Array.from([...msg('C', 'SELECT 1'), ...ready]), 5)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20)
    const q = calls.find((c) => c.method === 'SELECT')!
    expect(q.path!.length).toBeLessThanOrEqual(4097)
    expect(q.reqBodySize).toBe((64 << 20) + 6)
  })
})

describe('PostgreSQL after a capture gap', () => {
  // pgbench over a lossy capture: the framing comes back at the next segment that starts a
  // message, as tshark's per-segment decoding does, instead of losing the rest of the connection.
  const answer = (tag: string): Uint8Array => Uint8Array.from([...msg('C', tag), ...ready])
  it('resyncs on the next segment that starts a message; the query in flight reports the gap', () => {
    const { s, calls } = session(postgresqlDissector)
    s.onData(0, startup(), 1)
    s.onData(1, Uint8Array.from([...msg('R', int32(0)), ...ready]), 2)
    s.onData(0, msg('Q', 'SELECT 1'), 3)
    s.onData(1, answer('SELECT 1'), 4)
    s.onData(0, msg('Q', 'UPDATE a SET b = 1'), 5)
    // The answer's first segment is lost; the rest of it starts mid-message and is skipped.
    s.onGap(1, 100, 6)
    s.onData(1, Uint8Array.from([0x31, 0x00, ...ready]), 7)
    s.onData(0, msg('Q', 'SELECT 3'), 8)
    s.onData(1, answer('SELECT 1'), 9)
    // A gap on the client side too: the framing comes back at the next query.
    s.onGap(0, 50, 10)
    s.onData(0, Uint8Array.from([0x20, 0x31, 0x00]), 11)
    s.onData(0, msg('Q', 'DELETE FROM a'), 12)
    s.onData(1, answer('DELETE 2'), 13)
    s.onClose(14)
    expect(calls.map((c) => `${c.path} ${c.error?.message ?? 'ok'}`)).toEqual([
      'appdb ok',
      'SELECT 1 ok',
      'UPDATE a SET b = 1 capture gap',
      'SELECT 3 ok',
      'DELETE FROM a ok',
    ])
  })

  it('gives the connection up when the gap falls in the startup phase (nothing to resync on)', () => {
    const { s, calls } = session(postgresqlDissector)
    s.onData(0, sslRequest, 1)
    s.onGap(1, 1, 2)
    s.onData(0, msg('Q', 'SELECT 1'), 3)
    s.onData(1, answer('SELECT 1'), 4)
    s.onClose(5)
    // Only the SSLRequest, reported with the gap; nothing after it is read.
    expect(calls.map((c) => c.error?.message)).toEqual(['capture gap'])
  })
})
