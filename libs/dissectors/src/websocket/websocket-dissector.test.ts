import { describe, expect, it } from 'vitest'
import { http1Dissector } from '../http1/http1-dissector.js'
import { decodeUtf8 } from '../util/bytes.js'
import { attr, concatBytes, frame, recordingContext, upgradeInit } from './test-support.js'
import { parseClose, websocketDissector, WsOpcode } from './websocket-dissector.js'

const enc = new TextEncoder()
const MASK = [0x12, 0x34, 0x56, 0x78] as const
const INIT = upgradeInit('/chat?room=1')

function session(limits = {}) {
  const r = recordingContext([websocketDissector], limits)
  const s = websocketDissector.newSession(r.ctx, INIT)
  return { ...r, s }
}

describe('WebSocket frames (RFC 6455 §5)', () => {
  it('unmasks client text frames and reports each message on its side', () => {
    const { s, calls } = session()
    s.onData(0, frame({ opcode: WsOpcode.TEXT, payload: 'hello server', mask: MASK }), 2000)
    s.onData(1, frame({ opcode: WsOpcode.TEXT, payload: 'hello client' }), 2001)
    expect(calls).toHaveLength(2)
    const [c, srv] = calls
    expect(c!.proto).toBe('ws')
    expect(c!.method).toBe('text')
    expect(c!.path).toBe('/chat')
    expect(c!.url).toBe('/chat?room=1')
    expect(c!.reqTs).toBe(2000)
    expect(decodeUtf8(c!.reqBody!)).toBe('hello server')
    expect(c!.reqBodySize).toBe(12)
    expect(attr(c!.attrs, 'ws_opcode')).toBe('text')
    expect(attr(c!.attrs, 'ws_request')).toBe(true)
    expect(attr(c!.attrs, 'ws_response')).toBe(false)
    expect(attr(c!.attrs, 'ws_request_payload_data')).toBe('hello server')
    expect(attr(c!.attrs, 'ws_request_payload_length')).toBe(12)
    expect(srv!.respTs).toBe(2001)
    expect(srv!.reqTs).toBe(2001)
    expect(decodeUtf8(srv!.respBody!)).toBe('hello client')
    expect(attr(srv!.attrs, 'ws_response')).toBe(true)
    expect(attr(srv!.attrs, 'ws_response_payload_length')).toBe(12)
    expect(attr(srv!.attrs, 'ws_request_payload_data')).toBeUndefined()
    expect(srv!.summary).toBe('hello client')
  })

  it('joins fragments, with control frames interleaved (§5.4), and keeps the first frame time', () => {
    const { s, calls } = session()
    const bytes = concatBytes(
      frame({ opcode: WsOpcode.TEXT, payload: 'part1-', fin: false, mask: MASK }),
      frame({ opcode: WsOpcode.PING, payload: 'are you there', mask: MASK }),
      frame({ opcode: WsOpcode.CONTINUATION, payload: 'part2-', fin: false, mask: MASK }),
      frame({ opcode: WsOpcode.CONTINUATION, payload: 'end', mask: MASK })
    )
    s.onData(0, bytes.subarray(0, 5), 10)
    s.onData(0, bytes.subarray(5), 20)
    expect(calls.map((c) => c.method)).toEqual(['ping', 'text'])
    expect(decodeUtf8(calls[1]!.reqBody!)).toBe('part1-part2-end')
    expect(calls[1]!.reqTs).toBe(10)
    expect(decodeUtf8(calls[0]!.reqBody!)).toBe('are you there')
    expect(calls[0]!.reqTs).toBe(20)
  })

  it('reads 16- and 64-bit lengths and survives one byte per segment', () => {
    const big = new Uint8Array(70_000).map((_, i) => i & 0xff)
    const { s, calls } = session({ maxBodyBytes: 1000 })
    const bytes = concatBytes(
      frame({ opcode: WsOpcode.BINARY, payload: big.subarray(0, 300), mask: MASK }),
      frame({ opcode: WsOpcode.BINARY, payload: big, mask: MASK }),
      frame({ opcode: WsOpcode.TEXT, payload: 'x', lengthBits: 64, mask: MASK })
    )
    for (let i = 0; i < bytes.length; i++) s.onData(0, bytes.subarray(i, i + 1), i)
    expect(calls.map((c) => c.reqBodySize)).toEqual([300, 70_000, 1])
    expect(calls[0]!.reqBody).toEqual(big.subarray(0, 300))
    expect(calls[1]!.reqBody).toEqual(big.subarray(0, 1000))
    expect(calls[1]!.reqBodyTruncated).toBe(true)
    expect(calls[1]!.summary).toBe('binary 70000 bytes')
    // Binary previews are hex and bounded.
    expect(String(attr(calls[0]!.attrs, 'ws_request_payload_data'))).toMatch(/^000102/)
    expect(String(attr(calls[1]!.attrs, 'ws_request_payload_data')).length).toBe(1024)
    expect(decodeUtf8(calls[2]!.reqBody!)).toBe('x')
  })

  it('puts the close code and reason in the summary', () => {
    const { s, calls } = session()
    s.onData(
      1,
      frame({
        opcode: WsOpcode.CLOSE,
        payload: concatBytes(new Uint8Array([0x03, 0xe8]), enc.encode('bye')),
      }),
      5
    )
    s.onData(0, frame({ opcode: WsOpcode.CLOSE, payload: new Uint8Array(0), mask: MASK }), 6)
    expect(calls[0]!.summary).toBe('close 1000 bye')
    expect(attr(calls[0]!.attrs, 'ws_close_code')).toBe(1000)
    expect(calls[1]!.summary).toBe('close')
    expect(parseClose(new Uint8Array([0x0f, 0xa0]))).toEqual({ code: 4000, reason: '' })
  })

  it('keeps framing across a gap inside a payload and gives up across a frame boundary', () => {
    const { s, calls } = session()
    const f = frame({ opcode: WsOpcode.TEXT, payload: 'a'.repeat(100), mask: MASK })
    s.onData(0, f.subarray(0, 20), 1)
    s.onGap(0, 30, 2)
    s.onData(0, f.subarray(50), 3)
    s.onData(0, frame({ opcode: WsOpcode.TEXT, payload: 'next', mask: MASK }), 4)
    expect(calls).toHaveLength(2)
    expect(calls[0]!.gaps).toBe(1)
    expect(calls[0]!.reqBodySize).toBe(100)
    // The unmasking position followed the gap: the bytes after it decode correctly.
    expect(decodeUtf8(calls[0]!.reqBody!)).toBe('a'.repeat(70))
    expect(decodeUtf8(calls[1]!.reqBody!)).toBe('next')
    s.onData(1, frame({ opcode: WsOpcode.TEXT, payload: 'half', fin: false }), 5)
    s.onGap(1, 1000, 6)
    s.onData(1, frame({ opcode: WsOpcode.TEXT, payload: 'lost' }), 7)
    expect(calls).toHaveLength(3)
    expect(calls[2]!.error?.type).toBe('dissection')
    expect(calls[2]!.gaps).toBe(0)
  })

  it('reports a message cut by the end of the connection', () => {
    const { s, calls } = session()
    s.onData(1, frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(10), fin: false }), 1)
    s.onClose(2)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.error?.message).toMatch(/closed inside a message/)
  })

  it('stops a direction on reserved opcodes and impossible lengths', () => {
    const { s, calls } = session()
    s.onData(0, new Uint8Array([0x83, 0x80, 1, 2, 3, 4]), 1)
    s.onData(0, frame({ opcode: WsOpcode.TEXT, payload: 'ignored', mask: MASK }), 2)
    s.onData(1, new Uint8Array([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]), 3)
    s.onData(1, frame({ opcode: WsOpcode.TEXT, payload: 'ignored' }), 4)
    expect(calls).toHaveLength(0)
  })

  it('is never probed: only an HTTP/1 upgrade leads to it', () => {
    expect(websocketDissector.probe(frame({ opcode: 1, payload: 'x' }), 0, INIT as never)).toBe(
      'no'
    )
  })
})

describe('HTTP/1 101 upgrade to WebSocket', () => {
  const req =
    'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
  const resp =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n'

  it('emits the handshake as HTTP and hands the bytes after it (same segment) to WebSocket', () => {
    const { ctx, calls, upgrades } = recordingContext([http1Dissector, websocketDissector])
    const s = http1Dissector.newSession(ctx)
    s.onData(0, enc.encode(req), 1)
    s.onData(
      1,
      concatBytes(enc.encode(resp), frame({ opcode: WsOpcode.TEXT, payload: 'welcome' })),
      2
    )
    expect(upgrades).toEqual(['websocket'])
    expect(calls.map((c) => `${c.proto} ${c.method} ${c.status ?? ''}`)).toEqual([
      'http GET 101',
      'ws text ',
    ])
    expect(calls[1]!.path).toBe('/ws')
    expect(decodeUtf8(calls[1]!.respBody!)).toBe('welcome')
  })
})
