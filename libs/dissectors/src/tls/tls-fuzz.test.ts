import { describe, expect, it } from 'vitest'
import { PROBE_CONN, feed, fuzzSession } from '../test-support/fuzz.js'
import { bytes, te } from '../test-support/wire-bytes.js'
import { tlsDissector } from './tls-dissector.js'

/** A TLS 1.2-framed ClientHello with SNI "localhost" and ALPN "h2" (RFC 8446 §4.1.2). */
function clientHello(): Uint8Array {
  const sni = [0, 0, 0, 14, 0, 12, 0, 0, 9, ...te('localhost')]
  const alpn = [0, 16, 0, 5, 0, 3, 2, ...te('h2')]
  const exts = [...sni, ...alpn]
  const hello = [
    3,
    3,
    ...new Array<number>(32).fill(7),
    0,
    0,
    4,
    0x13,
    0x01,
    0xc0,
    0x2f,
    1,
    0,
    0,
    exts.length,
    ...exts,
  ]
  const hs = [1, 0, 0, hello.length, ...hello]
  return bytes([0x16, 3, 1, 0, hs.length, ...hs])
}

describe('TLS handshake fuzzing', () => {
  it('the seed decodes as a ClientHello for localhost', () => {
    expect(feed(tlsDissector, [{ dir: 0, data: clientHello() }])[0]).toMatchObject({
      method: 'ClientHello',
      path: 'localhost',
    })
    expect(tlsDissector.probe(clientHello(), 0, PROBE_CONN)).toBe('match')
  })
  fuzzSession(tlsDissector, [[{ dir: 0, data: clientHello() }]])
})
