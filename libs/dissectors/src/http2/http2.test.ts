import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { CallRecord, DissectorLimits, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { encodeInteger, huffmanEncode } from './test-support.js'
import {
  concatBytes,
  dataFrame,
  Flag,
  frame,
  FrameType,
  goawayFrame,
  grpcFrame,
  headersFrame,
  PREFACE,
  rstStreamFrame,
  settingsFrame,
  encodeHeaders,
} from './test-support.js'
import { http2Dissector, MAX_OPEN_STREAMS } from './http2-dissector.js'

const conn = {
  id: 1,
  transport: 'tcp' as const,
  client: { ip: '127.0.0.1', port: 40000 },
  server: { ip: '127.0.0.1', port: 8080 },
}

function session(limits: Partial<DissectorLimits> = {}, init?: unknown) {
  const calls: CallRecord[] = []
  const ctx: SessionContext = {
    conn,
    limits: { ...DEFAULT_DISSECTOR_LIMITS, ...limits },
    emit: (c) => calls.push(c),
    count: () => undefined,
    upgrade: () => undefined,
  }
  return { s: http2Dissector.newSession(ctx, init), calls }
}

type Step = [dir: 0 | 1, bytes: Uint8Array, ts: number]
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

/** A typical exchange: settings, a GET, a POST with a body in two frames and trailers. */
function conversation(): Step[] {
  return [
    [0, concatBytes([PREFACE, settingsFrame([[1, 4096]])]), 1000],
    [1, concatBytes([settingsFrame([[3, 100]]), frame(FrameType.SETTINGS, Flag.ACK, 0)]), 1001],
    [
      0,
      headersFrame(
        1,
        [
          [':method', 'GET'],
          [':path', '/api/items?x=1'],
          [':scheme', 'http'],
          [':authority', 'h'],
          ['accept', '*/*'],
        ],
        { endStream: true, index: true, huffman: true }
      ),
      1002,
    ],
    [
      0,
      concatBytes([
        headersFrame(
          3,
          [
            [':method', 'POST'],
            [':path', '/api/orders'],
            [':scheme', 'http'],
            [':authority', 'h'],
            ['content-type', 'application/json'],
          ],
          { index: true }
        ),
        dataFrame(3, '{"item":'),
        dataFrame(3, '"widget"}', true),
      ]),
      1003,
    ],
    [
      1,
      headersFrame(
        1,
        [
          [':status', '200'],
          ['content-type', 'text/plain'],
        ],
        { index: true, huffman: true }
      ),
      1004,
    ],
    [1, dataFrame(1, 'hello', true), 1005],
    [1, headersFrame(3, [[':status', '201']], { index: true }), 1006],
    [1, dataFrame(3, 'created'), 1007],
    [1, headersFrame(3, [['x-trailer', 'done']], { endStream: true }), 1008],
  ]
}

function run(steps: Step[], byteByByte = false, limits: Partial<DissectorLimits> = {}) {
  const { s, calls } = session(limits)
  for (const [dir, bytes, ts] of steps) {
    if (byteByByte)
      for (let i = 0; i < bytes.length; i++) s.onData(dir, bytes.subarray(i, i + 1), ts)
    else s.onData(dir, bytes, ts)
  }
  return { s, calls }
}

describe('HTTP/2 session', () => {
  it('probes the client preface', () => {
    expect(http2Dissector.probe(PREFACE, 0, conn)).toBe('match')
    expect(http2Dissector.probe(PREFACE, 1, conn)).toBe('match-reversed')
    expect(http2Dissector.probe(PREFACE.subarray(0, 5), 0, conn)).toBe('more')
    expect(http2Dissector.probe(new TextEncoder().encode('GET / HTTP/1.1\r\n'), 0, conn)).toBe('no')
  })

  it('pairs streams into calls with headers, bodies, trailers and timestamps', () => {
    const { calls } = run(conversation())
    expect(calls.length).toBe(2)
    const [get, post] = calls
    expect(get).toMatchObject({
      proto: 'http',
      method: 'GET',
      path: '/api/items',
      url: '/api/items?x=1',
      status: 200,
      version: 'HTTP/2',
      reqTs: 1002,
      respTs: 1004,
    })
    expect(text(get!.respBody)).toBe('hello')
    expect(get!.reqHeaders).toEqual([{ name: 'accept', value: '*/*' }])
    expect(post).toMatchObject({
      method: 'POST',
      path: '/api/orders',
      status: 201,
      reqBodySize: 17,
      respBodySize: 7,
      reqTs: 1003,
      respTs: 1006,
    })
    expect(text(post!.reqBody)).toBe('{"item":"widget"}')
    expect(post!.respHeaders).toEqual([{ name: 'x-trailer', value: 'done' }])
    expect(post!.reqHeaderSize).toBeGreaterThan(0)
  })

  it('gives the same calls when every byte arrives alone', () => {
    expect(run(conversation(), true).calls).toEqual(run(conversation()).calls)
  })

  it('handles CONTINUATION, padding and priority on HEADERS, and padded DATA', () => {
    const block = encodeHeaders([
      [':method', 'PUT'],
      [':path', '/x'],
      ['x-long', 'v'.repeat(100)],
    ])
    // HEADERS: PADDED | PRIORITY, pad length 3, 5 bytes of priority, first 10 bytes of the block.
    const first = concatBytes([
      Uint8Array.of(3),
      new Uint8Array(5),
      block.subarray(0, 10),
      new Uint8Array(3),
    ])
    const paddedData = concatBytes([
      Uint8Array.of(4),
      new TextEncoder().encode('body'),
      new Uint8Array(4),
    ])
    const { calls } = run([
      [0, PREFACE, 1],
      [0, frame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 1, first), 2],
      [0, frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 50)), 2],
      [0, frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(50)), 2],
      [0, frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, paddedData), 3],
      [1, headersFrame(1, [[':status', '204']], { endStream: true }), 4],
    ])
    expect(calls.length).toBe(1)
    expect(calls[0]).toMatchObject({ method: 'PUT', path: '/x', status: 204, reqBodySize: 4 })
    expect(text(calls[0]!.reqBody)).toBe('body')
    expect(calls[0]!.reqHeaders).toEqual([{ name: 'x-long', value: 'v'.repeat(100) }])
  })

  it('ignores 1xx interim responses', () => {
    const { calls } = run([
      [0, PREFACE, 1],
      [
        0,
        headersFrame(1, [
          [':method', 'POST'],
          [':path', '/up'],
          ['expect', '100-continue'],
        ]),
        2,
      ],
      [1, headersFrame(1, [[':status', '100']]), 3],
      [0, dataFrame(1, 'x', true), 4],
      [1, headersFrame(1, [[':status', '200']], { endStream: true }), 5],
    ])
    expect(calls.map((c) => [c.status, c.respTs])).toEqual([[200, 5]])
  })

  it('reports resets, GOAWAY-refused streams and streams open at close as errors', () => {
    const { s, calls } = run([
      [0, PREFACE, 1],
      [
        0,
        headersFrame(
          1,
          [
            [':method', 'GET'],
            [':path', '/a'],
          ],
          { endStream: true }
        ),
        2,
      ],
      [
        0,
        headersFrame(
          3,
          [
            [':method', 'GET'],
            [':path', '/b'],
          ],
          { endStream: true }
        ),
        2,
      ],
      [
        0,
        headersFrame(
          5,
          [
            [':method', 'GET'],
            [':path', '/c'],
          ],
          { endStream: true }
        ),
        2,
      ],
      [
        0,
        headersFrame(
          7,
          [
            [':method', 'GET'],
            [':path', '/d'],
          ],
          { endStream: true }
        ),
        2,
      ],
      [1, rstStreamFrame(1, 8), 3],
      [1, headersFrame(5, [[':status', '200']]), 3],
      [1, goawayFrame(5, 0), 4],
    ])
    expect(calls.map((c) => [c.path, c.error?.message])).toEqual([
      ['/a', 'stream reset (CANCEL)'],
      ['/d', 'stream refused by GOAWAY (NO_ERROR)'],
    ])
    s.onClose(5)
    expect(calls.slice(2).map((c) => [c.path, c.status, c.error?.message])).toEqual([
      ['/b', undefined, 'connection closed before a response'],
      ['/c', 200, 'connection closed before the response ended'],
    ])
  })

  it('a complete response then RST_STREAM(NO_ERROR) is a normal call', () => {
    const { calls } = run([
      [0, PREFACE, 1],
      [
        0,
        headersFrame(1, [
          [':method', 'POST'],
          [':path', '/early'],
        ]),
        2,
      ],
      [1, headersFrame(1, [[':status', '413']], { endStream: true }), 3],
      [1, rstStreamFrame(1, 0), 3],
    ])
    expect(calls.map((c) => [c.status, c.error])).toEqual([[413, undefined]])
  })

  it('records server push as its own call', () => {
    const promise = concatBytes([
      Uint8Array.of(0, 0, 0, 2),
      encodeHeaders([
        [':method', 'GET'],
        [':path', '/style.css'],
      ]),
    ])
    const { calls } = run([
      [0, PREFACE, 1],
      [
        0,
        headersFrame(
          1,
          [
            [':method', 'GET'],
            [':path', '/'],
          ],
          { endStream: true }
        ),
        2,
      ],
      [1, frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, promise), 3],
      [1, headersFrame(1, [[':status', '200']], { endStream: true }), 4],
      [1, headersFrame(2, [[':status', '200']]), 5],
      [1, dataFrame(2, 'body{}', true), 6],
    ])
    expect(calls.map((c) => [c.path, c.status, c.reqTs, text(c.respBody)])).toEqual([
      ['/', 200, 2, ''],
      ['/style.css', 200, 3, 'body{}'],
    ])
  })

  it('survives a gap inside a DATA payload; after a gap elsewhere flags the open stream and goes on', () => {
    const { s, calls } = session()
    s.onData(0, PREFACE, 1)
    s.onData(
      0,
      headersFrame(1, [
        [':method', 'POST'],
        [':path', '/g'],
      ]),
      2
    )
    const data = dataFrame(1, 'abcdefghij', true)
    s.onData(0, data.subarray(0, 12), 3)
    s.onGap(0, 4, 3)
    s.onData(0, data.subarray(16), 3)
    s.onData(1, headersFrame(1, [[':status', '200']], { endStream: true }), 4)
    expect(calls.map((c) => [c.reqBodySize, text(c.reqBody), c.gaps])).toEqual([[10, 'abchij', 1]])
    s.onData(
      0,
      headersFrame(
        3,
        [
          [':method', 'GET'],
          [':path', '/lost'],
        ],
        { endStream: true }
      ),
      5
    )
    // 100 octets of responses lost: stream 3's may have been among them. What follows is
    // resynchronised and still answers it; the call says what the gap may have taken.
    s.onGap(1, 100, 6)
    expect(calls.length).toBe(1)
    s.onData(1, headersFrame(3, [[':status', '200']], { endStream: true }), 7)
    expect(calls.length).toBe(2)
    expect(calls[1]).toMatchObject({
      path: '/lost',
      status: 200,
      gaps: 1,
      error: { type: 'dissection' },
    })
    expect(calls[1]!.error!.message).toMatch(
      /^capture gap: response bytes may be lost \[connection: 2 gaps, 1 resyncs/
    )
  })

  it('stops quietly on a bad preface, a header block that is too large or an HPACK error', () => {
    const bad = run([[0, new TextEncoder().encode('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), 1]])
    expect(bad.calls).toEqual([])
    const big = run(
      [
        [0, PREFACE, 1],
        [
          0,
          headersFrame(
            1,
            [
              [':method', 'GET'],
              ['x', 'y'.repeat(2000)],
            ],
            { endStream: true }
          ),
          2,
        ],
        [1, headersFrame(1, [[':status', '200']], { endStream: true }), 3],
      ],
      false,
      { maxHeaderBytes: 1000 }
    )
    expect(big.calls).toEqual([])
    // Index 70 does not exist in an empty dynamic table.
    const hpack = run([
      [0, PREFACE, 1],
      [
        0,
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Uint8Array.of(0x80 | 70)),
        2,
      ],
      [1, headersFrame(1, [[':status', '200']], { endStream: true }), 3],
    ])
    expect(hpack.calls).toEqual([])
  })

  it('follows SETTINGS_HEADER_TABLE_SIZE per direction', () => {
    // The server allows the client's encoder 8192: a size update to 8000 is legal on requests,
    // while responses stay limited to the client's default 4096.
    const { calls } = run([
      [0, PREFACE, 1],
      [1, settingsFrame([[1, 8192]]), 1],
      [
        0,
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          1,
          concatBytes([
            encodeInteger(8000, 5, 0x20),
            encodeHeaders([
              [':method', 'GET'],
              [':path', '/ok'],
            ]),
          ])
        ),
        2,
      ],
      [1, headersFrame(1, [[':status', '200']], { endStream: true }), 3],
      [
        0,
        headersFrame(
          3,
          [
            [':method', 'GET'],
            [':path', '/bad'],
          ],
          { endStream: true }
        ),
        4,
      ],
      [
        1,
        frame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          3,
          concatBytes([encodeInteger(8000, 5, 0x20), encodeHeaders([[':status', '200']])])
        ),
        5,
      ],
    ])
    expect(calls.map((c) => c.path)).toEqual(['/ok'])
  })

  it('takes over an h2c upgrade: stream 1 is the HTTP/1.1 request', () => {
    const head = {
      method: 'GET',
      target: '/up?q=1',
      status: 0,
      reason: '',
      version: 'HTTP/1.1',
      headers: [
        { name: 'Host', value: 'h' },
        { name: 'Upgrade', value: 'h2c' },
        { name: 'HTTP2-Settings', value: 'AAMAAABkAAQCAAAAAAIAAAAA' },
      ],
      headerBytes: 120,
    }
    const { s, calls } = session(
      {},
      { request: head, requestTs: 10, response: { ...head, status: 101 } }
    )
    s.onData(
      1,
      concatBytes([
        settingsFrame(),
        headersFrame(1, [[':status', '200']]),
        dataFrame(1, 'upgraded', true),
      ]),
      11
    )
    s.onData(
      0,
      concatBytes([
        PREFACE,
        settingsFrame(),
        headersFrame(
          3,
          [
            [':method', 'GET'],
            [':path', '/next'],
          ],
          { endStream: true }
        ),
      ]),
      12
    )
    s.onData(1, headersFrame(3, [[':status', '404']], { endStream: true }), 13)
    expect(
      calls.map((c) => [
        c.method,
        c.url,
        c.status,
        c.reqTs,
        c.respTs,
        text(c.respBody),
        c.reqHeaderSize,
      ])
    ).toEqual([
      ['GET', '/up?q=1', 200, 10, 11, 'upgraded', 120],
      ['GET', '/next', 404, 12, 13, '', calls[1]!.reqHeaderSize],
    ])
  })

  it('bounds open streams and times out unanswered ones', () => {
    const steps: Step[] = [[0, PREFACE, 0]]
    for (let i = 0; i <= MAX_OPEN_STREAMS; i++)
      steps.push([
        0,
        headersFrame(
          2 * i + 1,
          [
            [':method', 'GET'],
            [':path', `/${i}`],
          ],
          { endStream: true }
        ),
        i,
      ])
    const { s, calls } = run(steps)
    expect(calls.map((c) => [c.path, c.error?.type])).toEqual([['/0', 'pair-not-found']])
    s.onTick!(DEFAULT_DISSECTOR_LIMITS.responseTimeoutMs + 10)
    expect(calls.length).toBe(11)
    expect(calls[1]!.error?.type).toBe('timeout')
  })

  it('makes gRPC calls with status, message and message previews', () => {
    const msg = Uint8Array.of(0x0a, 0x06, ...new TextEncoder().encode('widget'), 0x10, 0x03)
    const { calls } = run([
      [0, PREFACE, 1],
      [
        0,
        headersFrame(1, [
          [':method', 'POST'],
          [':path', '/shop.v1.Store/GetItem'],
          ['content-type', 'application/grpc'],
          ['te', 'trailers'],
        ]),
        2,
      ],
      [0, dataFrame(1, grpcFrame(msg), true), 2],
      [
        1,
        headersFrame(1, [
          [':status', '200'],
          ['content-type', 'application/grpc'],
        ]),
        3,
      ],
      [1, dataFrame(1, concatBytes([grpcFrame(msg), grpcFrame(msg, true)])), 3],
      [
        1,
        headersFrame(
          1,
          [
            ['grpc-status', '14'],
            ['grpc-message', 'backend%20down%20%E2%9C%97'],
          ],
          { endStream: true }
        ),
        4,
      ],
    ])
    expect(calls.length).toBe(1)
    const c = calls[0]!
    expect(c).toMatchObject({
      proto: 'grpc',
      method: '/shop.v1.Store/GetItem',
      path: '/shop.v1.Store/GetItem',
      status: 200,
      reqBodySize: 15,
      respBodySize: 30,
    })
    expect(c.attrs).toEqual([
      { name: 'grpc_method', str: 'GetItem' },
      { name: 'grpc_service', str: 'shop.v1.Store' },
      { name: 'grpc_status', num: 14 },
      { name: 'grpc_message', str: 'backend down ✗' },
    ])
    expect(text(c.reqBody)).toBe('{1: "widget", 2: 3}')
    expect(text(c.respBody)).toBe('{1: "widget", 2: 3}\n<compressed 10 bytes>')
  })
})

describe('HTTP/2 session, hostile input', () => {
  const frameArb = fc.record({
    type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })),
    flags: fc.integer({ min: 0, max: 255 }),
    stream: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 0x7fffffff })),
    payload: fc.uint8Array({ maxLength: 64 }),
  })

  it('never throws on random frames in either direction', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), frameArb), { maxLength: 40 }),
        (frames) => {
          const { s, calls } = session({ maxHeaderBytes: 256, maxBodyBytes: 64 })
          s.onData(0, PREFACE, 0)
          let headers = 0
          for (const [dir, f] of frames) {
            if (f.type === 1 || f.type === 5) headers++
            s.onData(dir as 0 | 1, frame(f.type, f.flags, f.stream, f.payload), 1)
          }
          s.onTick!(1e12)
          s.onClose(2)
          expect(calls.length).toBeLessThanOrEqual(headers + 1)
          for (const c of calls) expect(c.reqBody!.length).toBeLessThanOrEqual(64 * 8)
        }
      ),
      { numRuns: 1000 }
    )
  })

  it('never throws on mutated real conversations, split anywhere', () => {
    const whole = conversation()
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        (mutations, cuts, gap) => {
          const steps = whole.map(([d, b, t]) => [d, b.slice(), t] as Step)
          for (const [at, value] of mutations) {
            const step = steps[at % steps.length]!
            step[1][at % step[1].length] = value
          }
          const { s } = session()
          for (const [dir, bytes, ts] of steps) {
            let o = 0
            let i = 0
            while (o < bytes.length) {
              const n = cuts[i++ % cuts.length]!
              s.onData(dir, bytes.subarray(o, o + n), ts)
              if (gap && i === 3) s.onGap(dir, n, ts)
              o += n
            }
          }
          s.onClose(2000)
        }
      ),
      { numRuns: 1000 }
    )
  })

  it('keeps decoded headers within maxHeaderBytes whatever the peer indexes', () => {
    const field = fc.tuple(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.string({ maxLength: 3000 })
    )
    fc.assert(
      fc.property(
        fc.array(fc.array(field, { maxLength: 6 }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (blocks, huffman) => {
          const limit = 2048
          const { s, calls } = session({ maxHeaderBytes: limit })
          s.onData(0, PREFACE, 0)
          // The server lets the client's encoder use a 1 MiB table; we keep at most 64 KiB.
          s.onData(1, settingsFrame([[1, 1 << 20]]), 0)
          blocks.forEach((fields, i) => {
            const block = concatBytes([
              encodeInteger(1 << 20, 5, 0x20),
              encodeHeaders([[':method', 'GET'], [':path', `/${i}`], ...fields], {
                index: true,
                huffman,
              }),
            ])
            s.onData(
              0,
              frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2 * i + 1, block),
              1
            )
            s.onData(1, headersFrame(2 * i + 1, [[':status', '200']], { endStream: true }), 2)
          })
          for (const c of calls) {
            let size = 0
            for (const h of c.reqHeaders!) size += h.name!.length + h.value!.length + 32
            expect(size).toBeLessThanOrEqual(limit)
            expect(c.reqHeaderSize).toBeLessThanOrEqual(limit)
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  it('never throws on random bytes after the preface', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 500 }), (a, b) => {
        const { s } = session()
        s.onData(0, PREFACE, 0)
        s.onData(0, a, 1)
        s.onData(1, b, 1)
        s.onClose(2)
      }),
      { numRuns: 500 }
    )
  })

  it('keeps a Huffman-coded block decodable across frames of one byte', () => {
    const name = huffmanEncode(new TextEncoder().encode('abc'))
    const block = concatBytes([
      Uint8Array.of(0x40),
      encodeInteger(name.length, 7, 0x80),
      name,
      Uint8Array.of(0x01, 0x31),
    ])
    const steps: Step[] = [
      [0, PREFACE, 0],
      [0, frame(FrameType.HEADERS, 0, 1, concatBytes([Uint8Array.of(0x82, 0x84)])), 1],
    ]
    for (let i = 0; i < block.length; i++) {
      steps.push([
        0,
        frame(
          FrameType.CONTINUATION,
          i === block.length - 1 ? Flag.END_HEADERS : 0,
          1,
          block.subarray(i, i + 1)
        ),
        1,
      ])
    }
    steps.push(
      [0, dataFrame(1, '', true), 1],
      [1, headersFrame(1, [[':status', '200']], { endStream: true }), 2]
    )
    const { calls } = run(steps, true)
    expect(calls[0]!.reqHeaders).toEqual([{ name: 'abc', value: '1' }])
  })
})
