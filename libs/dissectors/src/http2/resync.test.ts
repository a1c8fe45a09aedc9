import { describe, expect, it } from 'vitest'
import type { FrameHandler, FrameHeader } from './frames.js'
import { FrameReader, RESYNC_GIVE_UP } from './frames.js'
import type { FrameRules } from './resync.js'
import {
  newFrameRules,
  plausibleFrameHeader,
  SCAN_FOUND,
  SCAN_WAIT,
  scanForFrame,
} from './resync.js'
import {
  concatBytes,
  dataFrame,
  Flag,
  frame,
  FrameType,
  goawayFrame,
  headersFrame,
  PREFACE,
  rstStreamFrame,
  settingsFrame,
  TestHpackEncoder,
} from './test-support.js'

const client = (maxId = 1000): FrameRules => newFrameRules(true, () => maxId)
const server = (): FrameRules => newFrameRules(false, () => 1000)
const ok = (f: Uint8Array, rules = client()): boolean =>
  plausibleFrameHeader(f, 0, f.length, rules) >= 0
const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, v)
  return b
}

describe('frame header plausibility (RFC 9113 §4.1, §6)', () => {
  it('accepts what conforming senders write', () => {
    expect(ok(settingsFrame([[4, 65535]]))).toBe(true)
    expect(ok(frame(FrameType.SETTINGS, Flag.ACK, 0))).toBe(true)
    expect(ok(headersFrame(1, [[':method', 'GET']], { endStream: true }))).toBe(true)
    expect(ok(dataFrame(3, 'body', true))).toBe(true)
    expect(ok(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(65535)))).toBe(true)
    expect(ok(frame(FrameType.PING, 0, 0, new Uint8Array(8)))).toBe(true)
    expect(ok(rstStreamFrame(5, 8))).toBe(true)
    expect(ok(goawayFrame(7, 0))).toBe(true)
    expect(ok(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Uint8Array.of(0x82)))).toBe(true)
    // A server's pushed stream (even) and PUSH_PROMISE on a client stream.
    expect(ok(dataFrame(2, 'x'), server())).toBe(true)
    expect(ok(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, u32(2)), server())).toBe(true)
  })

  it('rejects what no conforming sender writes', () => {
    const bad: [string, Uint8Array, FrameRules?][] = [
      ['unknown type (§5.5 extensions cannot be told from noise)', frame(0x0a, 0, 0)],
      ['undefined flag on DATA (§4.1)', frame(FrameType.DATA, 0x4, 1, Uint8Array.of(1))],
      ['flags on WINDOW_UPDATE', frame(FrameType.WINDOW_UPDATE, 0x1, 0, u32(1))],
      ['reserved bit', Uint8Array.of(0, 0, 4, 8, 0, 0x80, 0, 0, 0, 0, 0, 0, 1)],
      [
        'HEADERS on stream 0 (§6.2)',
        frame(FrameType.HEADERS, Flag.END_HEADERS, 0, Uint8Array.of(0x82)),
      ],
      ['DATA on stream 0 (§6.1)', dataFrame(0, 'x')],
      ['SETTINGS on a stream (§6.5)', frame(FrameType.SETTINGS, 0, 1)],
      ['SETTINGS not a multiple of 6', frame(FrameType.SETTINGS, 0, 0, new Uint8Array(5))],
      ['SETTINGS ACK with a payload', frame(FrameType.SETTINGS, Flag.ACK, 0, new Uint8Array(6))],
      ['PING of 7 octets (§6.7)', frame(FrameType.PING, 0, 0, new Uint8Array(7))],
      ['GOAWAY on a stream (§6.8)', frame(FrameType.GOAWAY, 0, 3, new Uint8Array(8))],
      ['RST_STREAM of 5 octets (§6.4)', frame(FrameType.RST_STREAM, 0, 1, new Uint8Array(5))],
      ['PRIORITY of 4 octets (§6.3)', frame(FrameType.PRIORITY, 0, 1, new Uint8Array(4))],
      ['client HEADERS on an even stream (§5.1.1)', headersFrame(2, [[':method', 'GET']])],
      ['client DATA on an even stream', dataFrame(4, 'x')],
      [
        'PUSH_PROMISE from a client (§8.4)',
        frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, u32(2)),
      ],
      ['PUSH_PROMISE on a pushed stream', frame(FrameType.PUSH_PROMISE, 4, 2, u32(4)), server()],
      ['an empty HEADERS', frame(FrameType.HEADERS, Flag.END_HEADERS, 1)],
      [
        'padding as long as the payload (§6.1)',
        frame(FrameType.DATA, Flag.PADDED, 1, Uint8Array.of(3, 0, 0)),
      ],
      ['longer than SETTINGS_MAX_FRAME_SIZE', dataFrame(1, new Uint8Array(16385))],
      ['a stream id that cannot be open yet', dataFrame(1001, 'x')],
    ]
    for (const [why, f, rules] of bad) expect(ok(f, rules), why).toBe(false)
    const large = client()
    large.maxFrameSize = 1 << 20
    expect(ok(dataFrame(1, new Uint8Array(16385)), large)).toBe(true)
  })
})

/** A client's bytes: preface, SETTINGS, requests with indexed headers, bodies, window updates. */
function clientStream(requests = 30): { bytes: Uint8Array; boundaries: Map<number, number> } {
  const enc = new TestHpackEncoder()
  const frames: Uint8Array[] = [settingsFrame([[4, 1 << 20]])]
  for (let i = 0; i < requests; i++) {
    const id = 2 * i + 1
    frames.push(
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        id,
        enc.encode([
          [':method', 'POST'],
          [':scheme', 'http'],
          [':path', `/api/items/${i}?q=${'z'.repeat(i % 7)}`],
          [':authority', 'svc.local:8080'],
          ['content-type', 'application/json'],
          ['x-request-id', `req-${i}-${(i * 7919) % 1000}`],
        ])
      ),
      dataFrame(id, JSON.stringify({ item: i, name: `widget-${i}`, tags: ['a', 'b'] }), true),
      frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1000 + i))
    )
  }
  // Frame start → the highest stream id opened before it.
  const boundaries = new Map<number, number>()
  let o = PREFACE.length
  let highest = 0
  for (const f of frames) {
    boundaries.set(o, highest)
    if (f[3] === FrameType.HEADERS) highest = f[8]!
    o += f.length
  }
  return { bytes: concatBytes([PREFACE, ...frames]), boundaries }
}

describe('frame resync scanner', () => {
  it('takes the segment start when a frame starts there, chained or ending with the bytes', () => {
    const two = concatBytes([headersFrame(1, [[':method', 'GET']]), dataFrame(1, 'x', true)])
    expect(scanForFrame(two, 0, two.length, client(), 70000)).toEqual({
      verdict: SCAN_FOUND,
      at: 0,
    })
    const one = dataFrame(1, 'just one frame', true)
    expect(scanForFrame(one, 0, one.length, client(), 70000)).toEqual({
      verdict: SCAN_FOUND,
      at: 0,
    })
  })

  it('waits when a frame runs past the bytes with nothing after it, unless it cannot fit the window', () => {
    const big = dataFrame(1, new Uint8Array(1000))
    const part = big.subarray(0, 500)
    expect(scanForFrame(part, 0, part.length, client(), 70000)).toEqual({
      verdict: SCAN_WAIT,
      at: 0,
    })
    const r = scanForFrame(part, 0, part.length, client(), 600)
    expect(r.verdict).toBe(SCAN_WAIT)
    expect(r.at).toBeGreaterThan(0)
  })

  it('finds the true next frame from every offset of a real client stream', () => {
    const { bytes, boundaries } = clientStream()
    const sorted = [...boundaries.keys()].sort((a, b) => a - b)
    let exact = 0
    for (let cut = 0; cut < bytes.length - 9; cut++) {
      // The session's bound: the highest stream seen before the hole plus a few (STREAM_SLACK).
      const seen = boundaries.get(sorted.filter((b) => b <= cut).at(-1) ?? 0) ?? 0
      const r = scanForFrame(bytes, cut, bytes.length, client(seen + 32), 70000)
      // Never a false boundary: the first true one at or after the cut (none in the last frame).
      const next = sorted.find((b) => b >= cut)
      if (next === undefined) {
        expect(r.verdict, `from ${cut}`).toBe(SCAN_WAIT)
        continue
      }
      expect(r, `from ${cut}`).toEqual({ verdict: SCAN_FOUND, at: next })
      if (r.at === cut) exact++
    }
    expect(exact).toBe(sorted.filter((b) => b < bytes.length - 9).length)
  })
})

interface Seen {
  frames: string[]
  data: string[]
  lost: string[]
  resyncs: number[]
  fatal: string[]
  misframed: string[]
}

function reader(rules = client()): { r: FrameReader; seen: Seen } {
  const seen: Seen = { frames: [], data: [], lost: [], resyncs: [], fatal: [], misframed: [] }
  const label = (f: FrameHeader) => `${f.type}/${f.streamId}@${f.ts}`
  const h: FrameHandler = {
    onFrame: (f) => seen.frames.push(label(f)),
    onData: (f, c) => seen.data.push(`${f.streamId}:${new TextDecoder().decode(c)}`),
    onDataGap: (f, n) => seen.data.push(`${f.streamId}:<gap ${n}>`),
    onDataEnd: (f) => seen.data.push(`${f.streamId}:end${f.flags & 1 ? '!' : ''}`),
    onFrameLost: (f) => seen.lost.push(label(f)),
    onResync: (n) => seen.resyncs.push(n),
    onMisframed: (why) => seen.misframed.push(why),
    onFatal: (why) => seen.fatal.push(why),
  }
  return { r: new FrameReader(true, 1024, h, rules), seen }
}

describe('FrameReader after a capture gap', () => {
  const a = headersFrame(1, [[':method', 'GET']], { endStream: true })
  const b = headersFrame(3, [[':method', 'GET']], { endStream: true })
  const c = dataFrame(5, 'hello', true)

  it('bridges a hole inside a DATA payload (only body bytes lost), as before', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    const d = dataFrame(1, 'abcdefghij', true)
    r.push(d.subarray(0, 12), 1)
    expect(r.gap(4)).toBe(true)
    r.push(d.subarray(16), 2)
    r.push(b, 3)
    expect(seen.data).toEqual(['1:abc', '1:<gap 4>', '1:hij', '1:end!'])
    expect(seen.frames).toEqual(['1/3@3'])
    expect(r.resyncing).toBe(false)
  })

  it('skips a header frame of known length cut by a hole, reporting it lost', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    r.push(a.subarray(0, 11), 1)
    expect(r.gap(3)).toBe(false)
    expect(r.resyncing).toBe(false)
    r.push(a.subarray(14), 2)
    r.push(b, 3)
    expect(seen.lost).toEqual(['1/1@1'])
    expect(seen.frames).toEqual(['1/3@3'])
  })

  it('ends a DATA frame whose end fell in the hole, then resyncs on what follows', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    const d = dataFrame(1, 'abcdefghij', true)
    r.push(d.subarray(0, 12), 1)
    // The rest of the DATA frame (7) and the first 5 octets of `a` are lost.
    expect(r.gap(12)).toBe(false)
    expect(r.resyncing).toBe(true)
    r.push(concatBytes([a.subarray(5), b, c]), 2)
    expect(seen.data).toEqual(['1:abc', '1:<gap 7>', '1:end!', '5:hello', '5:end!'])
    expect(seen.frames).toEqual(['1/3@2'])
    expect(seen.resyncs).toEqual([a.length - 5])
  })

  it('holds bytes until a boundary is confirmed, keeping each frame its own packet time', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    r.push(a.subarray(0, 4), 1)
    r.gap(100)
    // A segment that starts mid-frame, then one starting with a frame that runs into the next.
    r.push(a.subarray(6), 2)
    const big = dataFrame(7, 'x'.repeat(300), true)
    r.push(big.subarray(0, 100), 3)
    expect(r.resyncing).toBe(true)
    r.push(concatBytes([big.subarray(100), b]), 4)
    expect(r.resyncing).toBe(false)
    expect(seen.frames).toEqual(['1/3@4'])
    expect(seen.data.at(-1)).toBe('7:end!')
    expect(seen.resyncs).toEqual([a.length - 6])
  })

  it('resynchronises byte by byte too', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    r.gap(50)
    const after = concatBytes([a.subarray(3), b, c, b])
    for (let i = 0; i < after.length; i++) r.push(after.subarray(i, i + 1), i)
    expect(seen.frames.map((f) => f.split('@')[0])).toEqual(['1/3', '1/3'])
    expect(seen.data.join('')).toBe('5:h5:e5:l5:l5:o5:end!')
  })

  it('gives up with a reason after RESYNC_GIVE_UP octets without a boundary, memory bounded', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    r.gap(10)
    // 0xff: no frame type, no plausible length.
    const junk = new Uint8Array(64 * 1024).fill(0xff)
    for (let i = 0; i * junk.length <= RESYNC_GIVE_UP + junk.length && !r.dead; i++) {
      r.push(junk, i)
      expect(r.resyncBuffered).toBeLessThan(1024 + 18)
    }
    expect(r.dead).toBe(true)
    expect(seen.fatal[0]).toMatch(/no HTTP\/2 frame boundary within 1048576 bytes/)
  })

  it('starts a resync again when framing breaks after one (misframed bytes)', () => {
    const { r, seen } = reader()
    r.push(PREFACE, 0)
    r.gap(10)
    r.push(b, 1)
    // A header-carrying frame larger than the reader holds: fatal without a gap, resync after one.
    r.push(frame(FrameType.CONTINUATION, 0, 3, new Uint8Array(2000)).subarray(0, 9), 2)
    expect(seen.misframed).toEqual(['header block fragment larger than the header limit'])
    expect(r.resyncing).toBe(true)
    r.push(concatBytes([new Uint8Array(2000), b]), 3)
    expect(seen.frames.map((f) => f.split('@')[0])).toEqual(['1/3', '1/3'])
  })
})
