import { createServer as createHttp1Server, request as http1Request, Agent } from 'node:http'
import { connect as h2connect, createServer as createH2Server, constants as h2 } from 'node:http2'
import type { ClientHttp2Session } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { recordLoopback } from '@tapwire/testing'

export interface MixedPorts {
  http1: number
  http2: number
  grpc: number
}

/** A gRPC message: 1-byte compressed flag, 4-byte big-endian length, then the message. */
function grpcFrame(msg: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + msg.length)
  b.writeUInt32BE(msg.length, 1)
  b.set(msg, 5)
  return b
}

/** protobuf: field 1 (string) and field 2 (varint), written by hand: `{1: name, 2: qty}`. */
function orderMessage(i: number): Uint8Array {
  const name = Buffer.from(`widget-${i}`)
  return Uint8Array.from([0x0a, name.length, ...name, 0x10, i % 100])
}

const listen = async (s: { listen: (p: number, h: string, cb: () => void) => unknown; address: () => unknown }): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return (s.address() as AddressInfo).port
}

function h2Request(session: ClientHttp2Session, headers: Record<string, string>, body?: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined })
    req.on('response', () => undefined)
    req.on('error', reject)
    req.on('end', resolve)
    req.resume()
    if (body !== undefined) req.end(body)
  })
}

/**
 * Records HTTP/1.1, HTTP/2 (prior knowledge) and gRPC (over Node's http2 with real gRPC framing)
 * traffic into one file with tcpdump: `n` calls of each, 16 in flight. Bounded by count.
 */
export async function recordMixedTraffic(file: string, n: number): Promise<MixedPorts> {
  // A recording tcpdump could not keep up with is incomplete: record again (bounded).
  for (let attempt = 1; ; attempt++) {
    const { ports, dropped } = await recordMixedOnce(file, n)
    if (dropped === 0 || attempt >= 3) {
      if (dropped > 0) console.error(`bench: tcpdump dropped ${dropped} packets in every attempt; the file is incomplete`)
      return ports
    }
  }
}

async function recordMixedOnce(file: string, n: number): Promise<{ ports: MixedPorts; dropped: number }> {
  const body = JSON.stringify({ data: 'x'.repeat(512) })
  const s1 = createHttp1Server((req, res) => {
    req.resume()
    req.on('end', () => res.end(body))
  })
  const s2 = createH2Server((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(req.url?.includes('missing') ? 404 : 200, { 'content-type': 'application/json' })
      res.end(body)
    })
  })
  const s3 = createH2Server()
  s3.on('stream', (stream) => {
    stream.resume()
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(grpcFrame(orderMessage(1)))
    })
  })
  const ports = { http1: await listen(s1), http2: await listen(s2), grpc: await listen(s3) }
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 })
  const one1 = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http1Request({ host: '127.0.0.1', port: ports.http1, path: `/api/v1/items/${i}`, agent: keepAlive }, (res) => {
        res.resume()
        res.on('end', resolve)
      })
      req.on('error', reject)
      req.end()
    })
  const stats = await recordLoopback(file, `tcp port ${ports.http1} or tcp port ${ports.http2} or tcp port ${ports.grpc}`, async () => {
    const c2 = h2connect(`http://127.0.0.1:${ports.http2}`)
    const c3 = h2connect(`http://127.0.0.1:${ports.grpc}`)
    const jobs = new Set<Promise<void>>()
    const run = async (p: Promise<void>) => {
      const q = p.finally(() => jobs.delete(q))
      jobs.add(q)
      if (jobs.size >= 16) await Promise.race(jobs)
    }
    for (let i = 0; i < n; i++) {
      await run(one1(i))
      await run(h2Request(c2, { ':method': i % 3 ? 'GET' : 'POST', ':path': `/api/v2/orders/${i}` }, i % 3 ? undefined : Buffer.from(body)))
      await run(
        h2Request(
          c3,
          { ':method': 'POST', ':path': '/shop.Orders/Create', 'content-type': 'application/grpc', te: 'trailers' },
          grpcFrame(orderMessage(i))
        )
      )
    }
    await Promise.all(jobs)
    c2.close()
    c3.close()
  })
  keepAlive.destroy()
  for (const s of [s1, s2, s3]) await new Promise<void>((r) => s.close(() => r()))
  void h2
  return { ports, dropped: stats.droppedByKernel }
}
