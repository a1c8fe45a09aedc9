import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  freePort,
  recordLoopback,
  requireTool,
  tempDir,
  TestProcess,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import { genericTcpDissector } from '../generic/generic-dissector.js'
import type { ClientHello } from './handshake.js'
import { ja3, ja4 } from './handshake.js'
import { md5Hex, sha256Hex } from './hash.js'
import { tlsDissector } from './tls-dissector.js'

const run = promisify(execFile)

const attr = (e: AnalyzeResult['entries'][number], name: string): unknown => {
  const a = e.attrs?.find((x) => x.name === name)
  return a?.str ?? a?.num ?? a?.flag ?? a?.list?.values ?? undefined
}

/** s_client with stdin closed at once: handshake, then a clean close. */
function sClient(args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn(requireTool('openssl', 'openssl'), ['s_client', ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
    })
    p.stdin.end()
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000)
    p.on('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

// openssl s_server/s_client and Node's tls module on loopback; tshark's TLS dissector is the oracle.
describe('TLS handshakes against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'tls.pcap')
  const cert = join(dir.path, 'cert.pem')
  const key = join(dir.path, 'key.pem')
  let result: AnalyzeResult
  const ports: number[] = []
  let wallMs = 0

  beforeAll(async () => {
    const openssl = requireTool('openssl', 'openssl')
    await run(openssl, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ])
    const p13 = await freePort()
    const p12 = await freePort()
    const s13 = new TestProcess('s_server13', openssl, [
      's_server',
      '-accept',
      String(p13),
      '-cert',
      cert,
      '-key',
      key,
      '-tls1_3',
      '-alpn',
      'h2,http/1.1',
      '-quiet',
    ])
    const s12 = new TestProcess('s_server12', openssl, [
      's_server',
      '-accept',
      String(p12),
      '-cert',
      cert,
      '-key',
      key,
      '-tls1_2',
      '-alpn',
      'http/1.1',
      '-quiet',
    ])
    const node = createServer(
      { cert: readFileSync(cert), key: readFileSync(key), ALPNProtocols: ['h2', 'http/1.1'] },
      (s) => {
        s.on('error', () => undefined)
        s.on('data', (d: Buffer) => s.end(d))
      }
    )
    node.on('tlsClientError', () => undefined)
    await new Promise<void>((r) => node.listen(0, '127.0.0.1', r))
    const pn = (node.address() as AddressInfo).port
    ports.push(p13, p12, pn)
    try {
      await new Promise((r) => setTimeout(r, 500))
      await recordLoopback(file, ports.map((p) => `tcp port ${p}`).join(' or '), async () => {
        await sClient([
          '-connect',
          `127.0.0.1:${p13}`,
          '-servername',
          'api.example.test',
          '-alpn',
          'h2,http/1.1',
          '-tls1_3',
        ])
        await sClient([
          '-connect',
          `127.0.0.1:${p12}`,
          '-servername',
          'legacy.example.test',
          '-alpn',
          'http/1.1',
          '-tls1_2',
          '-cipher',
          'ECDHE-RSA-AES256-GCM-SHA384',
        ])
        // Version mismatch: a TLS 1.2-only client against a TLS 1.3-only server → protocol_version alert.
        await sClient([
          '-connect',
          `127.0.0.1:${p13}`,
          '-servername',
          'old.example.test',
          '-tls1_2',
        ])
        // Node client and server, TLS 1.3.
        await new Promise<void>((resolve, reject) => {
          const c = connect(
            {
              host: '127.0.0.1',
              port: pn,
              servername: 'node.example.test',
              ALPNProtocols: ['h2'],
              rejectUnauthorized: false,
            },
            () => c.write('ping')
          )
          c.on('data', () => c.end())
          c.on('close', () => resolve())
          c.on('error', reject)
        })
        // The client rejects the self-signed certificate over TLS 1.2 during the handshake: its alert
        // goes before its ChangeCipherSpec, so in the clear.
        await sClient([
          '-connect',
          `127.0.0.1:${p12}`,
          '-servername',
          'strict.example.test',
          '-tls1_2',
          '-verify_return_error',
        ])
        // Node verifies the certificate only after the handshake completed: no alert in the clear.
        await new Promise<void>((resolve) => {
          const c = connect({
            host: '127.0.0.1',
            port: pn,
            servername: 'node-strict.example.test',
            maxVersion: 'TLSv1.2',
            rejectUnauthorized: true,
          })
          c.on('error', () => resolve())
          c.on('secureConnect', () => c.end())
          c.on('close', () => resolve())
        })
      })
    } finally {
      await s13.stop()
      await s12.stop()
      await new Promise<void>((r) => node.close(() => r()))
    }
    const t0 = performance.now()
    result = await analyzeFile(file, { dissectors: [tlsDissector, genericTcpDissector] })
    wallMs = performance.now() - t0
  }, 60_000)

  afterAll(() => dir.dispose())

  it('MD5 and SHA-256 match node:crypto', () => {
    for (const s of [
      '',
      'abc',
      'x'.repeat(55),
      'y'.repeat(56),
      'z'.repeat(64),
      'é'.repeat(300),
      '771,4865-4866,0-23,29,0',
    ]) {
      expect(md5Hex(s)).toBe(createHash('md5').update(s).digest('hex'))
      expect(sha256Hex(s)).toBe(createHash('sha256').update(s).digest('hex'))
    }
  })

  it('JA4 and JA3 reproduce a published fingerprint set (Chrome 143, browserleaks JA4/JA4_r/JA4_ro/JA3)', () => {
    // ja4_ro gives the ClientHello's ciphers, extensions and signature algorithms in wire order.
    const hx = (s: string): number[] => s.split(',').map((x) => parseInt(x, 16))
    const hello: ClientHello = {
      legacyVersion: 0x0303,
      ciphers: hx('1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035'),
      extensions: hx(
        '002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b'
      ),
      sni: 'tls.browserleaks.com',
      alpn: ['h2', 'http/1.1'],
      supportedVersions: [0x0304, 0x0303],
      groups: [4588, 29, 23, 24],
      pointFormats: [0],
      signatureAlgorithms: hx('0403,0804,0401,0503,0805,0501,0806,0601'),
    }
    const fp = ja4(hello)
    expect(fp.raw).toBe(
      't13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_0403,0804,0401,0503,0805,0501,0806,0601'
    )
    expect(fp.ja4).toBe('t13d1516h2_8daaf6152771_d8a2da3f94cd')
    const j3 = ja3(hello)
    expect(j3.full).toBe(
      '771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0'
    )
    expect(j3.hash).toBe('98487aa16281980e7d1120d399efb6a4')
  })

  it('reports every ClientHello with tshark’s SNI, ALPN and JA3', async () => {
    const t0 = performance.now()
    const rows = await tsharkFields(file, 'tls.handshake.type == 1', [
      'tls.handshake.extensions_server_name',
      'tls.handshake.extensions_alpn_str',
      'tls.handshake.ja3_full',
      'tls.handshake.ja3',
    ])
    const tsharkMs = performance.now() - t0
    const tls = result.entries.filter((e) => e.proto === 'tls')
    expect(tls.length).toBe(rows.length)
    expect(tls.length).toBe(6)
    const ours = tls
      .map((e) =>
        [
          e.path,
          (attr(e, 'tls_alpn') as string[]).join(','),
          attr(e, 'tls_ja3'),
          attr(e, 'tls_ja3_hash'),
        ].join('|')
      )
      .sort()
    const theirs = rows.map((r) => r.join('|')).sort()
    expect(ours).toEqual(theirs)
    console.log(
      `tls: ${tls.length} handshakes, analyzeFile ${wallMs.toFixed(1)} ms (${((tls.length / wallMs) * 1000).toFixed(0)} calls/s), tshark ${tsharkMs.toFixed(0)} ms`
    )
  })

  it('reports the ServerHello version and cipher as tshark decodes them', async () => {
    const rows = await tsharkFields(file, 'tls.handshake.type == 2', [
      'tls.handshake.ciphersuite',
      'tls.handshake.extensions.supported_version',
      'tls.handshake.version',
    ])
    const tls = result.entries.filter(
      (e) => e.proto === 'tls' && attr(e, 'tls_cipher_id') !== undefined
    )
    const ours = tls.map((e) => `${String(attr(e, 'tls_cipher_id'))}|${e.version}`).sort()
    const names: Record<string, string> = { '0x0304': 'TLS 1.3', '0x0303': 'TLS 1.2' }
    const theirs = rows.map((r) => `${Number(r[0])}|${names[r[1] || r[2]!]}`).sort()
    expect(ours).toEqual(theirs)
    const api = result.entries.find((e) => e.path === 'api.example.test')!
    expect(attr(api, 'tls_info')).toBe('TLS 1.3, TLS_AES_256_GCM_SHA384')
    // TLS 1.3 moves the chosen ALPN into the encrypted EncryptedExtensions (RFC 8446 §4.3.1).
    expect(attr(api, 'tls_alpn_selected')).toBeUndefined()
    expect(String(attr(api, 'tls_ja4'))).toMatch(/^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/)
    const legacy = result.entries.find((e) => e.path === 'legacy.example.test')!
    expect(attr(legacy, 'tls_info')).toBe('TLS 1.2, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384')
    expect(attr(legacy, 'tls_alpn_selected')).toBe('http/1.1')
  })

  it('reports alerts sent in the clear like tshark', async () => {
    const rows = await tsharkFields(file, 'tls.alert_message.desc', [
      'tls.alert_message.level',
      'tls.alert_message.desc',
    ])
    const alerts = result.entries.filter((e) => attr(e, 'tls_alert_code') !== undefined)
    expect(
      alerts
        .map(
          (e) =>
            `${attr(e, 'tls_alert_level') === 'fatal' ? 2 : 1}|${String(attr(e, 'tls_alert_code'))}`
        )
        .sort()
    ).toEqual(rows.map((r) => `${r[0]}|${r[1]}`).sort())
    const old = result.entries.find((e) => e.path === 'old.example.test')!
    expect(attr(old, 'tls_alert')).toBe('protocol_version')
    expect(old.status).toBe(70)
    const strict = result.entries.find((e) => e.path === 'strict.example.test')!
    expect(attr(strict, 'tls_alert_from')).toBe('client')
    expect(strict.status).toBeGreaterThan(0)
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })
})
