import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, tempDir } from '@tapwire/testing'
import { DEFAULT_REDACTION, REDACTED, Redactor } from './redactor.js'

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'
const CARD = '4111 1111 1111 1111' // a Luhn-valid test card number
const SECRETS = ['hunter2-top-secret', JWT, 'sk_live_51Habc', '4111111111111111', 'cookie-session-xyz', 'q-token-abc123']

describe('Redactor', () => {
  const r = new Redactor()

  it('replaces sensitive JSON keys, form/query keys, JWTs and Luhn-valid card numbers', () => {
    expect(r.text('{"user":"alice","password":"hunter2 \\"x\\"","n":1}')).toBe(`{"user":"alice","password":"${REDACTED}","n":1}`)
    expect(r.text('{"api_key": 12345}')).toBe(`{"api_key": "${REDACTED}"}`)
    expect(r.text('/login?user=alice&token=abc&x=1')).toBe(`/login?user=alice&token=${REDACTED}&x=1`)
    expect(r.text('password=pw&remember=1')).toBe(`password=${REDACTED}&remember=1`)
    expect(r.text(`Bearer ${JWT}`)).toBe(`Bearer ${REDACTED}`)
    expect(r.text(`card ${CARD} ok`)).toBe(`card ${REDACTED} ok`)
    // Not a card: fails the Luhn check (an order number, a timestamp).
    expect(r.text('order 1234567890123 at 1769998106100')).toBe('order 1234567890123 at 1769998106100')
    expect(r.text('tokenizer=keep')).toBe('tokenizer=keep')
  })

  it('replaces whole values of sensitive headers and keeps binary bodies', () => {
    const h = r.headers([
      { name: 'Authorization', value: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l' },
      { name: 'X-Trace', value: `ok ${JWT}` },
      { name: 'cookie', value: 'a=b' },
    ])!
    expect(h.map((x) => x.value)).toEqual([REDACTED, `ok ${REDACTED}`, REDACTED])
    const bin = new Uint8Array([0xff, 0xfe, 0x00, 0x70])
    expect(r.body(bin)).toBe(bin)
  })

  it('can be configured', () => {
    const custom = new Redactor({ headers: ['x-tenant'], keys: ['pin'], patterns: [/ACME-\d+/] }, { cards: false })
    expect(custom.headers([{ name: 'X-Tenant', value: 't1' }])![0]!.value).toBe(REDACTED)
    expect(custom.text('{"pin":"1234","password":"kept"} ACME-42 4111111111111111')).toBe(`{"pin":"${REDACTED}","password":"kept"} ${REDACTED} 4111111111111111`)
    expect(DEFAULT_REDACTION.headers).toContain('set-cookie')
  })

  it('leaves no secret of real captured traffic in entries or kept bodies', async () => {
    const dir = tempDir()
    try {
      const server = createServer((req, res) => {
        req.resume()
        req.on('end', () => {
          res.writeHead(200, { 'set-cookie': 'session=cookie-session-xyz', 'content-type': 'application/json' })
          res.end(JSON.stringify({ access_token: JWT, card: '4111111111111111' }))
        })
      })
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
      const port = (server.address() as AddressInfo).port
      const file = join(dir.path, 'secrets.pcap')
      await recordLoopback(file, `tcp port ${port}`, async () => {
        await fetch(`http://127.0.0.1:${port}/login?user=alice&token=q-token-abc123`, {
          method: 'POST',
          headers: { authorization: `Bearer ${JWT}`, 'x-api-key': 'sk_live_51Habc', cookie: 'cookie-session-xyz', 'content-type': 'application/json' },
          body: JSON.stringify({ user: 'alice', password: 'hunter2-top-secret' }),
        }).then((x) => x.text())
        await fetch(`http://127.0.0.1:${port}/form`, { method: 'POST', body: 'user=alice&password=hunter2-top-secret', headers: { 'content-type': 'application/x-www-form-urlencoded' } }).then((x) => x.text())
      })
      await new Promise<void>((res) => server.close(() => res()))
      const plain = await analyzeFile(file)
      const redacted = await analyzeFile(file, { redactor: new Redactor() })
      expect(redacted.entries).toHaveLength(2)
      // The raw capture has the secrets (so the test could fail); the redacted output has none.
      const dump = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v))
      expect(SECRETS.filter((s) => dump(plain.entries).includes(s) || dump(plain.calls).includes(s)).length).toBeGreaterThan(3)
      for (const s of SECRETS) {
        expect(dump(redacted.entries)).not.toContain(s)
        expect(dump(redacted.calls)).not.toContain(s)
      }
      expect(redacted.entries[0]!.url).toContain(`token=${REDACTED}`)
      expect(redacted.entries.map((e) => e.reqBodySize)).toEqual(plain.entries.map((e) => e.reqBodySize))
    } finally {
      dir.dispose()
    }
  })
})
