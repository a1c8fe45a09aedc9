import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Direction } from '@tapwire/reassembly'
import type { CallRecord, Dissector, DissectorSession, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { postgresqlDissector, splitTag } from './postgresql-dissector.js'

// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded. FUZZ_RUNS=n or FUZZ_SECONDS=s make the runs longer.
const RUNS = Number(process.env['FUZZ_RUNS'] ?? (process.env['FUZZ_SECONDS'] ? 1e9 : 150))
const LIMIT_MS = process.env['FUZZ_SECONDS']
  ? Number(process.env['FUZZ_SECONDS']) * 1000
  : undefined
const params = { numRuns: RUNS, ...(LIMIT_MS ? { interruptAfterTimeLimit: LIMIT_MS } : {}) }

interface Chunk {
  dir: Direction
  data: Uint8Array
}

function session(
  d: Dissector,
  transport: 'tcp' | 'udp' = d.transport
): { s: DissectorSession; calls: CallRecord[] } {
  const calls: CallRecord[] = []
  const ctx: SessionContext = {
    conn: {
      id: 1,
      transport,
      client: { ip: '10.0.0.1', port: 40000 },
      server: { ip: '10.0.0.2', port: 5000 },
    },
    limits: { ...DEFAULT_DISSECTOR_LIMITS, maxPendingRequests: 32 },
    emit: (c) => void calls.push(c),
    upgrade: () => undefined,
  }
  return { s: d.newSession(ctx), calls }
}

function feed(d: Dissector, chunks: Chunk[]): CallRecord[] {
  const { s, calls } = session(d)
  let ts = 1_000
  for (const c of chunks) {
    s.onData(c.dir, c.data, ts)
    ts += 7
    if (ts % 5 === 0) s.onTick?.(ts)
  }
  s.onTick?.(ts + 60_000)
  s.onClose(ts + 60_001)
  return calls
}

/** Splits each seed message at random points and flips random bytes. */
const mutated = (seeds: Chunk[][]) =>
  fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.boolean()
    )
    .map(([seed, flips, cuts, truncate]) => {
      const out: Chunk[] = []
      seed.forEach((c, idx) => {
        const data = c.data.slice()
        for (const [pos, b] of flips)
          if (data.length > 0 && pos % seed.length === idx) data[(pos >> 3) % data.length] = b
        const points = [...new Set(cuts.map((x) => x % (data.length + 1)))].sort((a, b) => a - b)
        let prev = 0
        for (const p of [...points, data.length]) {
          if (p > prev) out.push({ dir: c.dir, data: data.subarray(prev, p) })
          prev = p
        }
      })
      return truncate && out.length > 1 ? out.slice(0, out.length - 1) : out
    })

const randomChunks = fc.array(
  fc.record({ dir: fc.constantFrom<Direction>(0, 1), data: fc.uint8Array({ maxLength: 300 }) }),
  { maxLength: 30 }
)

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
