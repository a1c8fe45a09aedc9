import fc from 'fast-check'
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
