import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CallRecord, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { params } from '../test-support/fuzz.js'
import { http2Dissector } from './http2-dissector.js'
import {
  concatBytes,
  dataFrame,
  Flag,
  frame,
  FrameType,
  grpcFrame,
  PREFACE,
  settingsFrame,
  TestHpackEncoder,
} from './test-support.js'

// HTTP/2 after capture gaps (lost TCP segments): frames are found again (resync.ts), HPACK goes on
// with what it can prove (hpack/decoder.ts), and no call ever carries a value the peers did not send.

type Step = [dir: 0 | 1, bytes: Uint8Array, ts: number]
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

function session() {
  const calls: CallRecord[] = []
  const ctx: SessionContext = {
    conn: {
      id: 1,
      transport: 'tcp',
      client: { ip: '127.0.0.1', port: 40000 },
      server: { ip: '127.0.0.1', port: 8080 },
    },
    limits: DEFAULT_DISSECTOR_LIMITS,
    emit: (c) => calls.push(c),
    count: () => undefined,
    upgrade: () => undefined,
  }
  return { s: http2Dissector.newSession(ctx), calls }
}

function headers(
  enc: TestHpackEncoder,
  id: number,
  fields: [string, string][],
  endStream: boolean
): Uint8Array {
  const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0)
  return frame(FrameType.HEADERS, flags, id, enc.encode(fields, id % 4 === 1))
}

interface Options {
  calls?: number
  /** The client indexes :path too (nghttp2 does not; some encoders do). */
  indexPath?: boolean
}

/**
 * A keep-alive connection with varied requests and responses whose headers both peers index, so
 * later blocks lean on the dynamic table (RFC 7541 §2.3). One segment per request and per
 * response, a request ahead of its response (two streams open at once).
 */
function conversation(opts: Options = {}): Step[] {
  const n = opts.calls ?? 40
  const cenc = new TestHpackEncoder(4096, opts.indexPath ? new Set() : new Set([':path']))
  const senc = new TestHpackEncoder(4096, new Set())
  const steps: Step[] = [
    [0, concatBytes([PREFACE, settingsFrame([[4, 65535]])]), 0],
    [1, concatBytes([settingsFrame([[3, 100]]), frame(FrameType.SETTINGS, Flag.ACK, 0)]), 1],
  ]
  const req = (i: number): Step => {
    const id = 2 * i + 1
    const post = i % 3 === 0
    const fields: [string, string][] = [
      [':method', post ? 'POST' : 'GET'],
      [':scheme', 'http'],
      [':path', opts.indexPath ? `/api/${['a', 'b', 'c'][i % 3]}` : `/api/items/${i}?q=${i % 7}`],
      [':authority', 'svc.ns:8080'],
      ['user-agent', 'gap-test/1.0'],
      ['x-tenant', `tenant-${i % 4}`],
      ['x-request-id', `r-${i}-${(i * 7919) % 10007}`],
    ]
    if (post) fields.push(['content-type', 'application/json'])
    const parts = [headers(cenc, id, fields, !post)]
    if (post) parts.push(dataFrame(id, JSON.stringify({ i, item: `widget-${i}` }), true))
    return [0, concatBytes(parts), 10 + 2 * i]
  }
  const resp = (i: number): Step => {
    const id = 2 * i + 1
    const body = JSON.stringify({ i, ok: true, pad: 'p'.repeat(i % 50) })
    return [
      1,
      concatBytes([
        headers(
          senc,
          id,
          [
            [':status', i % 11 === 5 ? '404' : '200'],
            ['content-type', 'application/json'],
            ['x-served-by', `node-${i % 3}`],
            ['date', `Mon, 01 Jan 2024 00:00:${String(Math.floor(i / 4)).padStart(2, '0')} GMT`],
          ],
          false
        ),
        dataFrame(id, body, true),
      ]),
      11 + 2 * i,
    ]
  }
  steps.push(req(0))
  for (let i = 0; i < n; i++) {
    if (i + 1 < n) steps.push(req(i + 1))
    steps.push(resp(i))
  }
  return steps
}

/**
 * Delivers `steps`, leaving out the octet ranges in `holes` (per direction, offsets into that
 * direction's bytes) the way the reassembly does: `onGap` with the hole's length, then the bytes
 * after it.
 */
function deliver(steps: Step[], holes: [number, number][][] = [[], []]) {
  const { s, calls } = session()
  const offset = [0, 0]
  const pendingGap = [0, 0]
  for (const [dir, bytes, ts] of steps) {
    let o = 0
    while (o < bytes.length) {
      const at = offset[dir]! + o
      const hole = holes[dir]!.find(([a, b]) => at >= a && at < b)
      if (hole) {
        const n = Math.min(hole[1], offset[dir]! + bytes.length) - at
        pendingGap[dir]! += n
        o += n
        continue
      }
      const next = holes[dir]!.filter(([a]) => a > at).reduce((m, [a]) => Math.min(m, a), Infinity)
      const end = Math.min(bytes.length, next - offset[dir]!)
      if (pendingGap[dir]! > 0) {
        s.onGap(dir, pendingGap[dir]!, ts)
        pendingGap[dir] = 0
      }
      s.onData(dir, bytes.subarray(o, end), ts)
      o = end
    }
    offset[dir]! += bytes.length
  }
  s.onClose(1e6)
  return { calls, stats: (s as unknown as { gapStats: Record<string, number | string> }).gapStats }
}

const key = (c: CallRecord) => `${c.method} ${c.url} ${c.status}`

/**
 * Every call agrees with the call without gaps that has its URL: same method and status where
 * known, only header fields that were sent; a call without an error is the same call. Returns
 * how many calls came back with method, URL and status.
 */
function compare(base: CallRecord[], calls: CallRecord[]): number {
  const byUrl = new Map(base.map((c) => [c.url, c]))
  const has = (
    list: CallRecord['reqHeaders'],
    h: { name?: string | null; value?: string | null }
  ) => (list ?? []).some((x) => x.name === h.name && x.value === h.value)
  let recovered = 0
  for (const c of calls) {
    if (c.url === '') {
      // Request headers lost: only flagged calls may lack them.
      expect(c.error?.type, JSON.stringify(c)).toBeDefined()
      continue
    }
    const b = byUrl.get(c.url)
    expect(b, c.url).toBeDefined()
    if (c.method !== '') expect(c.method).toBe(b!.method)
    if (c.status !== undefined) expect(c.status, c.url).toBe(b!.status)
    for (const h of c.reqHeaders ?? [])
      expect(has(b!.reqHeaders, h), `${c.url} ${h.name}`).toBe(true)
    for (const h of c.respHeaders ?? [])
      expect(has(b!.respHeaders, h), `${c.url} ${h.name}`).toBe(true)
    if (c.error === undefined && c.gaps === 0) {
      expect(c.reqHeaders).toEqual(b!.reqHeaders)
      expect(c.respHeaders).toEqual(b!.respHeaders)
      expect(text(c.respBody)).toBe(text(b!.respBody))
    }
    if (key(c) === key(b!)) recovered++
  }
  return recovered
}

const segmentOffsets = (steps: Step[], dir: 0 | 1): [number, number][] => {
  const out: [number, number][] = []
  let o = 0
  for (const [d, b] of steps) {
    if (d !== dir) continue
    out.push([o, o + b.length])
    o += b.length
  }
  return out
}

describe('HTTP/2 after capture gaps', () => {
  const steps = conversation()
  const base = deliver(steps).calls

  it('the conversation without gaps: every call, no errors, headers from the dynamic table', () => {
    expect(base.length).toBe(40)
    expect(base.every((c) => c.error === undefined && c.gaps === 0)).toBe(true)
    expect(base[39]!.reqHeaders).toContainEqual({ name: 'x-tenant', value: 'tenant-3' })
  })

  it('a lost request segment (HEADERS and DATA): the other calls come back', () => {
    const segs = segmentOffsets(steps, 0)
    for (let k = 2; k < segs.length - 1; k += 5) {
      const { calls, stats } = deliver(steps, [[segs[k]!], []])
      const recovered = compare(base, calls)
      expect(recovered, `request ${k} lost`).toBeGreaterThanOrEqual(base.length - 2)
      expect(stats).toMatchObject({ gaps: 1, resyncs: 1, resyncSkipped: 0 })
      // The lost request's response names a stream whose headers are unknown: flagged, no path.
      expect(calls.filter((c) => c.url === '').length).toBeLessThanOrEqual(1)
    }
  })

  it('a stream whose end was lost is reported once idle, not only when the connection closes', () => {
    const { s, calls } = session()
    const c = new TestHpackEncoder()
    const v = new TestHpackEncoder()
    const get = (id: number) =>
      headers(
        c,
        id,
        [
          [':method', 'GET'],
          [':path', `/watch/${id}`],
          [':scheme', 'http'],
        ],
        true
      )
    s.onData(0, concatBytes([PREFACE, settingsFrame()]), 0)
    s.onData(1, settingsFrame(), 0)
    s.onData(0, get(1), 1000)
    s.onData(1, headers(v, 1, [[':status', '200']], false), 1001)
    s.onData(1, dataFrame(1, 'event 1'), 2000)
    // The last DATA frame of stream 1 (END_STREAM) is lost whole; stream 3 goes on.
    s.onGap(1, dataFrame(1, 'event 2', true).length, 3000)
    s.onData(0, get(3), 3001)
    s.onData(
      1,
      concatBytes([headers(v, 3, [[':status', '200']], false), dataFrame(3, 'x', true)]),
      3002
    )
    expect(calls.map((c) => c.path)).toEqual(['/watch/3'])
    s.onTick!(3000 + 29_000)
    expect(calls.length).toBe(1)
    s.onTick!(3000 + 30_000)
    expect(calls.length).toBe(2)
    expect(calls[1]).toMatchObject({ path: '/watch/1', status: 200, gaps: 1 })
    expect(calls[1]!.error!.type).toBe('timeout')
    expect(calls[1]!.error!.message).toMatch(
      /^stream idle 30000 ms after a capture gap; capture gap: response bytes may be lost/
    )
  })

  it('a lost response segment: its call is reported with an error, the others come back', () => {
    const segs = segmentOffsets(steps, 1)
    for (let k = 2; k < segs.length - 1; k += 5) {
      const { calls } = deliver(steps, [[], [segs[k]!]])
      expect(compare(base, calls)).toBe(base.length - 1)
      const lost = calls.filter((c) => c.status === undefined)
      expect(lost.length).toBe(1)
      expect(lost[0]!.error!.message).toMatch(/connection closed before a response; capture gap/)
      expect(lost[0]!.gaps).toBe(1)
    }
  })

  it('holes that start and end mid-frame, in both directions', () => {
    const length = [0, 1].map((d) =>
      steps.filter(([dd]) => dd === d).reduce((n, [, b]) => n + b.length, 0)
    )
    let recovered = 0
    let runs = 0
    for (const [at, len] of [
      [0.1, 50],
      [0.25, 333],
      [0.5, 9],
      [0.6, 1],
      [0.8, 200],
    ] as const) {
      const [a, b] = [Math.floor(at * length[0]!), Math.floor(at * length[1]!) + 7]
      const { calls, stats } = deliver(steps, [[[a, a + len]], [[b, b + len]]])
      recovered += compare(base, calls)
      runs++
      expect(stats['gaps']).toBe(2)
    }
    // Each pair of holes costs the calls it cut, a few more for long holes.
    expect(recovered).toBeGreaterThanOrEqual(runs * (base.length - 6))
  })

  it('random holes never make it throw or report a value that was not sent', () => {
    const total = [0, 0]
    const bytes = [0, 1].map((d) =>
      steps.filter(([dd]) => dd === d).reduce((n, [, b]) => n + b.length, 0)
    )
    // Call i's request is dir-0 segment i + 1, its response dir-1 segment i + 1.
    const segs = [segmentOffsets(steps, 0), segmentOffsets(steps, 1)]
    const hit = (holes: [number, number][][], i: number) =>
      [0, 1].some((d) =>
        holes[d]!.some(([a, b]) => a < segs[d]![i + 1]![1] && b > segs[d]![i + 1]![0])
      )
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 1 }),
            fc.double({ min: 0.02, max: 1, noNaN: true }),
            fc.integer({ min: 1, max: 400 })
          ),
          { minLength: 1, maxLength: 4 }
        ),
        (spec) => {
          const holes: [number, number][][] = [[], []]
          for (const [d, at, len] of spec) {
            const a = Math.floor(at * bytes[d]!)
            holes[d]!.push([a, a + len])
          }
          const { calls } = deliver(steps, holes)
          const found = new Set(calls.map(key))
          compare(base, calls)
          base.forEach((b, i) => {
            if (hit(holes, i)) return
            total[1]!++
            if (found.has(key(b))) total[0]!++
          })
        }
      ),
      { ...params, numRuns: Math.max(params.numRuns, 300) }
    )
    // Calls no hole touched come back.
    expect(total[0]! / total[1]!).toBeGreaterThan(0.95)
  })

  it('a :path that referenced an entry lost in the gap: the call is kept, flagged, path unknown', () => {
    const indexed = conversation({ calls: 12, indexPath: true })
    const clean = deliver(indexed).calls
    expect(clean.every((c) => c.error === undefined)).toBe(true)
    // Request 1 inserted "/api/b"; requests 4, 7, 10 refer to it by index.
    const { calls } = deliver(indexed, [[segmentOffsets(indexed, 0)[2]!], []])
    const unknownPath = calls.filter((c) => c.url === '' && c.status !== undefined)
    expect(unknownPath.length).toBeGreaterThanOrEqual(1)
    for (const c of unknownPath) {
      expect(c.error!.type).toBe('dissection')
      expect(c.error!.message).toMatch(
        /header fields? unknown \(:path among them\): they referenced HPACK entries lost in the gap/
      )
    }
    // "/api/c" was first sent after the gap: it resolves. "/api/a" and "/api/b" stay unknown
    // until the table cycles (4096 octets), never guessed.
    expect(calls.filter((c) => c.url !== '').map((c) => c.url)).toEqual([
      '/api/a',
      '/api/c',
      '/api/c',
      '/api/c',
      '/api/c',
    ])
    expect(calls.length).toBe(11)
  })
})

describe('HTTP/2 after capture gaps, hostile bytes', () => {
  const steps = conversation({ calls: 6 })

  it('garbage after a hole never throws; after 1 MiB without a frame the connection is given up', () => {
    const { s, calls } = session()
    for (const [dir, bytes, ts] of steps.slice(0, 5)) s.onData(dir, bytes, ts)
    s.onGap(1, 30, 20)
    // 0xff octets: never a plausible frame header (type 0xff).
    const junk = new Uint8Array(100_000).fill(0xff)
    for (let i = 0; i < 11; i++) s.onData(1, junk, 21)
    const stats = (s as unknown as { gapStats: { gaveUp: string; resyncs: number } }).gapStats
    expect(stats.gaveUp).toMatch(/no HTTP\/2 frame boundary within 1048576 bytes/)
    // The open calls are reported with the reason and what the hole may have taken.
    expect(calls.length).toBeGreaterThan(0)
    for (const c of calls.filter((c) => c.status === undefined))
      expect(c.error!.message).toMatch(
        /^no HTTP\/2 frame boundary .*; capture gap: response bytes may be lost/
      )
    s.onClose(30)
  })

  it('random bytes after holes in either direction never throw', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 1 }),
            fc.integer({ min: 1, max: 200 }),
            fc.uint8Array({ maxLength: 300 })
          ),
          { maxLength: 6 }
        ),
        (noise) => {
          const { s } = session()
          steps.forEach(([dir, bytes, ts], i) => {
            s.onData(dir, bytes, ts)
            const n = noise[i % Math.max(1, noise.length)]
            if (n && i > 1) {
              s.onGap(n[0] as 0 | 1, n[1], ts)
              s.onData(n[0] as 0 | 1, n[2], ts)
            }
          })
          s.onTick!(1e9)
          s.onClose(1e9)
        }
      ),
      params
    )
  })

  it('a gap in the preface: frames are found after it', () => {
    const { s, calls } = session()
    s.onData(0, steps[0]![1].subarray(0, 10), 0)
    s.onGap(0, 14, 0)
    s.onData(0, steps[0]![1].subarray(24), 0)
    for (const [dir, bytes, ts] of steps.slice(1)) s.onData(dir, bytes, ts)
    s.onClose(100)
    expect(calls.filter((c) => c.status !== undefined).length).toBe(6)
  })

  it('frames longer than 16384 after the receiver allowed them (SETTINGS_MAX_FRAME_SIZE)', () => {
    const { s, calls } = session()
    const enc = new TestHpackEncoder()
    s.onData(0, concatBytes([PREFACE, settingsFrame()]), 0)
    // The server lets the client send frames up to 64 KiB (§6.5.2).
    s.onData(1, settingsFrame([[5, 65536]]), 0)
    const post = (id: number) =>
      concatBytes([
        headers(
          enc,
          id,
          [
            [':method', 'POST'],
            [':path', `/upload/${id}`],
            [':scheme', 'http'],
          ],
          false
        ),
        dataFrame(id, new Uint8Array(30_000).fill(0x61), true),
      ])
    s.onData(0, post(1), 1)
    // The first request's bytes are lost from the middle of its DATA frame on.
    const second = post(3)
    s.onData(0, second.subarray(0, 5000), 2)
    s.onGap(0, 25_100, 2)
    s.onData(0, post(5), 3)
    for (const id of [1, 3, 5]) s.onData(1, headers(enc, id, [[':status', '201']], true), 4)
    expect(calls.map((c) => [c.path, c.status, c.reqBodySize])).toEqual([
      ['/upload/1', 201, 30_000],
      ['/upload/3', 201, 30_000],
      ['/upload/5', 201, 30_000],
    ])
  })
})

describe('gRPC after a capture gap', () => {
  const msg = (s: string) =>
    grpcFrame(new TextEncoder().encode(`\n${String.fromCharCode(s.length)}${s}`))
  function grpcCall(gapAt?: 'data' | 'headers') {
    const c = new TestHpackEncoder()
    const sv = new TestHpackEncoder()
    const { s, calls } = session()
    s.onData(0, concatBytes([PREFACE, settingsFrame()]), 0)
    s.onData(1, settingsFrame(), 0)
    s.onData(
      0,
      concatBytes([
        headers(
          c,
          1,
          [
            [':method', 'POST'],
            [':scheme', 'http'],
            [':path', '/shop.v1.Store/List'],
            [':authority', 'shop'],
            ['content-type', 'application/grpc'],
            ['te', 'trailers'],
          ],
          false
        ),
        dataFrame(1, msg('q'), true),
      ]),
      1
    )
    const respHead = headers(
      sv,
      1,
      [
        [':status', '200'],
        ['content-type', 'application/grpc'],
      ],
      false
    )
    const data1 = dataFrame(1, concatBytes([msg('first'), msg('second')]))
    const data2 = dataFrame(1, concatBytes([msg('third'), msg('fourth')]))
    const trailers = headers(
      sv,
      1,
      [
        ['grpc-status', '5'],
        ['grpc-message', 'not%20found'],
      ],
      true
    )
    if (gapAt === 'headers') {
      s.onGap(1, respHead.length + 4, 2)
      s.onData(1, data1.subarray(4), 2)
    } else {
      s.onData(1, concatBytes([respHead, data1]), 2)
    }
    if (gapAt === 'data') {
      // The hole takes the end of "third" and the start of "fourth".
      s.onData(1, data2.subarray(0, 15), 3)
      s.onGap(1, 10, 3)
      s.onData(1, data2.subarray(25), 3)
    } else s.onData(1, data2, 3)
    s.onData(1, trailers, 4)
    return calls
  }
  const attr = (c: CallRecord, name: string) => c.attrs!.find((a) => a.name === name)

  it('keeps whole messages before the hole, drops the ones it cut, keeps the status', () => {
    const [clean] = grpcCall()
    expect(text(clean!.respBody).split('\n')).toEqual([
      '{1: "first"}',
      '{1: "second"}',
      '{1: "third"}',
      '{1: "fourth"}',
    ])
    const [cut] = grpcCall('data')
    expect(cut!.proto).toBe('grpc')
    expect(text(cut!.respBody).split('\n')).toEqual([
      '{1: "first"}',
      '{1: "second"}',
      '<capture gap: later messages not shown>',
    ])
    expect(cut!.respBodySize).toBe(clean!.respBodySize)
    expect(cut!.gaps).toBe(1)
    expect(attr(cut!, 'grpc_status')!.num).toBe(5)
    expect(attr(cut!, 'grpc_message')!.str).toBe('not found')
  })

  it('trailers lost: grpc_status is left out, not reported as 0 (OK)', () => {
    const c = new TestHpackEncoder()
    const sv = new TestHpackEncoder()
    const { s, calls } = session()
    s.onData(0, concatBytes([PREFACE, settingsFrame()]), 0)
    s.onData(1, settingsFrame(), 0)
    const req = (id: number) =>
      headers(
        c,
        id,
        [
          [':method', 'POST'],
          [':path', '/shop.v1.Store/Get'],
          ['content-type', 'application/grpc'],
        ],
        true
      )
    s.onData(0, concatBytes([req(1), req(3)]), 1)
    s.onData(
      1,
      headers(
        sv,
        1,
        [
          [':status', '200'],
          ['content-type', 'application/grpc'],
        ],
        false
      ),
      2
    )
    s.onData(
      1,
      headers(
        sv,
        3,
        [
          [':status', '200'],
          ['content-type', 'application/grpc'],
        ],
        false
      ),
      2
    )
    // Stream 1's trailers (grpc-status 5) are lost; stream 3's refer to the entry they inserted.
    s.onGap(1, headers(sv, 1, [['grpc-status', '5']], true).length, 3)
    s.onData(1, headers(sv, 3, [['grpc-status', '5']], true), 4)
    s.onClose(5)
    const names = (c: CallRecord) => c.attrs!.map((a) => a.name)
    // Stream 3 ends first: its trailers reference the entry "grpc-status: 5" that stream 1's lost
    // trailers inserted, by index: unknown. Stream 1 never ends: reported at close.
    const [three, one] = calls
    expect(names(three!)).toEqual(['grpc_method', 'grpc_service'])
    expect(three!.error!.message).toMatch(
      /^capture gap: response bytes may be lost; 1 header field unknown/
    )
    expect(names(one!)).toEqual(['grpc_method', 'grpc_service'])
    expect(one!.error!.message).toMatch(
      /^connection closed before the response ended; capture gap: response bytes may be lost/
    )
  })

  it('response headers lost: the trailers still give the status', () => {
    const [call] = grpcCall('headers')
    expect(call!.proto).toBe('grpc')
    expect(call!.status).toBeUndefined()
    expect(attr(call!, 'grpc_status')!.num).toBe(5)
    expect(call!.error!.message).toMatch(/^capture gap: response bytes may be lost/)
    // What followed the hole was "second" cut at its start: nothing trustworthy to show.
    expect(text(call!.respBody)).not.toContain('second')
  })
})
