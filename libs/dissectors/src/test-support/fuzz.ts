import fc from 'fast-check'
import { expect, it } from 'vitest'
import type { Direction } from '@tapwire/reassembly'
import type { CallRecord, Dissector, DissectorSession, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'

/**
 * The fuzz harness the dissectors' property tests share (test support, not part of the lib's
 * surface): a session fed chunks in both directions, random chunk sequences, and mutations
 * (random splits, byte flips, truncation) of well-formed conversations.
 */
// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded. FUZZ_RUNS=n or FUZZ_SECONDS=s make the runs longer.
export const RUNS = Number(process.env['FUZZ_RUNS'] ?? (process.env['FUZZ_SECONDS'] ? 1e9 : 150))
const LIMIT_MS = process.env['FUZZ_SECONDS']
  ? Number(process.env['FUZZ_SECONDS']) * 1000
  : undefined
export const params = { numRuns: RUNS, ...(LIMIT_MS ? { interruptAfterTimeLimit: LIMIT_MS } : {}) }

export interface Chunk {
  dir: Direction
  data: Uint8Array
}

export function session(
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
    count: () => undefined,
    upgrade: () => undefined,
  }
  return { s: d.newSession(ctx), calls }
}

export function feed(d: Dissector, chunks: Chunk[]): CallRecord[] {
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
export const mutated = (seeds: Chunk[][]) =>
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

export const randomChunks = fc.array(
  fc.record({ dir: fc.constantFrom<Direction>(0, 1), data: fc.uint8Array({ maxLength: 300 }) }),
  { maxLength: 30 }
)

/** Bounds the properties below assert on every emitted call. */
export const FUZZ_LIMITS = { ...DEFAULT_DISSECTOR_LIMITS, maxBodyBytes: 512, maxPendingRequests: 8 }

const gapChunks = fc.array(
  fc.record({
    dir: fc.constantFrom<Direction>(0, 1),
    bytes: fc.uint8Array({ maxLength: 300 }),
    gap: fc.nat(5000),
    isGap: fc.boolean(),
  }),
  { maxLength: 40 }
)

/**
 * The two properties every session dissector is fuzzed with, each in its own suite so that
 * `npm run fuzz` gives every dissector its own time budget:
 * - random chunks in both directions, interleaved with gaps (lost segments), never throw, and
 *   every body stays within the body limit;
 * - mutated well-formed conversations (bytes flipped, split anywhere, truncated) never throw, and
 *   calls stay bounded by the bytes fed.
 * `init` is what an upgrade would hand the session (WebSocket is only reached through one).
 */
export function fuzzSession(d: Dissector, seeds: Chunk[][], init?: unknown): void {
  const open = (): { s: DissectorSession; calls: CallRecord[] } => {
    const calls: CallRecord[] = []
    const ctx: SessionContext = {
      conn: {
        id: 1,
        transport: d.transport,
        client: { ip: '10.0.0.1', port: 40000 },
        server: { ip: '10.0.0.2', port: 5000 },
      },
      limits: FUZZ_LIMITS,
      emit: (c) => void calls.push(c),
      count: () => undefined,
      upgrade: () => undefined,
    }
    return { s: d.newSession(ctx, init), calls }
  }
  const bounded = (calls: CallRecord[], fed: number): void => {
    for (const c of calls) {
      expect(c.reqBody?.length ?? 0).toBeLessThanOrEqual(FUZZ_LIMITS.maxBodyBytes * 40)
      expect(c.respBody?.length ?? 0).toBeLessThanOrEqual(FUZZ_LIMITS.maxBodyBytes * 40)
    }
    expect(calls.length).toBeLessThanOrEqual(fed + 1)
  }

  it(`${d.id}: random chunks and gaps never throw; bodies and calls stay bounded`, () => {
    fc.assert(
      fc.property(gapChunks, (chunks) => {
        const { s, calls } = open()
        let ts = 1_000
        let fed = 0
        for (const c of chunks) {
          if (c.isGap && d.transport === 'tcp') s.onGap(c.dir, c.gap, ts)
          else {
            s.onData(c.dir, c.bytes, ts)
            fed += c.bytes.length
          }
          ts += 3
        }
        s.onTick?.(ts + 60_000)
        s.onClose(ts + 60_001)
        bounded(calls, fed)
      }),
      params
    )
  })

  it(`${d.id}: mutated conversations never throw; calls bounded by the bytes fed`, () => {
    fc.assert(
      fc.property(mutated(seeds), (chunks) => {
        const { s, calls } = open()
        let ts = 1_000
        for (const c of chunks) s.onData(c.dir, c.data, (ts += 7))
        s.onTick?.(ts + 60_000)
        s.onClose(ts + 60_001)
        bounded(
          calls,
          chunks.reduce((n, c) => n + c.data.length, 0)
        )
      }),
      params
    )
  })
}

/** The connection a content probe is asked about in fuzz seed checks. */
export const PROBE_CONN = {
  id: 1,
  transport: 'tcp' as const,
  client: { ip: '10.0.0.1', port: 40000 },
  server: { ip: '10.0.0.2', port: 5000 },
}
