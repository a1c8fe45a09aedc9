import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Chunk } from '../test-support/fuzz.js'
import { feed, mutated, params, randomChunks, session } from '../test-support/fuzz.js'
import { mysqlDissector } from './mysql-dissector.js'

// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded (harness in ../test-support/fuzz.ts).

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
void enc

const packet = (seq: number, payload: number[] | Uint8Array): Uint8Array => {
  const p = [...payload]
  return Uint8Array.from([p.length & 255, (p.length >> 8) & 255, p.length >> 16, seq, ...p])
}
const greeting = packet(0, [
  10,
  ...enc('10.11.6-MariaDB\0'),
  1,
  0,
  0,
  0,
  ...new Array<number>(8).fill(0x41),
  0,
  0xff,
  0xf7,
  33,
  2,
  0,
  0xff,
  0x81,
  21,
  ...new Array<number>(10).fill(0),
  ...new Array<number>(12).fill(0x42),
  0,
  ...enc('mysql_native_password\0'),
])
const login = packet(1, [
  0x0d,
  0xa2,
  0x0a,
  0x00,
  0,
  0,
  0,
  1,
  33,
  ...new Array<number>(23).fill(0),
  ...enc('tapwire\0'),
  20,
  ...new Array<number>(20).fill(7),
  ...enc('appdb\0mysql_native_password\0'),
])
const ok = (seq: number): Uint8Array => packet(seq, [0, 0, 0, 2, 0, 0, 0])
const eof = (seq: number): Uint8Array => packet(seq, [0xfe, 0, 0, 2, 0])
const column = (seq: number): Uint8Array =>
  packet(seq, [
    3,
    ...enc('def'),
    0,
    0,
    0,
    1,
    0x61,
    1,
    0x61,
    0x0c,
    33,
    0,
    11,
    0,
    0,
    0,
    3,
    0,
    0,
    0,
    0,
    0,
  ])
const seeds: Chunk[][] = [
  [
    { dir: 1, data: greeting },
    { dir: 0, data: login },
    { dir: 1, data: ok(2) },
    { dir: 0, data: packet(0, [3, ...enc('SELECT a FROM t')]) },
    {
      dir: 1,
      data: Uint8Array.from([
        ...packet(1, [1]),
        ...column(2),
        ...eof(3),
        ...packet(4, [1, 0x31]),
        ...packet(5, [1, 0x32]),
        ...eof(6),
      ]),
    },
    { dir: 0, data: packet(0, [0x16, ...enc('SELECT ?')]) },
    {
      dir: 1,
      data: Uint8Array.from([
        ...packet(1, [0, 7, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0]),
        ...column(2),
        ...eof(3),
        ...column(4),
        ...eof(5),
      ]),
    },
    {
      dir: 0,
      data: packet(0, [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
    },
    {
      dir: 1,
      data: Uint8Array.from([
        ...packet(1, [1]),
        ...column(2),
        ...eof(3),
        ...packet(4, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
        ...eof(5),
      ]),
    },
    { dir: 0, data: packet(0, [0x19, 7, 0, 0, 0]) },
    { dir: 0, data: packet(0, [0x03, ...enc('SELECT * FROM nope')]) },
    {
      dir: 1,
      data: packet(1, [0xff, 0x7a, 0x04, 0x23, ...enc("42S02Table 'nope' doesn't exist")]),
    },
    { dir: 0, data: packet(0, [0x01]) },
  ],
]

describe('MySQL fuzzing', () => {
  it('random bytes never throw', () => {
    fc.assert(
      fc.property(randomChunks, (chunks) => void feed(mysqlDissector, chunks)),
      params
    )
  })

  it('mutated conversations never throw; calls bounded by packets', () => {
    fc.assert(
      fc.property(mutated(seeds), (chunks) => {
        const calls = feed(mysqlDissector, chunks)
        expect(calls.length).toBeLessThanOrEqual(chunks.reduce((n, c) => n + c.data.length, 0))
      }),
      params
    )
  })

  it('seeds decode: handshake, result set, prepare/execute/close, error, quit', () => {
    const calls = feed(mysqlDissector, seeds[0]!)
    expect(calls.map((c) => `${c.method}|${c.path}|${c.status}|${c.error?.type ?? ''}`)).toEqual([
      'Handshake|appdb|0|',
      'COM_QUERY|SELECT a FROM t|0|',
      'COM_STMT_PREPARE|SELECT ?|0|',
      'COM_STMT_EXECUTE|SELECT ?|0|',
      'COM_STMT_CLOSE|SELECT ?|0|',
      'COM_QUERY|SELECT * FROM nope|1|',
      'COM_QUIT||0|',
    ])
    expect(calls[1]!.summary).toContain('2 rows')
    expect(calls[3]!.summary).toContain('1 rows')
  })

  it('keeps memory bounded on a 48 MiB multi-packet query', () => {
    const { s, calls } = session(mysqlDissector)
    s.onData(1, greeting, 0)
    s.onData(0, login, 1)
    s.onData(1, ok(2), 2)
    const before = process.memoryUsage().heapUsed
    const full = new Uint8Array(0xffffff).fill(0x20)
    full[0] = 3
    s.onData(0, Uint8Array.from([0xff, 0xff, 0xff, 0]), 3)
    s.onData(0, full, 3)
    for (let i = 1; i < 3; i++) {
      s.onData(0, Uint8Array.from([0xff, 0xff, 0xff, i]), 3)
      s.onData(0, full.subarray(1).subarray(0, 0xffffff - 1), 3)
      s.onData(0, Uint8Array.from([0x20]), 3)
    }
    s.onData(0, packet(3, []), 4)
    s.onData(1, ok(4), 5)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(40 << 20)
    const q = calls.find((c) => c.method === 'COM_QUERY')!
    expect(q.reqBodySize).toBe(3 * (0xffffff + 4) + 4)
    expect(q.path!.length).toBeLessThanOrEqual(4097)
  })
})
