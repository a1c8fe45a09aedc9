import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'

export interface Http2Peer {
  port: number
  close(): Promise<void>
}

/**
 * A Node http2 server (h2c, prior knowledge) on loopback that answers each stream once the
 * client's request body has ended: `respond` gets the stream, its request headers and the number
 * of body bytes received. Streams reset by the client before then are left alone.
 */
export async function startHttp2Peer(
  respond: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    got: number
  ) => void
): Promise<Http2Peer> {
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    let got = 0
    stream.on('data', (d: Buffer) => (got += d.length))
    stream.on('end', () => {
      if (!stream.destroyed) respond(stream, headers, got)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** One request on `client`, read to its end: status, body (as UTF-8 text) and trailers. */
export function http2Request(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Buffer
): Promise<{ status: number; body: string; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers)
    let status = 0
    let text = ''
    let trailers: http2.IncomingHttpHeaders = {}
    req.on('response', (h) => (status = Number(h[':status'])))
    req.on('trailers', (t: http2.IncomingHttpHeaders) => (trailers = t))
    req.setEncoding('utf8')
    req.on('data', (d: string) => (text += d))
    req.on('end', () => resolve({ status, body: text, trailers }))
    req.on('error', reject)
    req.end(body)
  })
}
