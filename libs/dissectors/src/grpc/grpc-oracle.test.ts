import { execFile } from 'node:child_process'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import protobuf from 'protobufjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, requireTool, tempDir } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'
import { http1Dissector } from '../http1/http1-dissector.js'
import { http2Dissector } from '../http2/http2-dissector.js'
import { tsharkStreams } from '../http2/test-support.js'

const run = promisify(execFile)

const root = protobuf.Root.fromJSON({
  nested: {
    shop: {
      nested: {
        GetItemRequest: { fields: { id: { type: 'string', id: 1 } } },
        Item: {
          fields: {
            name: { type: 'string', id: 1 },
            qty: { type: 'int32', id: 2 },
            tags: { rule: 'repeated', type: 'string', id: 3 },
            price: { type: 'Price', id: 4 },
          },
        },
        Price: { fields: { cents: { type: 'int64', id: 1 }, currency: { type: 'string', id: 2 } } },
      },
    },
  },
})
const GetItemRequest = root.lookupType('shop.GetItemRequest')
const Item = root.lookupType('shop.Item')

/** gRPC's length-prefixed message (PROTOCOL-HTTP2.md): compressed flag, 4-byte length, bytes. */
function lpm(message: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + message.length)
  out[0] = compressed ? 1 : 0
  out.writeUInt32BE(message.length, 1)
  out.set(message, 5)
  return out
}

const GRPC_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' }

/** A gRPC server speaking the real wire format over Node's http2 (no @grpc/grpc-js available). */
function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = String(headers[':path'])
  stream.on('data', () => undefined)
  stream.on('end', () => {
    const item = (name: string, qty: number) =>
      lpm(
        Item.encode(
          Item.fromObject({
            name,
            qty,
            tags: ['blue', 'small'],
            price: { cents: 1999, currency: 'EUR' },
          })
        ).finish()
      )
    switch (path) {
      case '/shop.v1.Store/GetItem':
        stream.respond(GRPC_HEADERS, { waitForTrailers: true })
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
        stream.end(item('widget', 3))
        break
      case '/shop.v1.Store/Reserve':
        // A failure after the response headers: status and message in the trailers.
        stream.respond(GRPC_HEADERS, { waitForTrailers: true })
        stream.on('wantTrailers', () =>
          stream.sendTrailers({
            'grpc-status': '14',
            'grpc-message': 'backend unavailable: caf%C3%A9 down',
          })
        )
        stream.end()
        break
      case '/shop.v1.Store/ListItems':
        stream.respond(GRPC_HEADERS, { waitForTrailers: true })
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
        for (let i = 0; i < 4; i++) stream.write(item(`item-${i}`, i))
        stream.end(item('item-4', 4))
        break
      default:
        // Trailers-Only (PROTOCOL-HTTP2.md): one HEADERS frame with END_STREAM.
        stream.respond(
          { ...GRPC_HEADERS, 'grpc-status': '12', 'grpc-message': 'unknown method' },
          { endStream: true }
        )
    }
  })
}

function call(
  client: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  extra: http2.OutgoingHttpHeaders = {}
) {
  return new Promise<{ status: string | undefined; messages: number }>((resolve, reject) => {
    const req = client.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      ...extra,
    })
    let status: string | undefined
    let bytes = 0
    req.on('response', (h) => (status ??= h['grpc-status'] as string | undefined))
    req.on('trailers', (t) => (status = t['grpc-status'] as string | undefined))
    req.on('data', (d: Buffer) => (bytes += d.length))
    req.on('end', () => resolve({ status, messages: bytes }))
    req.on('error', reject)
    req.end(body)
  })
}

describe('gRPC over HTTP/2 against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'grpc.pcap')
  let result: AnalyzeResult
  let port = 0
  const statuses: (string | undefined)[] = []

  beforeAll(async () => {
    const server = http2.createServer()
    server.on('stream', handle)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      const client = http2.connect(`http://127.0.0.1:${port}`)
      const req = (id: string) => lpm(GetItemRequest.encode({ id }).finish())
      statuses.push((await call(client, '/shop.v1.Store/GetItem', req('sku-1'))).status)
      statuses.push((await call(client, '/shop.v1.Store/Reserve', req('sku-2'))).status)
      statuses.push((await call(client, '/shop.v1.Store/Nope', req('sku-3'))).status)
      statuses.push((await call(client, '/shop.v1.Store/ListItems', req('all'))).status)
      const zipped = lpm(gzipSync(GetItemRequest.encode({ id: 'sku-9' }).finish()), true)
      statuses.push(
        (await call(client, '/shop.v1.Store/GetItem', zipped, { 'grpc-encoding': 'gzip' })).status
      )
      await new Promise<void>((r) => client.close(() => r()))
    })
    await new Promise<void>((r) => server.close(() => r()))
    result = await analyzeFile(file, { dissectors: [http1Dissector, http2Dissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  const attr = (e: Entry, name: string) => {
    const a = e.attrs!.find((x) => x.name === name)
    return a?.num ?? a?.str
  }

  it('reports each call with method, grpc_method, grpc_status and grpc_message', () => {
    expect(statuses).toEqual(['0', '14', '12', '0', '0'])
    const rows = result.entries.map((e) => [
      e.proto,
      e.method,
      e.status,
      attr(e, 'grpc_method'),
      attr(e, 'grpc_service'),
      attr(e, 'grpc_status'),
      attr(e, 'grpc_message'),
    ])
    expect(rows).toEqual([
      ['grpc', '/shop.v1.Store/GetItem', 200, 'GetItem', 'shop.v1.Store', 0, ''],
      [
        'grpc',
        '/shop.v1.Store/Reserve',
        200,
        'Reserve',
        'shop.v1.Store',
        14,
        'backend unavailable: café down',
      ],
      ['grpc', '/shop.v1.Store/Nope', 200, 'Nope', 'shop.v1.Store', 12, 'unknown method'],
      ['grpc', '/shop.v1.Store/ListItems', 200, 'ListItems', 'shop.v1.Store', 0, ''],
      ['grpc', '/shop.v1.Store/GetItem', 200, 'GetItem', 'shop.v1.Store', 0, ''],
    ])
    for (const e of result.entries) expect(e.errorType).toBe('')
  })

  it('previews messages as schema-less protobuf', () => {
    const [get, reserve, nope, list, zipped] = result.entries
    const item = (name: string, qty: number) =>
      `{1: "${name}", ${qty === 0 ? '' : `2: ${qty}, `}3: ["blue", "small"], 4: {1: 1999, 2: "EUR"}}`
    expect(get!.reqBody).toBe('{1: "sku-1"}')
    expect(get!.respBody).toBe(item('widget', 3))
    expect(get!.reqBodySize).toBe(5 + 7)
    expect(reserve!.respBody).toBe('')
    expect(nope!.respBodySize).toBe(0)
    expect(list!.respBody!.split('\n')).toEqual([0, 1, 2, 3, 4].map((i) => item(`item-${i}`, i)))
    expect(zipped!.reqBody).toMatch(/^<compressed \d+ bytes>$/)
    expect(zipped!.respHeaders).toContainEqual({ name: 'grpc-status', value: '0' })
  })

  it('agrees with tshark on streams, statuses, grpc-status and message lengths', async () => {
    const bin = requireTool('tshark', 'tshark')
    const args = [
      '-n',
      '-r',
      file,
      '-d',
      `tcp.port==${port},http2`,
      '-Y',
      'http2',
      '-T',
      'json',
      '--no-duplicate-keys',
      '-J',
      'tcp http2 grpc',
    ]
    const theirs = tsharkStreams((await run(bin, args, { maxBuffer: 1 << 28 })).stdout)
    expect(theirs.length).toBe(5)
    theirs.forEach((s, i) => {
      const e = result.entries[i]!
      expect([e.path, e.status, attr(e, 'grpc_status')]).toEqual([
        s.path,
        Number(s.status),
        Number(s.trailers.find(([k]) => k === 'grpc-status')?.[1] ?? '0'),
      ])
      // One preview line per message tshark's gRPC dissector found in the response.
      expect(!e.respBody ? 0 : e.respBody.split('\n').length).toBe(s.grpcResp.length)
      expect(s.grpcReq.length).toBe(1)
      expect(e.reqBodySize).toBe(5 + s.grpcReq[0]!)
    })
  })
})
