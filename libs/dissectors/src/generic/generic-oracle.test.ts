import { createSocket } from 'node:dgram'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import {
  analyzeFile,
  entryAttr,
  freePort,
  recordLoopback,
  sleep,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import { BUILTIN_DISSECTORS } from '../registry.js'
import { amqpDissector } from '../amqp/amqp-dissector.js'
import { kafkaDissector } from '../kafka/kafka-dissector.js'
import { mongodbDissector } from '../mongodb/mongodb-dissector.js'
import { tlsDissector } from '../tls/tls-dissector.js'
import { genericTcpDissector, genericUdpDissector } from './generic-dissector.js'

const attr = entryAttr

/** A binary exchange no dissector knows: a greeting, a request, then (optionally) a reset. */
async function exchange(port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.on('data', () => c.write(Buffer.from([0x01, 0x70, 0x69, 0x6e, 0x67])))
    c.on('error', () => resolve())
    c.on('close', () => resolve())
  })
}

// The fallback behind the real registry: unknown binary TCP and UDP still yield entries, resets
// carry tcp_error_type, and known protocols are not taken away from their dissectors.
describe('generic TCP/UDP fallback', () => {
  const dir = tempDir()
  const file = join(dir.path, 'generic.pcap')
  let result: AnalyzeResult
  const ports = { plain: 0, reset: 0, http: 0, udp: 0, refused: 0 }

  beforeAll(async () => {
    const plain = createServer((s) => {
      s.write(Buffer.from([0x00, 0x68, 0x69]))
      s.on('data', () => s.end(Buffer.from([0x02, 0x6f, 0x6b])))
      s.on('error', () => undefined)
    })
    const reset = createServer((s) => {
      s.write(Buffer.from([0x00, 0x68, 0x69]))
      s.on('data', () => s.resetAndDestroy())
      s.on('error', () => undefined)
    })
    const http = createHttpServer((req, res) => {
      res.writeHead(req.url === '/boom' ? 503 : 200)
      res.end('x')
    })
    const udp = createSocket('udp4')
    udp.on('message', (m, rinfo) => udp.send(m, rinfo.port, rinfo.address))
    await Promise.all([
      new Promise<void>((r) => plain.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => reset.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => http.listen(0, '127.0.0.1', r)),
      new Promise<void>((r) => udp.bind(0, '127.0.0.1', r)),
    ])
    ports.plain = (plain.address() as AddressInfo).port
    ports.reset = (reset.address() as AddressInfo).port
    ports.http = (http.address() as AddressInfo).port
    ports.udp = udp.address().port
    ports.refused = await freePort()
    const filter = Object.values(ports)
      .map((p) => `port ${p}`)
      .join(' or ')
    await recordLoopback(file, filter, async () => {
      await exchange(ports.plain)
      await exchange(ports.plain)
      await exchange(ports.reset)
      await fetch(`http://127.0.0.1:${ports.http}/ok`).then((r) => r.text())
      await fetch(`http://127.0.0.1:${ports.http}/boom`).then((r) => r.text())
      // Refused: SYN answered by RST, no payload at all.
      await new Promise<void>((r) => connect(ports.refused, '127.0.0.1').on('error', () => r()))
      const client = createSocket('udp4')
      for (let i = 0; i < 3; i++) {
        client.send(Buffer.from(`metric.${i}:1|c`), ports.udp, '127.0.0.1')
        await sleep(20)
      }
      await sleep(100)
      client.close()
    })
    plain.close()
    reset.close()
    http.close()
    udp.close()
    result = await analyzeFile(file, {
      dissectors: [
        ...BUILTIN_DISSECTORS,
        kafkaDissector,
        mongodbDissector,
        amqpDissector,
        tlsDissector,
        genericTcpDissector,
        genericUdpDissector,
      ],
    })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('one tcp entry per unrecognised connection with bytes each way, like tshark’s stream totals', async () => {
    // The refused connection has its own test below.
    const tcp = result.entries.filter((e) => e.proto === 'tcp' && e.dst?.port !== ports.refused)
    expect(tcp.length).toBe(3)
    const rows = await tsharkFields(
      file,
      `tcp.len > 0 && (tcp.port == ${ports.plain} || tcp.port == ${ports.reset})`,
      ['tcp.stream', 'tcp.srcport', 'tcp.len']
    )
    const perStream = new Map<string, { sent: number; recv: number }>()
    for (const [stream, src, len] of rows) {
      const s = perStream.get(stream!) ?? { sent: 0, recv: 0 }
      if (Number(src) === ports.plain || Number(src) === ports.reset) s.recv += Number(len)
      else s.sent += Number(len)
      perStream.set(stream!, s)
    }
    expect(tcp.map((e) => `${e.reqBodySize}/${e.respBodySize}`).sort()).toEqual(
      [...perStream.values()].map((s) => `${s.sent}/${s.recv}`).sort()
    )
    for (const e of tcp) {
      expect(e.method).toBe('connection')
      expect(e.elapsedUs).toBeGreaterThan(0)
    }
    // HTTP stays HTTP.
    expect(
      result.entries
        .filter((e) => e.proto === 'http')
        .map((e) => e.status)
        .sort()
    ).toEqual([200, 503])
  })

  it('a reset carries tcp_error_type "reset", like tshark’s RST', async () => {
    const rst = await tsharkFields(file, `tcp.flags.reset == 1 && tcp.port == ${ports.reset}`, [
      'tcp.stream',
    ])
    expect(rst.length).toBeGreaterThan(0)
    const reset = result.entries.filter((e) => attr(e, 'tcp_error_type') === 'reset')
    expect(reset.length).toBe(1)
    expect(reset[0]!.dst!.port).toBe(ports.reset)
    expect(String(attr(reset[0]!, 'tcp_error_message'))).toMatch(/reset/)
    expect(reset[0]!.errorType).toBe('connection')
  })

  it('the KFL example selects the 5xx, the reset and the refused connection, nothing else', () => {
    const f = compile('http && status_code >= 500 || (tcp && tcp_error_type != "")')
    const selected = result.entries.filter(f.predicate)
    expect(
      selected
        .map(
          (e) => `${e.proto}:${e.status}:${(attr(e, 'tcp_error_type') as string | undefined) ?? ''}`
        )
        .sort()
    ).toEqual(['http:503:', 'tcp:0:refused', 'tcp:0:reset'])
  })

  it('one udp entry per flow', async () => {
    const udp = result.entries.filter((e) => e.proto === 'udp')
    const rows = await tsharkFields(file, `udp.port == ${ports.udp}`, ['udp.stream', 'udp.length'])
    expect(udp.length).toBe(new Set(rows.map((r) => r[0])).size)
    expect(udp[0]!.reqBodySize).toBe(3 * 'metric.0:1|c'.length)
    expect(attr(udp[0]!, 'udp_length')).toBe(Number(rows[0]![1]))
    expect(attr(udp[0]!, 'udp_payload')).toBe('metric.0:1|cmetric.1:1|cmetric.2:1|c')
  })

  it('reports a refused connection (SYN answered by RST) although no payload ever moved', async () => {
    const refused = result.entries.filter((e) => e.dst?.port === ports.refused)
    // tshark sees the same refusals: a SYN to that port answered by a RST.
    const syns = await tsharkFields(
      file,
      `tcp.dstport==${ports.refused} && tcp.flags.syn==1 && tcp.flags.ack==0`,
      ['tcp.stream']
    )
    expect(refused.length).toBe(new Set(syns.map((r) => r[0])).size)
    expect(refused.length).toBeGreaterThan(0)
    for (const e of refused) {
      expect(attr(e, 'tcp_error_type')).toBe('refused')
      expect(e.errorType).toBe('connection')
      expect(e.errorMessage).toMatch(/refused/)
    }
  })
})
