import { createServer, request, Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import { recordLoopback } from '@tapwire/testing'

/**
 * Records real HTTP/1.1 traffic for replay benchmarks: a Node server and client on loopback,
 * `count` requests (GET/POST/PUT/DELETE, small and larger bodies, keep-alive and fresh
 * connections), captured by tcpdump. Bounded by count; returns the server port.
 */
export async function recordHttp1Traffic(file: string, count: number): Promise<number> {
  // A recording tcpdump could not keep up with is incomplete: record again (bounded).
  for (let attempt = 1; ; attempt++) {
    const { port, dropped } = await recordHttp1Once(file, count)
    if (dropped === 0 || attempt >= 3) {
      if (dropped > 0) console.error(`bench: tcpdump dropped ${dropped} packets in every attempt; the file is incomplete`)
      return port
    }
  }
}

async function recordHttp1Once(file: string, count: number): Promise<{ port: number; dropped: number }> {
  const bodies = [64, 512, 2048, 16_384].map((n) => JSON.stringify({ data: 'x'.repeat(n) }))
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const n = Number(/\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0)
      res.writeHead(n % 50 === 0 ? 500 : n % 20 === 0 ? 404 : 200, { 'content-type': 'application/json' })
      res.end(bodies[n % bodies.length])
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 })
  const methods = ['GET', 'GET', 'POST', 'PUT', 'DELETE']
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const method = methods[i % methods.length]!
      const body = method === 'POST' || method === 'PUT' ? bodies[i % 3] : undefined
      const req = request(
        { host: '127.0.0.1', port, method, path: `/api/v1/items/${i}?page=${i % 9}`, agent: i % 10 === 0 ? false : keepAlive, headers: body ? { 'content-type': 'application/json' } : {} },
        (res) => {
          res.resume()
          res.on('end', resolve)
        }
      )
      req.on('error', reject)
      req.end(body)
    })
  const stats = await recordLoopback(file, `tcp port ${port}`, async () => {
    const inFlight = new Set<Promise<void>>()
    for (let i = 0; i < count; i++) {
      const p = one(i).finally(() => inFlight.delete(p))
      inFlight.add(p)
      if (inFlight.size >= 16) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
  })
  keepAlive.destroy()
  await new Promise<void>((r) => server.close(() => r()))
  return { port, dropped: stats.droppedByKernel }
}
