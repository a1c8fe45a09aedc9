import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { connect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, tempDir, tsharkFields } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import { http1Dissector } from '../http1/http1-dissector.js'
import { attr, concatBytes, frame } from './test-support.js'
import { websocketDissector, WsOpcode } from './websocket-dissector.js'

const run = promisify(execFile)
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

/** Whole-buffer frame reader for the test server (unmasks; no fragmentation bookkeeping). */
function readFrames(buf: Buffer): {
  frames: { fin: boolean; opcode: number; payload: Buffer }[]
  rest: Buffer
} {
  const frames: { fin: boolean; opcode: number; payload: Buffer }[] = []
  let o = 0
  for (;;) {
    if (buf.length < o + 2) break
    const b1 = buf[o + 1]!
    let len = b1 & 0x7f
    let p = o + 2
    if (len === 126) {
      if (buf.length < p + 2) break
      len = buf.readUInt16BE(p)
      p += 2
    } else if (len === 127) {
      if (buf.length < p + 8) break
      len = Number(buf.readBigUInt64BE(p))
      p += 8
    }
    const masked = (b1 & 0x80) !== 0
    const key = masked ? buf.subarray(p, p + 4) : undefined
    if (masked) p += 4
    if (buf.length < p + len) break
    const payload = Buffer.from(buf.subarray(p, p + len))
    if (key) for (let i = 0; i < len; i++) payload[i]! ^= key[i & 3]!
    frames.push({ fin: (buf[o]! & 0x80) !== 0, opcode: buf[o]! & 0x0f, payload })
    o = p + len
  }
  return { frames, rest: buf.subarray(o) }
}

const NODE_CLIENT = `
const ws = new WebSocket(process.argv[1])
ws.binaryType = 'arraybuffer'
let got = 0
ws.onopen = () => {
  ws.send('hi from the platform client')
  ws.send(new Uint8Array(200).fill(7))
  ws.send('y'.repeat(1000))
}
ws.onmessage = () => { if (++got === 7) ws.close(1000, 'done') }
ws.onclose = () => process.exit(0)
setTimeout(() => process.exit(2), 10000)
`

// A hand-written RFC 6455 server (Node's http 'upgrade' event) talking to Node's own WebSocket
// client and to a hand-written client; tshark's WebSocket dissector is the oracle.
// The `ws` library (and permessage-deflate) is exercised in ws-oracle.test.ts.
describe('WebSocket against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'ws.pcap')
  let result: AnalyzeResult
  let port = 0
  let nodeClient = true

  beforeAll(async () => {
    const sockets = new Set<Socket>()
    const server = createServer((_req, res) => res.end('not a websocket'))
    server.on('upgrade', (req, socket: Socket) => {
      sockets.add(socket)
      const key = String(req.headers['sec-websocket-key'])
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64')
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
      )
      socket.write(frame({ opcode: WsOpcode.TEXT, payload: 'hello' }))
      socket.write(frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(300).fill(1) }))
      socket.write(frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(70_000).fill(2) }))
      socket.write(
        concatBytes(
          frame({ opcode: WsOpcode.TEXT, payload: 'frag-a ', fin: false }),
          frame({ opcode: WsOpcode.PING, payload: 'ping!' }),
          frame({ opcode: WsOpcode.CONTINUATION, payload: 'frag-b' })
        )
      )
      let buf = Buffer.alloc(0)
      socket.on('data', (d: Buffer) => {
        const r = readFrames(Buffer.concat([buf, d]))
        buf = Buffer.from(r.rest)
        for (const f of r.frames) {
          if (f.opcode === WsOpcode.CLOSE) {
            socket.end(frame({ opcode: WsOpcode.CLOSE, payload: f.payload }))
          } else if (f.opcode === WsOpcode.TEXT || f.opcode === WsOpcode.BINARY) {
            socket.write(frame({ opcode: WsOpcode.TEXT, payload: `echo:${f.payload.length}` }))
          }
        }
      })
      socket.on('error', () => socket.destroy())
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      try {
        await run(
          process.execPath,
          [
            '--experimental-websocket',
            '--no-warnings',
            '-e',
            NODE_CLIENT,
            `ws://127.0.0.1:${port}/live?v=1`,
          ],
          { timeout: 15_000 }
        )
      } catch {
        nodeClient = false
      }
      await handWrittenClient(port)
    })
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
    result = await analyzeFile(file, { dissectors: [http1Dissector, websocketDissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds every message tshark finds, with the same opcode, direction and length', async () => {
    const rows = await tsharkFields(
      file,
      'websocket',
      [
        'tcp.srcport',
        'websocket.fin',
        'websocket.opcode',
        'websocket.payload_length',
        'websocket.payload_length_ext_16',
        'websocket.payload_length_ext_64',
      ],
      ['-d', `tcp.port==${port},http`]
    )
    // One row per TCP segment; several frames in one segment come comma-joined.
    const theirs: string[] = []
    const started = new Map<string, { op: number; len: number }>()
    for (const [src, fins, ops, lens, ext16, ext64] of rows) {
      const fin = fins!.split(',')
      const op = ops!.split(',')
      const len = lens!.split(',')
      // Extended lengths (126 / 127 in the 7-bit field) come in their own lists, in frame order.
      const e16 = ext16 ? ext16.split(',') : []
      const e64 = ext64 ? ext64.split(',') : []
      for (let i = 0; i < fin.length; i++) {
        const side = src === String(port) ? 'resp' : 'req'
        const o = Number(op[i])
        let n = Number(len[i])
        if (n === 126) n = Number(e16.shift())
        else if (n === 127) n = Number(e64.shift())
        if (o >= 8) {
          theirs.push(`${side} ${o} ${n}`)
          continue
        }
        const cur = o === 0 ? started.get(side) : { op: o, len: 0 }
        if (!cur) continue
        cur.len += n
        started.set(side, cur)
        if (fin[i] === '1' || fin[i] === 'True') {
          theirs.push(`${side} ${cur.op} ${cur.len}`)
          started.delete(side)
        }
      }
    }
    const codes: Record<string, number> = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 }
    const ours = result.calls
      .filter((c) => c.proto === 'ws')
      .map((c) => {
        const req = attr(c.attrs, 'ws_request') === true
        const n = req
          ? attr(c.attrs, 'ws_request_payload_length')
          : attr(c.attrs, 'ws_response_payload_length')
        return `${req ? 'req' : 'resp'} ${codes[c.method!]} ${String(n)}`
      })
    expect(theirs.length).toBeGreaterThanOrEqual(nodeClient ? 25 : 12)
    expect(ours.sort()).toEqual(theirs.sort())
  })

  it('ran the platform WebSocket client (Node 20 behind --experimental-websocket)', () => {
    expect(nodeClient).toBe(true)
  })

  it('keeps the handshake as an HTTP entry and the upgrade path on every message', () => {
    const handshakes = result.entries.filter((e) => e.proto === 'http')
    expect(handshakes.map((e) => e.status)).toEqual(nodeClient ? [101, 101] : [101])
    const ws = result.entries.filter((e) => e.proto === 'ws')
    expect(new Set(ws.map((e) => e.path))).toEqual(
      new Set(nodeClient ? ['/live', '/hand'] : ['/hand'])
    )
    const frag = ws.find((e) => e.respBody === 'frag-a frag-b')
    expect(frag?.method).toBe('text')
    const close = ws.filter((e) => e.method === 'close').map((e) => e.summary)
    expect(close).toContain('close 1001 going away')
    if (nodeClient) expect(close).toContain('close 1000 done')
    const masked = ws.find((e) => e.reqBody === 'masked fragmented message')
    expect(masked?.attrs?.find((a) => a.name === 'ws_request_payload_data')?.str).toBe(
      'masked fragmented message'
    )
    expect(result.stats.engine.dissectorErrors).toBe(0)
    expect(ws.every((e) => e.errorType === '')).toBe(true)
  })
})

/** Exercises what the platform client does not: fragments, interleaved ping, 64-bit lengths. */
async function handWrittenClient(port: number): Promise<void> {
  const sock = connect(port, '127.0.0.1')
  await new Promise<void>((r) => sock.once('connect', () => r()))
  const key = Buffer.from('0123456789abcdef').toString('base64')
  sock.write(
    `GET /hand HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  )
  let received = Buffer.alloc(0)
  const closed = new Promise<void>((r) => sock.on('close', () => r()))
  sock.on('data', (d: Buffer) => (received = Buffer.concat([received, d])))
  const m = [9, 8, 7, 6] as const
  const send = (b: Uint8Array) => new Promise<void>((r) => sock.write(b, () => r()))
  await new Promise((r) => setTimeout(r, 100))
  await send(frame({ opcode: WsOpcode.TEXT, payload: 'masked ', fin: false, mask: m }))
  await send(frame({ opcode: WsOpcode.PING, payload: 'p', mask: m }))
  await send(frame({ opcode: WsOpcode.CONTINUATION, payload: 'fragmented ', fin: false, mask: m }))
  await send(frame({ opcode: WsOpcode.CONTINUATION, payload: 'message', mask: m }))
  await send(
    frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(5), lengthBits: 64, mask: m })
  )
  await send(frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(100_000).fill(3), mask: m }))
  await send(frame({ opcode: WsOpcode.PONG, payload: '', mask: m }))
  await new Promise((r) => setTimeout(r, 200))
  await send(
    frame({
      opcode: WsOpcode.CLOSE,
      payload: concatBytes(new Uint8Array([0x03, 0xe9]), new TextEncoder().encode('going away')),
      mask: m,
    })
  )
  await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))])
  sock.destroy()
}
