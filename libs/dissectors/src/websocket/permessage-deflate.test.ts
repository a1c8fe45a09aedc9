import * as zlib from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { setBodyDecoder, zlibBodyDecoder } from '../http1/body-decoder.js'
import { decodeUtf8 } from '../util/bytes.js'
import { DEFLATE_WINDOW, MessageInflater, parseDeflateExtension } from './permessage-deflate.js'
import { attr, concatBytes, frame, recordingContext } from './test-support.js'
import { websocketDissector, WsOpcode } from './websocket-dissector.js'

/** A sender's deflate stream: one sync-flushed block per message, tail removed (RFC 7692 §7.2.1). */
function sender(): { message: (data: string) => Promise<Uint8Array>; close: () => void } {
  const d = zlib.createDeflateRaw()
  const chunks: Buffer[] = []
  d.on('data', (c: Buffer) => chunks.push(c))
  return {
    message: (data) =>
      new Promise((resolve) => {
        d.write(data)
        d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const b = Buffer.concat(chunks.splice(0))
          expect([...b.subarray(b.length - 4)]).toEqual([0, 0, 0xff, 0xff])
          resolve(new Uint8Array(b.subarray(0, b.length - 4)))
        })
      }),
    close: () => d.close(),
  }
}

function session(extensions: string, limits = {}) {
  const r = recordingContext([websocketDissector], limits)
  const s = websocketDissector.newSession(r.ctx, {
    request: { method: 'GET', target: '/live', headers: [] },
    requestTs: 1,
    response: {
      status: 101,
      headers: [{ name: 'Sec-WebSocket-Extensions', value: extensions }],
    },
  })
  // Server frames: unmasked, RSV1 on the first frame of a compressed message (§6).
  const send = (payload: Uint8Array, opcode: number = WsOpcode.TEXT) =>
    s.onData(1, frame({ opcode, payload, rsv1: true }), 2)
  const text = () => calls.map((c) => decodeUtf8(c.respBody!))
  const calls = r.calls
  return { s, calls, send, text }
}

const HELLO = '{"type":"update","channel":"prices","symbol":"ACME","price":101.5}'

describe('parseDeflateExtension (RFC 7692 §5, §7.1)', () => {
  it('reads the accepted element and its context-takeover parameters', () => {
    expect(parseDeflateExtension('permessage-deflate; client_max_window_bits=15')).toEqual({
      clientTakeover: true,
      serverTakeover: true,
    })
    expect(
      parseDeflateExtension(
        'x-other; a=1, Permessage-Deflate; server_no_context_takeover ; client_no_context_takeover'
      )
    ).toEqual({ clientTakeover: false, serverTakeover: false })
    expect(parseDeflateExtension('permessage-deflate; server_no_context_takeover')).toEqual({
      clientTakeover: true,
      serverTakeover: false,
    })
    expect(parseDeflateExtension('x-webkit-deflate-frame')).toBeUndefined()
    expect(parseDeflateExtension(undefined)).toBeUndefined()
  })
})

describe('permessage-deflate previews', () => {
  beforeEach(() => setBodyDecoder(zlibBodyDecoder(zlib)))
  afterEach(() => setBodyDecoder(undefined))

  it('decodes messages that refer back to earlier ones (context takeover, §7.2.3.2)', async () => {
    const z = sender()
    const { send, text, calls } = session('permessage-deflate')
    const m1 = await z.message(HELLO)
    const m2 = await z.message(HELLO.replace('101.5', '101.7'))
    const m3 = await z.message(HELLO)
    z.close()
    // The later messages are mostly back-references: they cannot inflate on their own.
    expect(m2.length).toBeLessThan(HELLO.length / 3)
    expect(() => zlib.inflateRawSync(concatBytes(m2, Uint8Array.of(0, 0, 255, 255)))).toThrow(
      /distance too far back/
    )
    send(m1)
    send(m2)
    send(m3)
    expect(text()).toEqual([HELLO, HELLO.replace('101.5', '101.7'), HELLO])
    expect(calls.map((c) => c.summary)).toEqual(text())
    // Sizes stay wire sizes (RFC 7692 §7.2: the payload length counts the compressed bytes).
    expect(calls.map((c) => attr(c.attrs, 'ws_response_payload_length'))).toEqual([
      m1.length,
      m2.length,
      m3.length,
    ])
    expect(calls.every((c) => attr(c.attrs, 'ws_compressed') === true)).toBe(true)
  })

  it('keeps one window per direction', async () => {
    const client = sender()
    const server = sender()
    const { s, calls } = session('permessage-deflate')
    const mask = [1, 2, 3, 4] as const
    const c1 = await client.message(`client says ${HELLO}`)
    const s1 = await server.message(`server says ${HELLO}`)
    const c2 = await client.message(`client says ${HELLO}`)
    const s2 = await server.message(`server says ${HELLO}`)
    client.close()
    server.close()
    for (const [c, sv] of [
      [c1, s1],
      [c2, s2],
    ] as const) {
      s.onData(0, frame({ opcode: WsOpcode.TEXT, payload: c, rsv1: true, mask }), 2)
      s.onData(1, frame({ opcode: WsOpcode.TEXT, payload: sv, rsv1: true }), 3)
    }
    expect(calls.map((c) => decodeUtf8(c.reqBody ?? c.respBody!))).toEqual([
      `client says ${HELLO}`,
      `server says ${HELLO}`,
      `client says ${HELLO}`,
      `server says ${HELLO}`,
    ])
  })

  it('decodes each message alone with no_context_takeover', () => {
    const { send, text } = session(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover'
    )
    const alone = (t: string) => {
      const b = zlib.deflateRawSync(t, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
      return new Uint8Array(b.subarray(0, b.length - 4))
    }
    send(alone(HELLO))
    send(alone(HELLO))
    expect(text()).toEqual([HELLO, HELLO])
  })

  it('joins a compressed fragmented message before inflating (RSV1 on the first frame only)', async () => {
    const z = sender()
    const { s, calls } = session('permessage-deflate')
    const m = await z.message(HELLO)
    z.close()
    const cut = m.length >> 1
    s.onData(
      1,
      concatBytes(
        frame({ opcode: WsOpcode.TEXT, payload: m.subarray(0, cut), fin: false, rsv1: true }),
        frame({ opcode: WsOpcode.PING, payload: 'p' }),
        frame({ opcode: WsOpcode.CONTINUATION, payload: m.subarray(cut) })
      ),
      2
    )
    expect(calls.map((c) => [c.method, decodeUtf8(c.respBody!)])).toEqual([
      ['ping', 'p'],
      ['text', HELLO],
    ])
  })

  it('after a message cut by the body limit, shows wire bytes rather than wrong text', async () => {
    const z = sender()
    const { send, calls } = session('permessage-deflate', { maxBodyBytes: 200 })
    // Incompressible enough to exceed 200 wire bytes; letters a-m only.
    let x = 7
    const big = Array.from({ length: 2000 }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31
      return String.fromCharCode(97 + (x % 13))
    }).join('')
    const m1 = await z.message(big)
    const m2 = await z.message(big.slice(0, 300)) // all back-references into m1
    const m3 = await z.message('NOPQRSTUVWXYZ 0123456789') // nothing it could refer back to
    z.close()
    expect(m1.length).toBeGreaterThan(200)
    send(m1)
    send(m2)
    send(m3)
    const [c1, c2, c3] = calls
    // A prefix of the first message still previews, flagged truncated.
    expect(decodeUtf8(c1!.respBody!)).toBe(big.slice(0, c1!.respBody!.length))
    expect(c1!.respBody!.length).toBeGreaterThan(100)
    expect(c1!.respBodyTruncated).toBe(true)
    // The window is gone: the second cannot be inflated and stays as it was on the wire.
    expect([...c2!.respBody!]).toEqual([...m2])
    expect(c2!.summary).toBe(`text ${m2.length} bytes`)
    expect(decodeUtf8(c3!.respBody!)).toBe('NOPQRSTUVWXYZ 0123456789')
  })

  it('bounds the window to 32 KiB and carries it across a large message', async () => {
    const z = sender()
    const inflater = new MessageInflater(true)
    const text = Array.from({ length: 5000 }, (_, i) => `line ${i};`).join('')
    const m1 = await z.message(text)
    const m2 = await z.message(text.slice(-20_000))
    z.close()
    const r1 = inflater.inflate(m1, true, true, 1 << 20)!
    expect(decodeUtf8(r1.bytes)).toBe(text)
    expect(inflater.windowLength).toBe(DEFLATE_WINDOW)
    const r2 = inflater.inflate(m2, true, true, 1000)!
    expect(decodeUtf8(r2.bytes)).toBe(text.slice(-20_000, -19_000))
    expect(r2.truncated).toBe(true)
    expect(inflater.windowLength).toBe(DEFLATE_WINDOW)
  })

  it('without a registered decoder keeps the wire bytes', async () => {
    setBodyDecoder(undefined)
    const z = sender()
    const m = await z.message(HELLO)
    z.close()
    const { send, calls } = session('permessage-deflate')
    send(m)
    expect([...calls[0]!.respBody!]).toEqual([...m])
    expect(calls[0]!.summary).toBe(`text ${m.length} bytes`)
  })
})
