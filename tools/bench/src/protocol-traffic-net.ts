import { execFileSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import type { Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import { requireTool, startDnsmasq } from '@tapwire/testing'
import type { Recorded } from './protocol-util.js'
import { pool, recordComplete } from './protocol-util.js'

/** Names dnsmasq answers (libs/testing's startDnsmasq records), with a query type each; one NXDOMAIN. */
const QUESTIONS: Array<[string, number]> = [
  ['web.tapwire.test', 1], // A
  ['web.tapwire.test', 28], // AAAA
  ['www.tapwire.test', 1], // CNAME chain to A
  ['tapwire.test', 15], // MX
  ['tapwire.test', 16], // TXT
  ['_http._tcp.tapwire.test', 33], // SRV
  ['3.2.1.10.in-addr.arpa', 12], // PTR
  ['mail.tapwire.test', 1],
  ['missing.tapwire.test', 1], // NXDOMAIN
]

/** A standard query (RFC 1035 §4.1.1 header with RD set, one §4.1.2 question of class IN). */
export function dnsQuery(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)])
  const head = Buffer.alloc(12)
  head.writeUInt16BE(id, 0)
  head.writeUInt16BE(0x0100, 2)
  head.writeUInt16BE(1, 4)
  const tail = Buffer.alloc(5)
  tail.writeUInt16BE(type, 1)
  tail.writeUInt16BE(1, 3)
  return Buffer.concat([head, ...labels, tail])
}

/**
 * DNS over UDP against dnsmasq: `calls` queries from 4 client sockets, 32 in flight, each
 * answered or given up after 1 s (a lost query is still a call, a timeout one).
 */
export async function recordDns(file: string, calls: number, deadline: number): Promise<Recorded> {
  const server = await startDnsmasq()
  const sockets: UdpSocket[] = []
  const waiting = new Map<number, () => void>()
  try {
    for (let s = 0; s < 4; s++) {
      const sock = createSocket('udp4')
      // The id is unique among the queries in flight (32 ≪ 65,536), so it names the waiter.
      sock.on('message', (m) => waiting.get(m.readUInt16BE(0))?.())
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r))
      sockets.push(sock)
    }
    const one = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const id = i & 0xffff
        const [name, type] = QUESTIONS[i % QUESTIONS.length]!
        const timer = setTimeout(done, 1000)
        function done(): void {
          clearTimeout(timer)
          waiting.delete(id)
          resolve()
        }
        waiting.set(id, done)
        sockets[i % sockets.length]!.send(dnsQuery(id, name, type), server.port, '127.0.0.1')
      })
    const made = await recordComplete(file, `udp port ${server.port}`, () => pool(calls, 32, deadline, one))
    return { port: server.port, made }
  } finally {
    for (const s of sockets) s.close()
    await server.stop()
  }
}

/**
 * TLS handshakes: Node's tls client and server (TLS 1.3 and 1.2 alternately, ALPN, SNI), each
 * call a new connection — handshake, one echoed message, close. 8 in flight.
 */
export async function recordTls(file: string, calls: number, deadline: number, dir: string): Promise<Recorded> {
  const openssl = requireTool('openssl', 'openssl')
  const key = join(dir, 'tls-key.pem')
  const cert = join(dir, 'tls-cert.pem')
  // An EC key: the handshakes, not RSA signing, are what the file should be full of.
  execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'pipe' })
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert), ALPNProtocols: ['h2', 'http/1.1'] }, (s) => {
    s.on('error', () => s.destroy())
    s.on('data', (d: Buffer) => s.end(d))
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = connect(
        {
          host: '127.0.0.1',
          port,
          servername: `svc-${i % 50}.bench.test`,
          ALPNProtocols: i % 3 ? ['h2', 'http/1.1'] : ['http/1.1'],
          maxVersion: i % 2 ? 'TLSv1.3' : 'TLSv1.2',
          rejectUnauthorized: false,
        },
        () => c.write('ping')
      )
      c.on('data', () => c.end())
      c.on('close', () => resolve())
      c.on('error', reject)
    })
  try {
    const made = await recordComplete(file, `tcp port ${port}`, () => pool(calls, 8, deadline, one))
    return { port, made }
  } finally {
    await new Promise<void>((r) => server.close(() => r()))
  }
}
