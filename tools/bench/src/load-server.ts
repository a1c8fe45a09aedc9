#!/usr/bin/env node
// The load benches' server, in its own process so it gets a core of its own: `node
// load-server.js http1|grpc` listens on a free loopback port and prints `port N`. An HTTP/1.1
// server answers `ok`; a gRPC (HTTP/2) server answers every unary call with one message and
// grpc-status 0. Stops on SIGTERM/SIGINT.
import { createServer } from 'node:http'
import { createServer as createH2Server } from 'node:http2'
import type { AddressInfo } from 'node:net'

const kind = process.argv[2] ?? 'http1'

function reply(): Buffer {
  const msg = Buffer.from([0x0a, 2, 0x6f, 0x6b]) // field 1 = "ok"
  const head = Buffer.alloc(5)
  head.writeUInt32BE(msg.length, 1)
  return Buffer.concat([head, msg])
}

if (kind === 'grpc') {
  const body = reply()
  const server = createH2Server({ settings: { maxConcurrentStreams: 1000 } })
  server.on('stream', (stream) => {
    stream.on('data', () => undefined)
    stream.on('error', () => undefined)
    stream.on('end', () => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true }
      )
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' })
      )
      stream.end(body)
    })
  })
  server.listen(0, '127.0.0.1', () => console.log(`port ${(server.address() as AddressInfo).port}`))
  const stop = (): void => void server.close(() => process.exit(0))
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
} else {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  server.keepAliveTimeout = 120_000
  server.listen(0, '127.0.0.1', () => console.log(`port ${(server.address() as AddressInfo).port}`))
  const stop = (): void => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}
