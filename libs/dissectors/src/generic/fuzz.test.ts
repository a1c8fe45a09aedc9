import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Direction } from '@tapwire/reassembly'
import type { CallRecord, Dissector, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { amqpDissector } from '../amqp/amqp-dissector.js'
import { kafkaDissector } from '../kafka/kafka-dissector.js'
import { mongodbDissector } from '../mongodb/mongodb-dissector.js'
import { tlsDissector } from '../tls/tls-dissector.js'
import { genericTcpDissector, genericUdpDissector } from './generic-dissector.js'

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300)
const limits = { ...DEFAULT_DISSECTOR_LIMITS, maxBodyBytes: 512, maxPendingRequests: 8 }

function session(d: Dissector): {
  feed: (dir: Direction, b: Uint8Array, ts: number) => void
  gap: (dir: Direction, n: number) => void
  close: () => void
  calls: CallRecord[]
} {
  const calls: CallRecord[] = []
  const ctx: SessionContext = {
    conn: {
      id: 1,
      transport: d.transport,
      client: { ip: '10.0.0.1', port: 40000 },
      server: { ip: '10.0.0.2', port: 9092 },
    },
    limits,
    emit: (c) => calls.push(c),
    upgrade: () => undefined,
  }
  const s = d.newSession(ctx)
  return {
    feed: (dir, b, ts) => s.onData(dir, b, ts),
    gap: (dir, n) => s.onGap(dir, n, 0),
    close: () => {
      s.onTick?.(1e12)
      s.onClose(1e12)
    },
    calls,
  }
}

const le32 = (n: number): number[] => [
  n & 0xff,
  (n >> 8) & 0xff,
  (n >> 16) & 0xff,
  (n >>> 24) & 0xff,
]
const be32 = (n: number): number[] => [
  (n >>> 24) & 0xff,
  (n >> 16) & 0xff,
  (n >> 8) & 0xff,
  n & 0xff,
]
const te = (s: string): number[] => [...new TextEncoder().encode(s)]

/** A valid message of each protocol, to be mutated: fuzzing from valid inputs reaches deep parsers. */
const SEEDS: Record<string, number[]> = {
  kafka: (() => {
    const body = [
      0,
      0,
      0,
      3,
      0,
      0,
      0,
      7,
      0,
      4,
      ...te('test'),
      0xff,
      0xff,
      0,
      1,
      0,
      0,
      0x75,
      0x30,
      0,
      0,
      0,
      1,
      0,
      6,
      ...te('orders'),
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]
    return [...be32(body.length), ...body]
  })(),
  mongodb: (() => {
    const doc = [
      ...te('\x02insert\x00'),
      ...le32(7),
      ...te('orders\x00'),
      ...te('\x02$db\x00'),
      ...le32(5),
      ...te('shop\x00'),
      0,
    ]
    const bson = [...le32(doc.length + 4), ...doc]
    const body = [...le32(1), ...le32(0), ...le32(2013), 0, 0, 0, 0, 0, ...bson]
    return [...le32(body.length + 4), ...body]
  })(),
  amqp: (() => {
    const args = [0, 60, 0, 40, 0, 0, 6, ...te('orders'), 3, ...te('a.b'), 0]
    return [...te('AMQP'), 0, 0, 9, 1, 1, 0, 1, ...be32(args.length), ...args, 0xce]
  })(),
  tls: (() => {
    const sni = [0, 0, 0, 14, 0, 12, 0, 0, 9, ...te('localhost')]
    const alpn = [0, 16, 0, 5, 0, 3, 2, ...te('h2')]
    const exts = [...sni, ...alpn]
    const hello = [
      3,
      3,
      ...new Array<number>(32).fill(7),
      0,
      0,
      4,
      0x13,
      0x01,
      0xc0,
      0x2f,
      1,
      0,
      0,
      exts.length,
      ...exts,
    ]
    const hs = [1, 0, 0, hello.length, ...hello]
    return [0x16, 3, 1, 0, hs.length, ...hs]
  })(),
  tcp: te('\x00hello'),
  udp: te('metric:1|c'),
}

const DISSECTORS = [
  kafkaDissector,
  mongodbDissector,
  amqpDissector,
  tlsDissector,
  genericTcpDissector,
  genericUdpDissector,
]

const chunkArb = fc.record({
  dir: fc.constantFrom<Direction>(0, 1),
  bytes: fc.uint8Array({ maxLength: 300 }),
  gap: fc.nat(5000),
  isGap: fc.boolean(),
})

describe('fuzzing the Kafka, MongoDB, AMQP, TLS and fallback sessions', () => {
  for (const d of DISSECTORS) {
    it(`${d.id}: random chunks never throw and stay bounded`, () => {
      fc.assert(
        fc.property(fc.array(chunkArb, { maxLength: 40 }), (chunks) => {
          const s = session(d)
          let ts = 0
          for (const c of chunks) {
            if (c.isGap && d.transport === 'tcp') s.gap(c.dir, c.gap)
            else s.feed(c.dir, c.bytes, ts++)
          }
          s.close()
          for (const call of s.calls) {
            expect((call.reqBody?.length ?? 0) <= limits.maxBodyBytes * 40).toBe(true)
            expect((call.respBody?.length ?? 0) <= limits.maxBodyBytes * 40).toBe(true)
          }
          expect(s.calls.length).toBeLessThanOrEqual(chunks.length * 300 + 1)
        }),
        { numRuns: RUNS }
      )
    })

    it(`${d.id}: mutated valid messages, split anywhere, never throw`, () => {
      const seed = SEEDS[d.id]!
      fc.assert(
        fc.property(
          fc.array(
            fc.record({ at: fc.nat(seed.length - 1), value: fc.integer({ min: 0, max: 255 }) }),
            { maxLength: 6 }
          ),
          fc.array(fc.nat(seed.length), { maxLength: 4 }),
          fc.nat(3),
          fc.constantFrom<Direction>(0, 1),
          (mutations, cuts, repeat, dir) => {
            const msg = Uint8Array.from(seed)
            for (const m of mutations) msg[m.at] = m.value
            const stream = new Uint8Array(msg.length * (repeat + 1))
            for (let i = 0; i <= repeat; i++) stream.set(msg, i * msg.length)
            const points = [
              ...new Set([0, ...cuts.map((c) => c % stream.length), stream.length]),
            ].sort((a, b) => a - b)
            const s = session(d)
            for (let i = 0; i + 1 < points.length; i++)
              s.feed(dir, stream.subarray(points[i], points[i + 1]), i)
            s.feed((1 - dir) as Direction, msg, 100)
            s.close()
          }
        ),
        { numRuns: RUNS }
      )
    })
  }

  it('pending requests stay bounded: a flood of unanswered requests reports the overflow', () => {
    const s = session(kafkaDissector)
    const seed = Uint8Array.from(SEEDS['kafka']!)
    for (let i = 0; i < 100; i++) {
      const m = seed.slice()
      new DataView(m.buffer).setInt32(8, i) // correlation id
      s.feed(0, m, i)
    }
    expect(s.calls.filter((c) => c.error?.type === 'pair-not-found').length).toBe(
      100 - limits.maxPendingRequests
    )
    s.close()
    expect(s.calls.length).toBe(100)
  })

  it('the valid seeds decode as expected', () => {
    const k = session(kafkaDissector)
    k.feed(0, Uint8Array.from(SEEDS['kafka']!), 0)
    k.close()
    expect(k.calls[0]).toMatchObject({ method: 'PRODUCE', path: 'orders' })
    const m = session(mongodbDissector)
    m.feed(0, Uint8Array.from(SEEDS['mongodb']!), 0)
    m.close()
    expect(m.calls[0]).toMatchObject({ method: 'insert', path: 'orders' })
    const a = session(amqpDissector)
    a.feed(0, Uint8Array.from(SEEDS['amqp']!), 0)
    a.close()
    expect(a.calls[0]).toMatchObject({ method: 'basic.publish', path: 'a.b' })
    const t = session(tlsDissector)
    t.feed(0, Uint8Array.from(SEEDS['tls']!), 0)
    t.close()
    expect(t.calls[0]).toMatchObject({ method: 'ClientHello', path: 'localhost' })
    for (const d of [kafkaDissector, mongodbDissector, amqpDissector, tlsDissector]) {
      expect(
        d.probe(Uint8Array.from(SEEDS[d.id]!), 0, {
          id: 1,
          transport: 'tcp',
          client: { ip: 'a', port: 1 },
          server: { ip: 'b', port: 2 },
        })
      ).toBe('match')
    }
  })
})
