/**
 * gRPC oracle test with the real library: a `@grpc/grpc-js` server and client on loopback (one
 * long-lived HTTP/2 connection, nghttp2's HPACK with its dynamic table and Huffman strings), the
 * capture read by our Analyzer and by tshark. Every call tshark sees must be exactly one entry of
 * ours with the same :path, :status, grpc-status, grpc-message, trailers and x-tenant value.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import protobuf from 'protobufjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, requireTool, tempDir, tsharkFields } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'
import { http1Dissector } from '../http1/http1-dissector.js'
import { http2Dissector } from '../http2/http2-dissector.js'
import { tsharkStreams } from '../http2/test-support.js'
import type { TsharkStream } from '../http2/test-support.js'

const run = promisify(execFile)

const PROTO = `
syntax = "proto3";
package shop.v1;
message GetItemRequest { string id = 1; }
message Item { string name = 1; int32 qty = 2; }
message Blob { bytes data = 1; }
message Summary { int32 count = 1; int32 total = 2; }
`
const root = protobuf.parse(PROTO).root
const T = {
  GetItemRequest: root.lookupType('shop.v1.GetItemRequest'),
  Item: root.lookupType('shop.v1.Item'),
  Blob: root.lookupType('shop.v1.Blob'),
  Summary: root.lookupType('shop.v1.Summary'),
}

/** A grpc-js method definition whose (de)serializers are protobufjs reflection types. */
function method(
  name: string,
  req: protobuf.Type,
  res: protobuf.Type,
  requestStream: boolean,
  responseStream: boolean
): grpc.MethodDefinition<object, object> {
  const ser = (t: protobuf.Type) => (o: object) => Buffer.from(t.encode(t.fromObject(o)).finish())
  const de = (t: protobuf.Type) => (b: Buffer) => t.toObject(t.decode(b), { bytes: Buffer })
  return {
    path: `/shop.v1.Store/${name}`,
    requestStream,
    responseStream,
    requestSerialize: ser(req),
    requestDeserialize: de(req),
    responseSerialize: ser(res),
    responseDeserialize: de(res),
  }
}

const SERVICE = {
  GetItem: method('GetItem', T.GetItemRequest, T.Item, false, false),
  ListItems: method('ListItems', T.GetItemRequest, T.Item, false, true),
  Upload: method('Upload', T.Item, T.Summary, true, false),
  Chat: method('Chat', T.Item, T.Item, true, true),
  Big: method('Big', T.Blob, T.Blob, false, false),
} satisfies grpc.ServiceDefinition

/** Over 16 KiB (several DATA frames) but under the 64 KiB preview bound; the response is over it. */
const BIG_REQ = 40_000
const BIG_RESP = 200_000

interface Item {
  name: string
  qty: number
}

const handlers: grpc.UntypedServiceImplementation = {
  GetItem(call: grpc.ServerUnaryCall<{ id: string }, Item>, cb: grpc.sendUnaryData<Item>): void {
    const id = call.request.id
    if (id === 'missing') {
      // grpc-js percent-encodes grpc-message (PROTOCOL-HTTP2.md, Status-Message).
      cb({ code: grpc.status.NOT_FOUND, details: 'no item "missing" in café' })
    } else if (id === 'quota') {
      call.sendMetadata(new grpc.Metadata({}))
      const trailers = new grpc.Metadata()
      trailers.set('x-retry-after', '30')
      trailers.set('x-quota-bin', Buffer.from([0, 1, 2, 255]))
      cb({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'quota exceeded', metadata: trailers })
    } else {
      const initial = new grpc.Metadata()
      initial.set('x-served-by', 'replica-7')
      call.sendMetadata(initial)
      cb(null, { name: `item ${id}`, qty: id.length })
    }
  },
  ListItems(call: grpc.ServerWritableStream<{ id: string }, Item>): void {
    if (call.request.id === 'slow') {
      // Streams until the client cancels (RST_STREAM CANCEL, no trailers on the wire).
      call.write({ name: 'first', qty: 1 })
      return
    }
    for (let i = 0; i < 5; i++) call.write({ name: `item-${i}`, qty: i })
    call.end()
  },
  Upload(call: grpc.ServerReadableStream<Item, object>, cb: grpc.sendUnaryData<object>): void {
    let count = 0
    let total = 0
    call.on('data', (m: Item) => {
      count++
      total += m.qty
    })
    call.on('end', () => cb(null, { count, total }))
  },
  Chat(call: grpc.ServerDuplexStream<Item, Item>): void {
    call.on('data', (m: Item) => call.write({ name: `re: ${m.name}`, qty: m.qty * 2 }))
    call.on('end', () => call.end())
  },
  Big(call: grpc.ServerUnaryCall<{ data: Buffer }, object>, cb: grpc.sendUnaryData<object>): void {
    cb(null, { data: Buffer.alloc(BIG_RESP, call.request.data.length % 251) })
  },
}

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>

const md = (tenant: string): grpc.Metadata => {
  const m = new grpc.Metadata()
  m.set('x-tenant', tenant)
  return m
}

function unary<T>(client: Client, name: string, req: object, tenant: string) {
  return new Promise<{ code: number; value?: T }>((resolve) => {
    client[name]!(req, md(tenant), (err: grpc.ServiceError | null, value?: T) =>
      resolve(err ? { code: err.code } : { code: 0, value })
    )
  })
}

/** What the client saw; the wire must say the same. */
interface Outcome {
  tenant: string
  path: string
  code: grpc.status
  /** Messages the client sent and received on the call. */
  sent: number
  received: number
}

async function traffic(client: Client): Promise<Outcome[]> {
  const out: Outcome[] = []
  const P = (m: string) => `/shop.v1.Store/${m}`
  const one = async (name: string, req: object, tenant: string) => {
    const r = await unary(client, name, req, tenant)
    out.push({ tenant, path: P(name), code: r.code, sent: 1, received: r.value ? 1 : 0 })
  }
  await one('GetItem', { id: 'sku-1' }, 'acme')
  await one('GetItem', { id: 'missing' }, 'acme')
  await one('GetItem', { id: 'quota' }, 'globex')
  // Unknown method: grpc-js answers Trailers-Only, UNIMPLEMENTED.
  const nope = await new Promise<number>((resolve) => {
    const d = SERVICE.GetItem
    client.makeUnaryRequest(
      P('Nope'),
      d.requestSerialize,
      d.responseDeserialize,
      { id: 'x' },
      md('initech'),
      (err) => resolve(err?.code ?? 0)
    )
  })
  out.push({ tenant: 'initech', path: P('Nope'), code: nope, sent: 1, received: 0 })

  // Server streaming.
  await new Promise<void>((resolve) => {
    let n = 0
    const call = client['ListItems']!(
      { id: 'all' },
      md('stream-5')
    ) as grpc.ClientReadableStream<Item>
    call.on('data', () => n++)
    call.on('status', (s: grpc.StatusObject) => {
      out.push({ tenant: 'stream-5', path: P('ListItems'), code: s.code, sent: 1, received: n })
      resolve()
    })
    call.on('error', () => undefined)
  })

  // Client streaming.
  await new Promise<void>((resolve) => {
    const call = client['Upload']!(md('upload-4'), (err: grpc.ServiceError | null) => {
      out.push({
        tenant: 'upload-4',
        path: P('Upload'),
        code: err?.code ?? 0,
        sent: 4,
        received: err ? 0 : 1,
      })
      resolve()
    }) as grpc.ClientWritableStream<Item>
    for (let i = 1; i <= 4; i++) call.write({ name: `part-${i}`, qty: i })
    call.end()
  })

  // Bidi streaming: one reply per message, in lock step.
  await new Promise<void>((resolve) => {
    const call = client['Chat']!(md('chat-3')) as grpc.ClientDuplexStream<Item, Item>
    let got = 0
    call.on('data', () => {
      if (++got < 3) call.write({ name: `hello-${got}`, qty: got })
      else call.end()
    })
    call.on('status', (s: grpc.StatusObject) => {
      out.push({ tenant: 'chat-3', path: P('Chat'), code: s.code, sent: 3, received: got })
      resolve()
    })
    call.on('error', () => undefined)
    call.write({ name: 'hello-0', qty: 0 })
  })

  // Large messages: several DATA frames (16 KiB SETTINGS_MAX_FRAME_SIZE), flow control.
  await one('Big', { data: Buffer.alloc(BIG_REQ, 0x61) }, 'big')

  // A server stream the client cancels after the first message.
  await new Promise<void>((resolve) => {
    const call = client['ListItems']!(
      { id: 'slow' },
      md('cancel')
    ) as grpc.ClientReadableStream<Item>
    call.on('data', () => call.cancel())
    call.on('status', (s: grpc.StatusObject) => {
      out.push({ tenant: 'cancel', path: P('ListItems'), code: s.code, sent: 1, received: 1 })
      resolve()
    })
    call.on('error', () => undefined)
  })

  // Many concurrent streams on the one connection, interleaving their frames.
  await Promise.all(
    Array.from({ length: 12 }, (_, i) => one('GetItem', { id: `c${i}` }, `conc-${i}`))
  )
  return out
}

describe('gRPC with @grpc/grpc-js against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'grpc-js.pcap')
  let result: AnalyzeResult
  let theirs: TsharkStream[]
  let outcomes: Outcome[] = []
  let port = 0

  beforeAll(async () => {
    const server = new grpc.Server()
    server.addService(SERVICE, handlers)
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p)
      )
    )
    const Ctor = grpc.makeGenericClientConstructor(SERVICE, 'Store')
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as Client
        try {
          // Bounded: a hung call fails the test; closing client and server cancels the rest.
          let timer: NodeJS.Timeout | undefined
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('gRPC traffic: no end in 30 s')), 30_000)
          })
          outcomes = await Promise.race([traffic(client), timeout]).finally(() =>
            clearTimeout(timer)
          )
        } finally {
          client.close()
        }
      })
    } finally {
      server.forceShutdown()
    }
    result = await analyzeFile(file, { dissectors: [http1Dissector, http2Dissector] })
    const bin = requireTool('tshark', 'tshark')
    const args = ['-n', '-r', file, '-d', `tcp.port==${port},http2`, '-Y', 'http2']
    const json = await run(bin, [...args, '-T', 'json', '--no-duplicate-keys', '-J', 'tcp http2'], {
      maxBuffer: 1 << 30,
    })
    theirs = tsharkStreams(json.stdout)
  }, 60_000)

  afterAll(() => dir.dispose())

  const attr = (e: Entry, name: string) => {
    const a = e.attrs!.find((x) => x.name === name)
    return a?.num ?? a?.str
  }
  const header = (
    hs: readonly { name?: string | null; value?: string | null }[] | null | undefined,
    n: string
  ) => hs?.find((h) => h.name === n)?.value ?? undefined
  const tenantOf = (e: Entry) => header(e.reqHeaders, 'x-tenant')
  /** Our entry for each outcome: calls with the same tenant and path pair up in time order. */
  const entriesFor = (): [Outcome, Entry][] => {
    const byTs = [...result.entries].sort((a, b) => Number(a.ts) - Number(b.ts))
    const used = new Set<Entry>()
    return outcomes.map((o) => {
      const e = byTs.find((x) => !used.has(x) && tenantOf(x) === o.tenant && x.path === o.path)
      expect(e, o.tenant).toBeDefined()
      used.add(e!)
      return [o, e!]
    })
  }

  it('the library calls ended as the test meant them to', () => {
    const codes = Object.fromEntries(outcomes.map((o) => [o.tenant, o.code]))
    expect(outcomes.length).toBe(21)
    expect(codes).toMatchObject({
      acme: grpc.status.NOT_FOUND, // the later of the two 'acme' calls
      globex: grpc.status.RESOURCE_EXHAUSTED,
      initech: grpc.status.UNIMPLEMENTED,
      'stream-5': 0,
      'upload-4': 0,
      'chat-3': 0,
      big: 0,
      cancel: grpc.status.CANCELLED,
      'conc-11': 0,
    })
  })

  it('all calls went over one TCP connection', () => {
    expect(new Set(result.entries.map((e) => e.connId)).size).toBe(1)
    expect(new Set(theirs.map((s) => s.tcpStream)).size).toBe(1)
  })

  it('the capture relies on the HPACK dynamic table (tshark shows indexes past the static 61)', async () => {
    const rows = await tsharkFields(
      file,
      'http2.header',
      ['http2.header.repr', 'http2.header.index'],
      ['-d', `tcp.port==${port},http2`]
    )
    const indexed = rows.flatMap(([repr, idx]) => {
      const r = repr!.split(',')
      return idx!.split(',').filter((n, i) => r[i] === 'Indexed Header Field' && Number(n) > 61)
    })
    expect(indexed.length).toBeGreaterThan(20)
  })

  it('every call tshark sees is exactly one entry with the same headers and gRPC status', () => {
    expect(theirs.length).toBe(outcomes.length)
    expect(result.entries.length).toBe(theirs.length)
    const key = (tenant: string | undefined, path: string) => `${tenant} ${path}`
    // Two calls share tenant 'acme' and path: match each key as a multiset, in order.
    const ours = new Map<string, Entry[]>()
    for (const e of [...result.entries].sort((a, b) => Number(a.ts) - Number(b.ts))) {
      const k = key(tenantOf(e), e.path ?? '')
      ours.set(k, [...(ours.get(k) ?? []), e])
    }
    for (const s of theirs) {
      const k = key(s.reqHeaders.find(([n]) => n === 'x-tenant')?.[1], s.path)
      const e = ours.get(k)?.shift()
      expect(e, `no entry of ours for ${k}`).toBeDefined()
      expect(e!.proto).toBe('grpc')
      expect(e!.method).toBe(s.path)
      expect(e!.status).toBe(Number(s.status))
      // The request's custom and gRPC headers, value for value.
      for (const n of ['x-tenant', 'content-type', 'te', 'user-agent', 'grpc-accept-encoding'])
        expect(header(e!.reqHeaders, n), n).toBe(s.reqHeaders.find(([h]) => h === n)?.[1])
      const trailer = (n: string) => s.trailers.find(([h]) => h === n)?.[1]
      // grpc-status absent on the wire (a cancelled stream) is grpc_status 0 (kubeshark §1.1).
      expect(attr(e!, 'grpc_status')).toBe(Number(trailer('grpc-status') ?? '0'))
      expect(header(e!.respHeaders, 'grpc-status')).toBe(trailer('grpc-status'))
      expect(header(e!.respHeaders, 'grpc-message')).toBe(trailer('grpc-message'))
      expect(header(e!.respHeaders, 'x-retry-after')).toBe(trailer('x-retry-after'))
      expect(header(e!.respHeaders, 'x-quota-bin')).toBe(trailer('x-quota-bin'))
    }
    expect([...ours.values()].flat()).toEqual([])
  })

  it('reports each call as the client saw it', () => {
    for (const [o, e] of entriesFor()) {
      // CANCELLED is the client's own verdict; the wire has no grpc-status for it.
      if (o.code !== grpc.status.CANCELLED) expect(attr(e, 'grpc_status'), o.tenant).toBe(o.code)
    }
    const byTenant = (t: string) => result.entries.filter((e) => tenantOf(e) === t)
    expect(byTenant('acme').map((e) => attr(e, 'grpc_message'))).toContain(
      'no item "missing" in café'
    )
    const quota = byTenant('globex')[0]!
    expect(attr(quota, 'grpc_message')).toBe('quota exceeded')
    expect(header(quota.respHeaders, 'x-retry-after')).toBe('30')
    // -bin metadata travels base64 (PROTOCOL-HTTP2.md, Binary-Header); grpc-js omits padding.
    expect(header(quota.respHeaders, 'x-quota-bin')).toMatch(/^AAEC\/w(==)?$/)
    const ok = result.entries.find((e) => tenantOf(e) === 'acme' && attr(e, 'grpc_status') === 0)!
    expect(header(ok.respHeaders, 'x-served-by')).toBe('replica-7')
    expect(ok.reqBody).toBe('{1: "sku-1"}')
    expect(ok.respBody).toBe('{1: "item sku-1", 2: 5}')
    const nope = byTenant('initech')[0]!
    expect(nope.respBodySize).toBe(0)
    expect(attr(nope, 'grpc_message')).toMatch(/Nope/)
    const cancel = byTenant('cancel')[0]!
    expect(cancel.errorType).toBe('connection')
    expect(cancel.errorMessage).toBe('stream reset (CANCEL)')
    for (const e of result.entries)
      if (e !== cancel) expect(e.errorType, tenantOf(e) ?? '').toBe('')
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })

  it('previews every message of streaming calls, one line each', () => {
    const lines = (s: string | null | undefined) => (s ? s.split('\n') : [])
    const one = (t: string) => result.entries.find((e) => tenantOf(e) === t)!
    expect(lines(one('stream-5').respBody)).toEqual(
      [0, 1, 2, 3, 4].map((i) => (i === 0 ? '{1: "item-0"}' : `{1: "item-${i}", 2: ${i}}`))
    )
    expect(lines(one('upload-4').reqBody)).toEqual(
      [1, 2, 3, 4].map((i) => `{1: "part-${i}", 2: ${i}}`)
    )
    expect(one('upload-4').respBody).toBe('{1: 4, 2: 10}')
    expect(lines(one('chat-3').reqBody)).toHaveLength(3)
    expect(lines(one('chat-3').respBody)).toEqual([
      '{1: "re: hello-0"}',
      '{1: "re: hello-1", 2: 2}',
      '{1: "re: hello-2", 2: 4}',
    ])
    for (const [o, e] of entriesFor()) {
      expect(lines(e.reqBody).length, o.tenant).toBe(o.sent)
      if (o.tenant !== 'big') expect(lines(e.respBody).length, o.tenant).toBe(o.received)
    }
  })

  it('counts large messages at their wire size across many DATA frames', () => {
    const big = result.entries.find((e) => tenantOf(e) === 'big')!
    // Blob{data}: tag 0x0a, varint length (3 bytes for these sizes), then the bytes.
    expect(big.reqBodySize).toBe(5 + 1 + 3 + BIG_REQ)
    expect(big.respBodySize).toBe(5 + 1 + 3 + BIG_RESP)
    // The call record (before the Entry's 4 KiB preview cut): the request was kept whole.
    const call = result.calls[result.entries.indexOf(big)]!
    expect(call.reqBodyTruncated).toBe(false)
    expect(call.respBodyTruncated).toBe(true)
    expect(new TextDecoder().decode(call.reqBody)).toBe(`{1: "${'a'.repeat(BIG_REQ)}"}`)
    expect(big.respBody).toMatch(/^<message of 200004 bytes, \d+ captured>$/)
  })
})
