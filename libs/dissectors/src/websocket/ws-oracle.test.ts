/**
 * WebSocket oracle test with the real `ws` library: a server and clients on loopback, one
 * connection with permessage-deflate off and one with it on (RFC 7692, with context takeover, the
 * library's default). tshark reads the same capture; every message it reassembles must be one
 * entry of ours with the same opcode, direction, wire length and (decompressed) text.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import type { RawData } from 'ws'
import { analyzeFile, recordLoopback, requireTool, tempDir } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'
import type { CallRecord } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { setBodyDecoder, zlibBodyDecoder } from '../http1/body-decoder.js'
import { http1Dissector } from '../http1/http1-dissector.js'
import { decodeUtf8 } from '../util/bytes.js'
import { attr } from './test-support.js'
import { websocketDissector } from './websocket-dissector.js'

const run = promisify(execFile)

/** Deterministic, incompressible bytes (an LCG), so deflate cannot shrink the 64-bit frames. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n)
  let x = seed >>> 0
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const LOREM = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '
const LARGE_TEXT = LOREM.repeat(Math.ceil(100_000 / LOREM.length)).slice(0, 100_000)

/** The server's side: echo data messages; on 'go' it sends its own batch, then 'server done'. */
function serve(ws: WebSocket): void {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[])
    if (isBinary) return ws.send(Buffer.from(buf).reverse(), { binary: true })
    const text = buf.toString('utf8')
    if (text !== 'go') return ws.send(`echo: ${text}`)
    ws.ping('server ping')
    ws.send(noise(70_000, 7), { binary: true })
    ws.send('srv-frag-1 ', { fin: false })
    ws.send('srv-frag-2 ', { fin: false })
    ws.send('srv-frag-end')
    ws.send('server done')
  })
}

/** One client connection: every kind of message, in lock step with the server's answers. */
async function client(port: number, deflate: boolean): Promise<{ close: [number, string] }> {
  const mode = deflate ? 'deflate' : 'plain'
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${mode}?v=1`, {
    perMessageDeflate: deflate ? { threshold: 16 } : false,
  })
  const inbox: string[] = []
  const waiters: ((s: string) => void)[] = []
  ws.on('message', (d: RawData, isBinary: boolean) => {
    const s = isBinary ? `binary:${(d as Buffer).length}` : (d as Buffer).toString('utf8')
    const w = waiters.shift()
    if (w) w(s)
    else inbox.push(s)
  })
  const next = () =>
    new Promise<string>((resolve) => {
      const s = inbox.shift()
      if (s !== undefined) resolve(s)
      else waiters.push(resolve)
    })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  const hello = `hello from the ${mode} client, hello again`
  ws.send(hello)
  expect(await next()).toBe(`echo: ${hello}`)
  ws.send(noise(300, 1), { binary: true })
  expect(await next()).toBe('binary:300')
  // A fragmented text message (RFC 6455 §5.4): ws sends continuation frames until fin.
  ws.send('frag-one ', { fin: false })
  ws.send('frag-two ', { fin: false })
  ws.send('frag-end')
  expect(await next()).toBe('echo: frag-one frag-two frag-end')
  ws.send(LARGE_TEXT)
  expect(await next()).toBe(`echo: ${LARGE_TEXT}`)
  ws.send(noise(70_000, 2), { binary: true })
  expect(await next()).toBe('binary:70000')
  const pong = new Promise<string>((r) => ws.once('pong', (d: Buffer) => r(d.toString())))
  ws.ping('are you there?')
  expect(await pong).toBe('are you there?')
  ws.send('go')
  expect(await next()).toBe('binary:70000')
  expect(await next()).toBe('srv-frag-1 srv-frag-2 srv-frag-end')
  expect(await next()).toBe('server done')
  // The same text again: with context takeover it compresses to back-references.
  ws.send(hello)
  expect(await next()).toBe(`echo: ${hello}`)
  const closed = new Promise<[number, string]>((r) =>
    ws.once('close', (code: number, reason: Buffer) => r([code, reason.toString()]))
  )
  ws.close(4000, `bye from ${mode}`)
  return { close: await closed }
}

/** Bounds a step of the traffic, so a lost message fails the test instead of hanging it. */
function withTimeout<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** One message as tshark shows it: frames joined until FIN per direction, control frames alone. */
interface TheirMessage {
  clientPort: number
  side: 'req' | 'resp'
  opcode: number
  /** Wire payload bytes over all frames (compressed size with permessage-deflate). */
  length: number
  frames: number
  compressed: boolean
  masked: boolean
  /** websocket.payload.text of the final frame (decompressed, fragments reassembled). */
  text: string | undefined
  /** Ping/pong payload, hex. */
  control: string | undefined
  close: [number, string] | undefined
}

const asList = (v: unknown): Record<string, any>[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v as Record<string, any>]

/** Parses `tshark -T json -J "tcp websocket"` into messages, in capture order. */
function theirMessages(json: string, serverPort: number): TheirMessage[] {
  const packets = JSON.parse(json) as { _source: { layers: Record<string, unknown> } }[]
  const out: TheirMessage[] = []
  const open = new Map<string, TheirMessage>()
  for (const p of packets) {
    const tcp = asList(p._source.layers['tcp'])[0]!
    const src = Number(tcp['tcp.srcport'])
    const side = src === serverPort ? 'resp' : 'req'
    const clientPort = side === 'req' ? src : Number(tcp['tcp.dstport'])
    // Several frames in one segment come as a list, in frame order.
    for (const f of asList(p._source.layers['websocket'])) {
      const op = Number(f['websocket.opcode'])
      const len7 = Number(f['websocket.payload_length'])
      const len =
        len7 === 126
          ? Number(f['websocket.payload_length_ext_16'])
          : len7 === 127
            ? Number(f['websocket.payload_length_ext_64'])
            : len7
      const payload = (f['websocket.payload'] || {}) as Record<string, any>
      const closeTree = payload['websocket.payload.close'] as Record<string, string> | undefined
      const key = `${clientPort} ${side}`
      let m = op === 0 ? open.get(key) : undefined
      if (m === undefined) {
        m = {
          clientPort,
          side,
          opcode: op,
          length: 0,
          frames: 0,
          compressed: f['websocket.pmc'] === '1',
          masked: f['websocket.mask'] === '1',
          text: undefined,
          control: payload['websocket.payload.ping'] ?? payload['websocket.payload.pong'],
          close: closeTree && [
            Number(closeTree['websocket.payload.close.status_code']),
            closeTree['websocket.payload.close.reason'] ?? '',
          ],
        }
      }
      m.length += len
      m.frames++
      if (typeof payload['websocket.payload.text'] === 'string')
        m.text = payload['websocket.payload.text']
      if (op >= 8) out.push(m)
      else if (f['websocket.fin'] === '1') {
        open.delete(key)
        out.push(m)
      } else open.set(key, m)
    }
  }
  return out
}

/** Our entry for a message, as comparable fields. */
interface OurMessage {
  clientPort: number
  side: 'req' | 'resp'
  opcode: number
  length: number
  compressed: boolean
  call: CallRecord
  preview: Uint8Array
}

const OPCODES: Record<string, number> = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 }

describe('WebSocket with the ws library against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'ws.pcap')
  let result: AnalyzeResult
  let port = 0
  const closes: [number, string][] = []
  const clientPorts: Record<string, number> = {}
  let theirs: TheirMessage[] = []
  let ours: OurMessage[] = []

  beforeAll(async () => {
    setBodyDecoder(zlibBodyDecoder(zlib))
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: { threshold: 16 },
    })
    server.on('connection', (ws, req) => {
      clientPorts[String(req.url).split('?')[0]!.slice(1)] = req.socket.remotePort!
      serve(ws)
    })
    await new Promise<void>((r) => server.once('listening', () => r()))
    port = (server.address() as { port: number }).port
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        closes.push((await withTimeout(client(port, false), 'plain client')).close)
        closes.push((await withTimeout(client(port, true), 'deflate client')).close)
      })
    } finally {
      // ws does not close open connections itself; a stuck one would keep close() waiting.
      for (const c of server.clients) c.terminate()
      await new Promise<void>((r) => server.close(() => r()))
    }
    result = await analyzeFile(file, { dissectors: [http1Dissector, websocketDissector] })
    const bin = requireTool('tshark', 'tshark')
    const args = ['-n', '-r', file, '-d', `tcp.port==${port},http`, '-Y', 'websocket']
    const { stdout } = await run(
      bin,
      [...args, '-T', 'json', '--no-duplicate-keys', '-J', 'tcp websocket'],
      { maxBuffer: 1 << 28 }
    )
    theirs = theirMessages(stdout, port)
    ours = result.entries.flatMap((e, i) => {
      if (e.proto !== 'ws') return []
      const call = result.calls[i]!
      const req = attr(call.attrs, 'ws_request') === true
      const length = attr(
        call.attrs,
        req ? 'ws_request_payload_length' : 'ws_response_payload_length'
      )
      return [
        {
          clientPort: Number(e.src!.port),
          side: req ? ('req' as const) : ('resp' as const),
          opcode: OPCODES[call.method!]!,
          length: Number(length),
          compressed: attr(call.attrs, 'ws_compressed') === true,
          call,
          preview: (req ? call.reqBody : call.respBody) ?? new Uint8Array(0),
        },
      ]
    })
  }, 60_000)

  afterAll(() => {
    setBodyDecoder(undefined)
    dir.dispose()
  })

  const key = (m: { clientPort: number; side: string; opcode: number; length: number }) =>
    `${m.clientPort === clientPorts['plain'] ? 'plain' : 'deflate'} ${m.side} ${m.opcode} ${m.length}`

  it('the library did what the test asked (both closes echoed, deflate negotiated on one)', () => {
    expect(closes).toEqual([
      [4000, 'bye from plain'],
      [4000, 'bye from deflate'],
    ])
    const hs = result.entries.filter((e) => e.proto === 'http')
    expect(hs.map((e) => [e.path, e.status])).toEqual([
      ['/plain', 101],
      ['/deflate', 101],
    ])
    const ext = (e: Entry) =>
      e.respHeaders?.find((h) => h.name?.toLowerCase() === 'sec-websocket-extensions')?.value
    expect(ext(hs[0]!)).toBeUndefined()
    expect(ext(hs[1]!)).toMatch(/^permessage-deflate/)
    // 10 messages from each client, 12 from the server to each.
    expect(theirs.length).toBe(44)
    expect(theirs.filter((m) => m.compressed).length).toBeGreaterThanOrEqual(14)
    // Client frames are masked, server frames are not (RFC 6455 §5.1).
    for (const m of theirs) expect(m.masked).toBe(m.side === 'req')
  })

  it('has one entry per message tshark sees: same direction, opcode, wire length, RSV1', () => {
    expect(ours.map(key).sort()).toEqual(theirs.map(key).sort())
    const compressed = (ms: { compressed: boolean }[]) => ms.filter((m) => m.compressed).length
    expect(compressed(ours)).toBe(compressed(theirs))
    for (const e of result.entries.filter((x) => x.proto === 'ws')) {
      expect(e.path).toBe(e.src!.port === clientPorts['plain'] ? '/plain' : '/deflate')
      expect(e.errorType).toBe('')
    }
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })

  it('shows the same text as tshark, decompressed under context takeover', () => {
    const remaining = [...ours]
    let compared = 0
    for (const t of theirs.filter((m) => m.opcode === 1)) {
      const i = remaining.findIndex((o) => key(o) === key(t))
      const o = remaining.splice(i, 1)[0]!
      const text = decodeUtf8(o.preview)
      if (t.compressed && t.frames > 1) {
        // tshark 4.0 inflates only the last fragment of a compressed fragmented message; the
        // library's own text is the oracle here.
        expect(text).toBe(
          t.side === 'req' ? 'frag-one frag-two frag-end' : 'srv-frag-1 srv-frag-2 srv-frag-end'
        )
        continue
      }
      const limit = DEFAULT_DISSECTOR_LIMITS.maxBodyBytes
      expect(text.length, key(t)).toBe(Math.min(t.text!.length, limit))
      expect(text === t.text!.slice(0, limit), key(t)).toBe(true)
      expect(o.side === 'req' ? o.call.reqBodyTruncated : o.call.respBodyTruncated).toBe(
        t.text!.length > limit
      )
      compared++
    }
    expect(compared).toBe(20)
  })

  it('previews binary messages, inflated, as the bytes the peer sent', () => {
    for (const mode of ['plain', 'deflate']) {
      const bin = ours.filter((o) => o.opcode === 2 && o.clientPort === clientPorts[mode])
      const sent = [
        ['req', noise(300, 1)],
        ['resp', Buffer.from(noise(300, 1)).reverse()],
        ['req', noise(70_000, 2)],
        ['resp', Buffer.from(noise(70_000, 2)).reverse()],
        ['resp', noise(70_000, 7)],
      ] as const
      expect(bin.length).toBe(sent.length)
      for (const [side, bytes] of sent) {
        const o = bin.find(
          (b) =>
            b.side === side && Buffer.from(bytes.subarray(0, 64)).equals(b.preview.subarray(0, 64))
        )
        expect(o, `${mode} ${side} ${bytes.length}`).toBeDefined()
        expect(Buffer.from(o!.preview).equals(bytes.subarray(0, o!.preview.length))).toBe(true)
        const limit = DEFAULT_DISSECTOR_LIMITS.maxBodyBytes
        const truncated = side === 'req' ? o!.call.reqBodyTruncated : o!.call.respBodyTruncated
        expect(truncated).toBe(bytes.length > limit)
        if (bytes.length <= limit) expect(o!.preview.length).toBe(bytes.length)
        // 70 000 bytes exceed the 64 KiB body limit: a prefix. Compressed, the limit cuts the
        // wire bytes, so a little less inflates (stored-block headers are not payload).
        else if (mode === 'plain') expect(o!.preview.length).toBe(limit)
        else expect(o!.preview.length).toBeGreaterThan(limit - 100)
      }
    }
  })

  it('reports ping, pong and close payloads as tshark does', () => {
    const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')
    const control = <T extends { opcode: number }>(ms: T[]) => ms.filter((m) => m.opcode >= 8)
    const theirsCtl = control(theirs).map((t) =>
      t.opcode === 8 ? `${key(t)} close ${t.close!.join(' ')}` : `${key(t)} ${t.control}`
    )
    const oursCtl = control(ours).map((o) =>
      o.opcode === 8
        ? `${key(o)} close ${String(attr(o.call.attrs, 'ws_close_code'))} ${String(attr(o.call.attrs, 'ws_close_reason'))}`
        : `${key(o)} ${hex(o.preview)}`
    )
    expect(oursCtl.sort()).toEqual(theirsCtl.sort())
    expect(theirsCtl.length).toBe(12)
  })
})
