import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodePacket, LinkType, newDecodedPacket } from '@tapwire/packet'
import { FlowTable } from '@tapwire/reassembly'
import { DissectorEngine } from '../engine/engine.js'
import { attr, concatBytes, frame, recordingContext } from '../websocket/test-support.js'
import { websocketDissector } from '../websocket/websocket-dissector.js'
import { http1Dissector } from './http1-dissector.js'
import { MessageParser } from './message-parser.js'

// Short by default (CI); FUZZ_RUNS=100000 (or FUZZ_SECONDS=600) runs longer.
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 150)
const SECONDS = Number(process.env['FUZZ_SECONDS'] ?? 0)
const params =
  SECONDS > 0
    ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: SECONDS * 1000 }
    : { numRuns: RUNS }

const enc = new TextEncoder()
const SAMPLES = [
  'GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n',
  'HTTP/1.0 200 OK\r\n\r\nread until close',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi',
]

/** A sample with random byte flips, insertions and cuts. */
const mutated = fc
  .tuple(
    fc.constantFrom(...SAMPLES),
    fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.boolean()), { maxLength: 8 })
  )
  .map(([s, edits]) => {
    const b = Array.from(enc.encode(s.repeat(2)))
    for (const [i, v, insert] of edits) {
      if (insert) b.splice(i % (b.length + 1), 0, v)
      else if (b.length > 0) b[i % b.length] = v
    }
    return new Uint8Array(b)
  })
const stream = fc.oneof(mutated, fc.uint8Array({ maxLength: 400 }))
/** Cut points for splitting a stream into segments. */
const cuts = fc.array(fc.nat(), { maxLength: 10 })

function split(data: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((c) => c % (data.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of [...points, data.length]) {
    out.push(data.subarray(prev, p))
    prev = p
  }
  return out
}

describe('HTTP/1 fuzz', () => {
  it('MessageParser never throws, stays bounded and reports consistent body sizes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'request' | 'response'>('request', 'response'),
        stream,
        cuts,
        fc.option(fc.nat(300)),
        (kind, data, at, gapAt) => {
          let body = 0
          const p = new MessageParser(kind, 256, {
            onHead: () => ({ kind: 'chunked' }),
            onBody: (c) => (body += c.length),
            onBodyGap: (n) => (body += n),
            onComplete: () => {},
            onError: () => {},
          })
          for (const [i, seg] of split(data, at).entries()) {
            if (gapAt !== null && i === 1) p.gap(gapAt)
            const used = p.push(seg, i)
            expect(used).toBeLessThanOrEqual(seg.length)
          }
          p.close(99)
          expect(body).toBeLessThanOrEqual(data.length + 300)
        }
      ),
      params
    )
  })

  it('the HTTP/1 session (with its WebSocket upgrade) never throws on mutated traffic', () => {
    fc.assert(
      fc.property(
        stream,
        stream,
        cuts,
        fc.array(fc.tuple(fc.boolean(), fc.nat(100)), { maxLength: 3 }),
        (req, resp, at, gaps) => {
          const { ctx, calls } = recordingContext([http1Dissector, websocketDissector], {
            maxBodyBytes: 64,
            maxPendingRequests: 4,
            responseTimeoutMs: 5,
          })
          const s = http1Dissector.newSession(ctx)
          const a = split(req, at)
          const b = split(resp, at)
          for (let i = 0; i < Math.max(a.length, b.length); i++) {
            if (a[i]) s.onData(0, a[i]!, i)
            if (b[i]) s.onData(1, b[i]!, i)
            const g = gaps[i]
            if (g) s.onGap(g[0] ? 0 : 1, g[1], i)
            s.onTick?.(i)
          }
          s.onClose(100)
          for (const c of calls)
            expect((c.reqBody?.length ?? 0) + (c.respBody?.length ?? 0)).toBeLessThanOrEqual(128)
        }
      ),
      params
    )
  })

  it('the WebSocket session never throws and keeps previews bounded', () => {
    const frameArb = fc.record({
      opcode: fc.constantFrom(0, 1, 2, 8, 9, 10, 3, 11),
      payload: fc.uint8Array({ maxLength: 300 }),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
      mask: fc.option(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), {
        nil: undefined,
      }),
      lengthBits: fc.option(fc.constantFrom(7 as const, 16 as const, 64 as const), {
        nil: undefined,
      }),
    })
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 12 }),
        cuts,
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
        (frames, at, flips) => {
          const { ctx, calls } = recordingContext([websocketDissector], { maxBodyBytes: 100 })
          const s = websocketDissector.newSession(ctx, {
            request: { target: '/ws', headers: [] },
            requestTs: 0,
            response: {
              headers: [{ name: 'Sec-WebSocket-Extensions', value: 'permessage-deflate' }],
            },
          })
          const bytes = concatBytes(
            ...frames.map((f) =>
              frame({
                ...f,
                lengthBits: f.lengthBits === 7 && f.payload.length > 125 ? undefined : f.lengthBits,
              })
            )
          )
          for (const [i, v] of flips) if (bytes.length > 0) bytes[i % bytes.length] = v
          for (const [i, seg] of split(bytes, at).entries()) s.onData((i % 2) as 0 | 1, seg, i)
          s.onClose(1)
          for (const c of calls) {
            expect((c.reqBody ?? c.respBody ?? new Uint8Array()).length).toBeLessThanOrEqual(100)
            expect(
              String(attr(c.attrs, 'ws_request_payload_data') ?? '').length
            ).toBeLessThanOrEqual(1024)
          }
        }
      ),
      params
    )
  })

  it('flow table + engine + HTTP/1 never throw on random segment sequences and respect the caps', () => {
    const limits = { maxBufferedPerConnection: 1000, maxBufferedTotal: 3000, maxConnections: 4 }
    const seg = fc.record({
      fromClient: fc.boolean(),
      port: fc.integer({ min: 40000, max: 40006 }),
      seq: fc.integer({ min: 0, max: 3000 }),
      ack: fc.integer({ min: 0, max: 3000 }),
      flags: fc.integer({ min: 0, max: 0x3f }),
      payload: stream,
    })
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 60 }), (segs) => {
        let id = 1
        const engine = new DissectorEngine({
          dissectors: [http1Dissector, websocketDissector],
          onCall: () => {},
        })
        const ft = new FlowTable({
          limits,
          nextId: () => id++,
          onConnection: (c) => engine.attach(c),
        })
        const d = newDecodedPacket()
        segs.forEach((s, ts) => {
          const b = new Uint8Array(40 + s.payload.length)
          b.set([
            0x45,
            0,
            b.length >> 8,
            b.length & 0xff,
            0,
            0,
            0,
            0,
            64,
            6,
            0,
            0,
            10,
            0,
            0,
            s.fromClient ? 1 : 2,
            10,
            0,
            0,
            s.fromClient ? 2 : 1,
          ])
          const [sp, dp] = s.fromClient ? [s.port, 80] : [80, s.port]
          b.set(
            [
              sp >> 8,
              sp & 0xff,
              dp >> 8,
              dp & 0xff,
              0,
              0,
              s.seq >> 8,
              s.seq & 0xff,
              0,
              0,
              s.ack >> 8,
              s.ack & 0xff,
              0x50,
              s.flags,
              0xff,
              0xff,
            ],
            20
          )
          b.set(s.payload, 40)
          decodePacket(LinkType.RAW, b, d)
          ft.process(d, ts)
          engine.tick(ts)
          expect(ft.size).toBeLessThanOrEqual(limits.maxConnections)
          expect(ft.stats.bufferedBytes).toBeLessThanOrEqual(limits.maxBufferedTotal + 1000)
        })
        ft.closeAll(1000)
        expect(ft.stats.bufferedBytes).toBe(0)
        expect(engine.stats.dissectorErrors).toBe(0)
      }),
      params
    )
  })
})
