import * as zlib from 'node:zlib'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { attr, recordingContext } from '../websocket/test-support.js'
import { decodeUtf8 } from '../util/bytes.js'
import type { BodyDecoder } from './body-decoder.js'
import { decodeContentEncoding, setBodyDecoder, zlibBodyDecoder as makeZlibBodyDecoder } from './body-decoder.js'
import { http1Dissector } from './http1-dissector.js'

const enc = new TextEncoder()
const b = (s: string) => enc.encode(s)

export const zlibBodyDecoder: BodyDecoder = makeZlibBodyDecoder(zlib)

function session(limits = {}) {
  const r = recordingContext([http1Dissector], limits)
  return { ...r, s: http1Dissector.newSession(r.ctx) }
}

afterEach(() => setBodyDecoder(undefined))

describe('HTTP/1 sessions (RFC 9112)', () => {
  it('keeps repeated header names, in order (RFC 9110 §5.3)', () => {
    const { s, calls } = session()
    s.onData(0, b('GET / HTTP/1.1\r\nAccept: a\r\nX-A: 1\r\nAccept: b\r\n\r\n'), 1)
    s.onData(
      1,
      b(
        'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\nContent-Length: 0\r\n\r\n'
      ),
      2
    )
    expect(calls[0]!.reqHeaders!.map((h) => `${h.name}=${h.value}`)).toEqual([
      'Accept=a',
      'X-A=1',
      'Accept=b',
    ])
    expect(calls[0]!.respHeaders!.map((h) => h.value)).toEqual(['a=1', 'b=2; Path=/', '0'])
  })

  it('pairs the final response after 100 Continue, timed from the first bytes of each side', () => {
    const { s, calls } = session()
    s.onData(0, b('POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n'), 10)
    s.onData(1, b('HTTP/1.1 100 Continue\r\n\r\n'), 11)
    s.onData(0, b('hel'), 12)
    s.onData(0, b('lo'), 13)
    s.onData(1, b('HTTP/1.1 201 Created\r\nContent-Le'), 15)
    s.onData(1, b('ngth: 2\r\n\r\nok'), 16)
    expect(calls).toHaveLength(1)
    const c = calls[0]!
    expect(c.status).toBe(201)
    expect(decodeUtf8(c.reqBody!)).toBe('hello')
    expect(c.reqTs).toBe(10)
    expect(c.respTs).toBe(15)
    expect(decodeUtf8(c.respBody!)).toBe('ok')
  })

  it('pairs pipelined requests with responses in order (RFC 9112 §9.3.2)', () => {
    const { s, calls } = session()
    s.onData(
      0,
      b(
        'GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzHEAD /c HTTP/1.1\r\n\r\n'
      ),
      1
    )
    s.onData(
      1,
      b(
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nB\r\n0\r\n\r\n'
      ),
      2
    )
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'), 3)
    expect(
      calls.map(
        (c) => `${c.method} ${c.path} ${c.status} ${decodeUtf8(c.respBody ?? new Uint8Array())}`
      )
    ).toEqual(['GET /a 200 A', 'POST /b 404 B', 'HEAD /c 200 '])
  })

  it('reports a request without a response as a timeout after responseTimeoutMs', () => {
    const { s, calls } = session({ responseTimeoutMs: 1000 })
    s.onData(0, b('GET /slow HTTP/1.1\r\n\r\n'), 5000)
    s.onTick!(5999)
    expect(calls).toHaveLength(0)
    s.onTick!(6000)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.error).toEqual({ type: 'timeout', message: 'no response within 1000 ms' })
    expect(calls[0]!.status).toBeUndefined()
  })

  it('decodes gzip, deflate and br previews with the registered decoder; sizes stay wire sizes', () => {
    setBodyDecoder(zlibBodyDecoder)
    const text = JSON.stringify({
      items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}` })),
    })
    for (const [coding, packed] of [
      ['gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['br', brotliCompressSync(text)],
      ['gzip, br', brotliCompressSync(gzipSync(text))],
    ] as const) {
      const { s, calls } = session()
      s.onData(0, b('GET /items HTTP/1.1\r\n\r\n'), 1)
      s.onData(
        1,
        b(
          `HTTP/1.1 200 OK\r\nContent-Encoding: ${coding}\r\nContent-Length: ${packed.length}\r\n\r\n`
        ),
        2
      )
      s.onData(1, packed, 3)
      expect(decodeUtf8(calls[0]!.respBody!), coding).toBe(text)
      expect(calls[0]!.respBodySize).toBe(packed.length)
      expect(calls[0]!.respBodyTruncated).toBe(false)
    }
  })

  it('bounds decoded previews and keeps wire bytes when decoding fails or no decoder is set', () => {
    const big = Array.from(
      { length: 8000 },
      (_, i) => `{"id":${i},"v":${(i * 7919) % 10007}}`
    ).join('\n')
    const packed = gzipSync(big)
    expect(decodeContentEncoding('gzip', packed, 1000)).toBeUndefined()
    setBodyDecoder(zlibBodyDecoder)
    const out = decodeContentEncoding('gzip', packed, 1000)!
    expect(out.length).toBeLessThanOrEqual(1000)
    expect(out.length).toBeGreaterThan(0)
    expect(decodeContentEncoding('gzip', new Uint8Array([1, 2, 3]), 1000)).toBeUndefined()
    expect(decodeContentEncoding('compress', packed, 1000)).toBeUndefined()
    expect(decodeContentEncoding('identity', packed, 1000)).toBeUndefined()
    const { s, calls } = session({ maxBodyBytes: 1000 })
    s.onData(0, b('GET / HTTP/1.1\r\n\r\n'), 1)
    s.onData(
      1,
      b(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${packed.length}\r\n\r\n`),
      2
    )
    s.onData(1, packed, 3)
    expect(calls[0]!.respBody!.length).toBeLessThanOrEqual(1000)
    expect(decodeUtf8(calls[0]!.respBody!.subarray(0, 10))).toBe('{"id":0,"v')
    expect(calls[0]!.respBodyTruncated).toBe(true)
  })

  it('flags a request whose response was lost in a gap instead of shifting every later pair', () => {
    const { s, calls } = session()
    const resp = (body: string) =>
      b(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    s.onData(0, b('GET /1 HTTP/1.1\r\n\r\n'), 1)
    s.onData(1, resp('one'), 2)
    s.onData(0, b('GET /2 HTTP/1.1\r\n\r\n'), 3)
    s.onGap(1, resp('two').length, 4)
    s.onData(0, b('GET /3 HTTP/1.1\r\n\r\n'), 5)
    s.onData(1, resp('three'), 6)
    expect(calls.map((c) => `${c.path} ${c.status ?? '-'} ${c.error?.type ?? ''}`)).toEqual([
      '/1 200 ',
      '/2 - pair-not-found',
      '/3 200 ',
    ])
    expect(decodeUtf8(calls[2]!.respBody!)).toBe('three')
    // A gap inside a head loses that response: its request is reported with the gap.
    s.onData(0, b('GET /4 HTTP/1.1\r\n\r\n'), 7)
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-'), 8)
    s.onGap(1, 30, 9)
    s.onData(0, b('GET /5 HTTP/1.1\r\n\r\n'), 10)
    s.onData(1, resp('five'), 11)
    expect(calls.slice(3).map((c) => `${c.path} ${c.gaps} ${c.error?.type ?? ''}`)).toEqual([
      '/4 1 pair-not-found',
      '/5 0 ',
    ])
  })

  it('flags a request whose body was cut by a gap past its end', () => {
    const { s, calls } = session()
    s.onData(0, b('POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab'), 1)
    s.onGap(0, 50, 2)
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 3)
    expect(calls[0]!.gaps).toBe(1)
    expect(calls[0]!.status).toBe(200)
  })
})

describe('GraphQL over HTTP/1', () => {
  it('turns a POST with a JSON query into a gql call named after its operation', () => {
    const { s, calls } = session()
    const body = JSON.stringify({
      query: 'mutation AddTodo($t: String!) { addTodo(text: $t) { id } }',
      variables: { t: 'x' },
    })
    s.onData(
      0,
      b(
        `POST /graphql HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      ),
      1
    )
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'), 2)
    const c = calls[0]!
    expect(c.proto).toBe('gql')
    expect(c.summary).toBe('AddTodo')
    expect(attr(c.attrs, 'gql_operation_name')).toBe('AddTodo')
    expect(attr(c.attrs, 'gql_operation_type')).toBe('mutation')
  })

  it('reads GET ?query= and leaves other JSON posts as http', () => {
    const { s, calls } = session()
    const q = encodeURIComponent('{ me { name } }')
    s.onData(0, b(`GET /api/graphql?query=${q} HTTP/1.1\r\n\r\n`), 1)
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 2)
    s.onData(
      0,
      b(
        'POST /search HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{"query":"SELECT * FROM t;"}\n'
      ),
      3
    )
    s.onData(1, b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 4)
    expect(calls.map((c) => `${c.proto} ${c.summary}`)).toEqual(['gql query', 'http /search'])
  })
})
