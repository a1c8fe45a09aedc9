import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Direction } from '@tapwire/reassembly'
import {
  analyzeFile,
  http2Request,
  recordLoopback,
  requireTool,
  startHttp2Peer,
  tempDir,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { CallRecord, Dissector, DissectorSession } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'
import { http1Dissector } from '../http1/http1-dissector.js'
import { http2Dissector } from './http2-dissector.js'
import {
  concatBytes,
  dataFrame,
  headersFrame,
  settingsFrame,
  tsharkStreams,
} from './test-support.js'
import type { TsharkStream } from './test-support.js'

const run = promisify(execFile)

/** tshark's HTTP/2 streams, decoded as HTTP/2 on `port` (ephemeral ports need decode-as). */
async function tsharkH2(file: string, port: number, proto = 'http2'): Promise<TsharkStream[]> {
  const bin = requireTool('tshark', 'tshark')
  const args = [
    '-n',
    '-r',
    file,
    '-d',
    `tcp.port==${port},${proto}`,
    '-Y',
    'http2',
    '-T',
    'json',
    '--no-duplicate-keys',
    '-J',
    'tcp http2',
  ]
  const { stdout } = await run(bin, args, { maxBuffer: 1 << 30 })
  return tsharkStreams(stdout)
}

interface Logged {
  log: ([Direction, Uint8Array, number] | ['close', number])[]
}

/** The HTTP/2 dissector, recording each connection's reassembled bytes for replays. */
function recordingDissector(logs: Logged[]): Dissector {
  return {
    ...http2Dissector,
    newSession(ctx, init) {
      const inner = http2Dissector.newSession(ctx, init)
      const entry: Logged = { log: [] }
      logs.push(entry)
      const s: DissectorSession = {
        onData: (d, data, ts) => {
          entry.log.push([d, data.slice(), ts])
          inner.onData(d, data, ts)
        },
        onGap: (d, n, ts) => inner.onGap(d, n, ts),
        onClose: (ts) => {
          entry.log.push(['close', ts])
          inner.onClose(ts)
        },
      }
      return s
    },
  }
}

/** Feeds a recorded connection to a fresh session one byte at a time. */
function replayByteByByte(logged: Logged): CallRecord[] {
  const calls: CallRecord[] = []
  const conn = {
    id: 1,
    transport: 'tcp' as const,
    client: { ip: '127.0.0.1', port: 1 },
    server: { ip: '127.0.0.1', port: 2 },
  }
  const s = http2Dissector.newSession({
    conn,
    limits: DEFAULT_DISSECTOR_LIMITS,
    emit: (c) => calls.push(c),
    count: () => undefined,
    upgrade: () => undefined,
  })
  for (const step of logged.log) {
    if (step[0] === 'close') s.onClose(step[1])
    else
      for (let i = 0; i < step[1].length; i++)
        s.onData(step[0], step[1].subarray(i, i + 1), step[2])
  }
  return calls
}

const key = (method: string, url: string, status: number | string, port: number) =>
  `${port} ${method} ${url} ${status}`

// Real traffic: Node's http2 client and server and curl with prior knowledge, on loopback, recorded
// by tcpdump; tshark's HTTP/2 dissector is the oracle for every stream.
describe('HTTP/2 (prior knowledge) against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'h2.pcap')
  let result: AnalyzeResult
  let port = 0
  const logs: Logged[] = []
  const clientSaw: string[] = []

  beforeAll(async () => {
    requireTool('curl', 'curl')
    const server = await startHttp2Peer((stream, headers, got) => {
      const path = String(headers[':path'])
      if (path.startsWith('/missing')) {
        stream.respond({ ':status': 404, 'content-type': 'text/plain' })
        stream.end('not found')
      } else if (path.startsWith('/boom')) {
        stream.respond({ ':status': 500 })
        stream.end('boom')
      } else if (path.startsWith('/trailers')) {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true })
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }))
        stream.end('with trailers')
      } else if (path.startsWith('/large')) {
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' })
        stream.end(Buffer.alloc(300_000, 'L'))
      } else {
        stream.respond({
          ':status': 200,
          'content-type': 'application/json',
          'x-got': String(got),
        })
        stream.end(JSON.stringify({ path, method: headers[':method'], got }))
      }
    })
    port = server.port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      const client = http2.connect(`http://127.0.0.1:${port}`)
      const req = async (headers: http2.OutgoingHttpHeaders, body?: string | Buffer) => {
        const r = await http2Request(client, headers, body)
        clientSaw.push(
          `${String(headers[':method'] ?? 'GET')} ${String(headers[':path'])} ${r.status}`
        )
        return r
      }
      for (let i = 0; i < 5; i++) await req({ ':path': `/api/items/${i}?q=${i}` })
      await req(
        { ':method': 'POST', ':path': '/api/orders', 'content-type': 'application/json' },
        JSON.stringify({ item: 'widget', qty: 3 })
      )
      await req({ ':method': 'PUT', ':path': '/api/blob' }, Buffer.alloc(100_000, 'P'))
      await req({ ':method': 'DELETE', ':path': '/api/items/7' })
      await req({ ':path': '/missing' })
      await req({ ':method': 'POST', ':path': '/boom' }, 'x')
      await req({ ':path': '/trailers' })
      await req({ ':path': '/large' })
      await Promise.all(Array.from({ length: 60 }, (_, i) => req({ ':path': `/concurrent/${i}` })))
      await new Promise<void>((r) => client.close(() => r()))
      // curl with prior knowledge (curl 7.88 fails to reuse a connection to Node: one per URL).
      await run('curl', ['-sS', '--http2-prior-knowledge', `http://127.0.0.1:${port}/curl/a`])
      await run('curl', ['-sS', '--http2-prior-knowledge', `http://127.0.0.1:${port}/curl/b?z=1`])
      await run('curl', [
        '-sS',
        '--http2-prior-knowledge',
        '-X',
        'POST',
        '-d',
        'from=curl',
        `http://127.0.0.1:${port}/curl/post`,
      ])
    })
    await server.close()
    result = await analyzeFile(file, { dissectors: [http1Dissector, recordingDissector(logs)] })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds exactly the streams tshark finds, with the same method, path and status', async () => {
    const theirs = await tsharkH2(file, port)
    expect(theirs.length).toBe(72 + 3)
    expect(theirs.every((s) => s.status !== '')).toBe(true)
    const ours = result.entries.map((e) => key(e.method!, e.url!, e.status!, e.src!.port!))
    expect(ours.sort()).toEqual(
      theirs.map((s) => key(s.method, s.path, s.status, s.clientPort)).sort()
    )
    expect(
      result.entries.every(
        (e) => e.proto === 'http' && e.version === 'HTTP/2' && e.errorType === ''
      )
    ).toBe(true)
  })

  it('reports bodies, sizes, headers and trailers as sent', () => {
    const by = (path: string) => result.entries.find((e) => e.path === path)!
    const post = by('/api/orders')
    expect(post.reqBody).toBe('{"item":"widget","qty":3}')
    expect(post.reqBodySize).toBe(25)
    expect(JSON.parse(post.respBody!)).toEqual({ path: '/api/orders', method: 'POST', got: 25 })
    expect(post.reqHeaders).toContainEqual({ name: 'content-type', value: 'application/json' })
    expect(post.reqHeaders!.some((h) => h.name!.startsWith(':'))).toBe(false)
    expect(post.respHeaders).toContainEqual({ name: 'x-got', value: '25' })
    const put = by('/api/blob')
    expect(put.reqBodySize).toBe(100_000)
    expect(put.reqBodyTruncated).toBe(true)
    const large = by('/large')
    expect(large.respBodySize).toBe(300_000)
    expect(large.respBodyTruncated).toBe(true)
    expect(by('/trailers').respHeaders).toContainEqual({ name: 'x-checksum', value: 'abc123' })
    expect(by('/trailers').respBody).toBe('with trailers')
    expect(by('/missing').status).toBe(404)
    expect(by('/boom').status).toBe(500)
    expect(by('/curl/b').url).toBe('/curl/b?z=1')
    expect(by('/curl/post').reqBody).toBe('from=curl')
    for (const e of result.entries) {
      expect(e.elapsedUs).toBeGreaterThan(0)
      expect(e.dst!.port).toBe(port)
      expect(e.reqHeaderSize).toBeGreaterThan(0)
      expect(e.respHeaderSize).toBeGreaterThan(0)
    }
    expect(result.entries.filter((e) => e.path!.startsWith('/concurrent/')).length).toBe(60)
    expect(clientSaw.length).toBe(72)
    expect(result.stats.flows.tcpGaps).toBe(0)
    expect(result.stats.engine.dissectorErrors).toBe(0)
    expect(result.stats.engine.connectionsDissected).toBe(4)
  })

  it('gives the same calls when the same connections arrive one byte per segment', () => {
    expect(logs.length).toBe(4)
    const again = logs.flatMap(replayByteByByte)
    const strip = (c: CallRecord) => ({
      ...c,
      reqBody: [...(c.reqBody ?? [])].length,
      respBody: [...(c.respBody ?? [])].length,
    })
    expect(again.map(strip)).toEqual(result.calls.map(strip))
  })
})

/**
 * A minimal h2c server for the HTTP/1.1 upgrade (RFC 7540 §3.2), which Node's http2 module does
 * not offer: answers `101`, then stream 1's response, then waits for the client to finish.
 */
async function startH2cUpgradeServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createNetServer((sock) => {
    let buf = Buffer.alloc(0)
    let upgraded = false
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (!upgraded && buf.includes('\r\n\r\n')) {
        upgraded = true
        const head = buf.toString('latin1')
        const path = /^GET (\S+)/.exec(head)?.[1] ?? '/'
        sock.write(
          'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'
        )
        sock.write(
          concatBytes([
            settingsFrame(),
            headersFrame(1, [
              [':status', '200'],
              ['content-type', 'text/plain'],
            ]),
            dataFrame(1, `upgraded ${path}`, true),
          ])
        )
      } else if (upgraded && buf.length > 0) {
        // Acknowledge the client's SETTINGS (frame type 4 without ACK) so curl can finish.
        sock.write(Uint8Array.of(0, 0, 0, 4, 1, 0, 0, 0, 0))
        buf = Buffer.alloc(0)
      }
    })
    sock.on('error', () => sock.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

describe('h2c upgrade from HTTP/1.1 (curl --http2)', () => {
  const dir = tempDir()
  const file = join(dir.path, 'h2c.pcap')
  let result: AnalyzeResult
  let port = 0
  let curlOut = ''

  beforeAll(async () => {
    requireTool('curl', 'curl')
    const server = await startH2cUpgradeServer()
    port = server.port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      const { stdout } = await run('curl', [
        '-sS',
        '--max-time',
        '5',
        '--http2',
        `http://127.0.0.1:${port}/upgrade/me?x=1`,
      ])
      curlOut = stdout
    })
    await server.close()
    result = await analyzeFile(file, { dissectors: [http1Dissector, http2Dissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('reports the 101 exchange as HTTP/1.1 and stream 1 as HTTP/2', async () => {
    expect(curlOut).toBe('upgraded /upgrade/me?x=1')
    const rows = result.entries.map((e) => [
      e.proto,
      e.version,
      e.method,
      e.url,
      e.status,
      e.respBody,
    ])
    expect(rows).toEqual([
      ['http', 'HTTP/1.1', 'GET', '/upgrade/me?x=1', 101, ''],
      ['http', 'HTTP/2', 'GET', '/upgrade/me?x=1', 200, 'upgraded /upgrade/me?x=1'],
    ])
    const h2 = result.entries[1]!
    expect(h2.reqHeaders).toContainEqual({ name: 'Upgrade', value: 'h2c' })
    expect(h2.respHeaders).toContainEqual({ name: 'content-type', value: 'text/plain' })
    expect(h2.elapsedUs).toBeGreaterThan(0)
    expect(result.stats.engine.dissectorErrors).toBe(0)
    // tshark follows the upgrade from its HTTP dissector and sees stream 1's response (the
    // request is the HTTP/1.1 one, so there is no HTTP/2 :method to compare).
    const { stdout } = await run('tshark', [
      '-n',
      '-r',
      file,
      '-d',
      `tcp.port==${port},http`,
      '-Y',
      'http2.headers.status',
      '-T',
      'fields',
      '-e',
      'http2.headers.status',
    ])
    expect(stdout.trim()).toBe('200')
  })
})
