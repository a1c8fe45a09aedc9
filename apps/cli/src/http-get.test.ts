import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer } from 'node:net'
import type { AddressInfo, Server as TcpServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpGetError, httpGet } from './http-get.js'
import type { GetOptions } from './http-get.js'

const BODY = randomBytes(3_000_000)
const servers: (Server | TcpServer)[] = []
let seen: IncomingHttpHeaders[] = []

const listen = async <S extends Server | TcpServer>(s: S): Promise<string> => {
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return `127.0.0.1:${(s.address() as AddressInfo).port}`
}

/** A server that answers each request with the raw bytes `answer` gives, then `end`s or cuts. */
const raw = (
  answer: (path: string) => { parts: (string | Buffer)[]; cut?: boolean }
): Promise<string> =>
  listen(
    createTcpServer((sock: Socket) => {
      let req = ''
      sock.on('data', (d) => {
        req += d.toString('latin1')
        if (!req.includes('\r\n\r\n')) return
        const { parts, cut } = answer(req.split(' ')[1]!)
        // Separate writes with pauses: the client sees the framing cut at odd places.
        let i = 0
        const next = (): void => {
          if (i < parts.length) {
            sock.write(parts[i++]!)
            setTimeout(next, 2)
          } else if (cut === true) sock.destroy()
          else sock.end()
        }
        next()
      })
      sock.on('error', () => undefined)
    })
  )

let plain: string
let rawBase: string

beforeAll(async () => {
  plain = await listen(
    createServer((req, res) => {
      seen.push(req.headers)
      const path = req.url ?? '/'
      if (path === '/length') {
        res.writeHead(200, { 'content-length': String(BODY.length) })
        res.end(BODY)
      } else if (path === '/chunked') {
        // No length: Node frames the body with the chunked coding, one chunk per write.
        res.writeHead(200)
        for (let o = 0; o < BODY.length; o += 70_001) res.write(BODY.subarray(o, o + 70_001))
        res.end()
      } else if (path === '/empty') {
        res.writeHead(204)
        res.end()
      } else if (path === '/redirect') {
        res.writeHead(302, { location: '/length' })
        res.end('moved')
      } else if (path === '/away') {
        res.writeHead(307, { location: `http://localhost:${req.socket.localPort}/length` })
        res.end()
      } else if (path === '/cut') {
        res.writeHead(200, { 'content-length': String(BODY.length) })
        res.write(BODY.subarray(0, 100_000), () => res.destroy())
      } else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end('{"error":{"code":"NOT_FOUND","message":"nothing here"}}')
      }
    })
  )
  rawBase = await raw((path) => {
    if (path === '/interim')
      return {
        parts: [
          'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n',
          'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
        ],
      }
    if (path === '/close')
      return { parts: ['HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\n', 'until ', 'the end'] }
    if (path === '/chunk-ext')
      return {
        parts: [
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=va',
          'lue\r\nhel',
          'lo\r',
          '\n6\r\n world\r\n0\r\nTrailer-Field: x\r',
          '\n\r\n',
        ],
      }
    if (path === '/bad-chunk')
      return { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n'] }
    if (path === '/chunk-cut')
      return { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'], cut: true }
    return { parts: ['SSH-2.0-not-http\r\n\r\n'] }
  })
})
afterAll(async () => {
  for (const s of servers) {
    ;(s as Server).closeAllConnections?.()
    await new Promise((r) => s.close(r))
  }
})

async function fetchAll(url: string, headers?: Record<string, string>, opts?: GetOptions) {
  const res = await httpGet(new URL(url), headers, opts)
  const parts: Buffer[] = []
  let reads = 0
  await res.body((b) => {
    reads++
    // Valid only during the call: keep a copy.
    parts.push(Buffer.from(b))
  })
  return { res, body: Buffer.concat(parts), reads }
}

describe('httpGet', () => {
  it('reads a Content-Length body whole, into one reused buffer', async () => {
    seen = []
    const { res, body, reads } = await fetchAll(`http://${plain}/length`, {
      authorization: 'Bearer t',
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String(BODY.length))
    expect(body.equals(BODY)).toBe(true)
    expect(reads).toBeGreaterThan(1)
    expect(seen[0]!.authorization).toBe('Bearer t')
    expect(seen[0]!.connection).toBe('close')
  })

  it('decodes a chunked body, even read a few bytes at a time', async () => {
    for (const readBytes of [7, 256 * 1024]) {
      const { body } = await fetchAll(`http://${plain}/chunked`, {}, { readBytes })
      expect(body.equals(BODY)).toBe(true)
    }
    // Extensions, trailers and a framing cut inside CRLFs (RFC 9112 §7.1).
    for (const readBytes of [1, 3, 4096]) {
      const { body } = await fetchAll(`http://${rawBase}/chunk-ext`, {}, { readBytes })
      expect(body.toString()).toBe('hello world')
    }
  })

  it('skips interim 1xx answers, and reads a body delimited by the close', async () => {
    const a = await fetchAll(`http://${rawBase}/interim`, {}, { readBytes: 5 })
    expect([a.res.status, a.body.toString()]).toEqual([200, 'hello'])
    const b = await fetchAll(`http://${rawBase}/close`)
    expect([b.res.status, b.body.toString()]).toEqual([200, 'until the end'])
    const c = await fetchAll(`http://${plain}/empty`)
    expect([c.res.status, c.body.length]).toEqual([204, 0])
  })

  it('follows a redirect, keeping credentials only on the same origin', async () => {
    seen = []
    const same = await fetchAll(`http://${plain}/redirect`, { authorization: 'Bearer t' })
    expect([same.res.status, same.res.url.pathname, same.body.equals(BODY)]).toEqual([
      200,
      '/length',
      true,
    ])
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer t', 'Bearer t'])
    seen = []
    const away = await fetchAll(`http://${plain}/away`, { authorization: 'Bearer t' })
    expect(away.res.url.hostname).toBe('localhost')
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer t', undefined])
  })

  it('gives an error answer as text', async () => {
    const res = await httpGet(new URL(`http://${plain}/nope`))
    expect(res.status).toBe(404)
    expect(JSON.parse(await res.text())).toEqual({
      error: { code: 'NOT_FOUND', message: 'nothing here' },
    })
  })

  it('fails a body cut short, a malformed coding and a peer that is not HTTP, by code', async () => {
    const code = async (url: string): Promise<string> => {
      try {
        await fetchAll(url)
        return 'none'
      } catch (e) {
        expect(e).toBeInstanceOf(HttpGetError)
        return (e as HttpGetError).code
      }
    }
    expect(await code(`http://${plain}/cut`)).toBe('TRUNCATED')
    expect(await code(`http://${rawBase}/chunk-cut`)).toBe('TRUNCATED')
    expect(await code(`http://${rawBase}/bad-chunk`)).toBe('BAD_CHUNKING')
    expect(await code(`http://${rawBase}/ssh`)).toBe('BAD_RESPONSE')
    await expect(httpGet(new URL('ftp://127.0.0.1/x'))).rejects.toThrow(/not an http/)
  })

  it('speaks https, trusting only what it is told to trust', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapwire-tls-'))
    try {
      // A throwaway self-signed certificate for 127.0.0.1 (Debian's openssl).
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'pipe' }
      )
      const cert = readFileSync(join(dir, 'cert.pem'))
      const host = await listen(
        createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => {
          res.writeHead(200, { 'content-length': String(BODY.length) })
          res.end(BODY)
        })
      )
      const { body } = await fetchAll(`https://${host}/`, {}, { ca: cert })
      expect(body.equals(BODY)).toBe(true)
      await expect(httpGet(new URL(`https://${host}/`))).rejects.toThrow(/self-signed|self signed/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
