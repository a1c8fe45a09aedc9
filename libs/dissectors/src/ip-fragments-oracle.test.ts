import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DecodeStatus, decodePacket, newDecodedPacket, splitIpPacket } from '@tapwire/packet'
import { encodePcap, openCapture } from '@tapwire/pcap'
import type { WritableRecord } from '@tapwire/pcap'
import {
  analyzeFile,
  recordLoopback,
  requireTool,
  startDnsmasq,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'
import { dnsTcpDissector, dnsUdpDissector } from './dns/dns-dissector.js'
import { http1Dissector } from './http1/http1-dissector.js'

const run = promisify(execFile)

/**
 * Real traffic (dig against dnsmasq, Node HTTP/1.1 client and server, over IPv4 and IPv6 loopback)
 * recorded with tcpdump, then every packet but each fifth split into 3+ IPv4 fragments or IPv6
 * Fragment headers, shuffled within the datagram. tshark reassembles both by default and is the
 * oracle; the unfragmented recording must also give exactly the same entries.
 */
interface Fragmented {
  file: string
  /** Packets split, and fragments written. */
  split: number
  fragments: number
}

async function fragmentCapture(src: string, dst: string): Promise<Fragmented> {
  const reader = await openCapture(src)
  const out: WritableRecord[] = []
  const d = newDecodedPacket()
  let linkType = 0
  let n = 0
  let split = 0
  let fragments = 0
  try {
    for await (const rec of reader) {
      linkType = rec.linkType
      const data = rec.data.slice()
      const st = decodePacket(rec.linkType, data, d)
      const ipOffset = d.srcOffset - (d.ipVersion === 4 ? 12 : 8)
      const ipPayload =
        d.ipVersion === 4
          ? data.length - ipOffset - (data[ipOffset]! & 0x0f) * 4
          : data.length - ipOffset - 40
      if (st !== DecodeStatus.OK || n++ % 5 === 4 || ipPayload < 24) {
        out.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec, data })
        continue
      }
      // A third of the payload (a multiple of 8): three or four fragments. A TCP header alone (a
      // bare ACK) ends up cut across fragments, which RFC 1858 calls a tiny fragment: still legal.
      const parts = splitIpPacket(data.subarray(ipOffset), Math.floor(ipPayload / 3), 0x100 + n)
      const order = parts
        .map((p, i) => ({ p, k: (i * 7 + n) % parts.length }))
        .sort((a, b) => a.k - b.k)
      for (const [i, { p }] of order.entries()) {
        const frame = new Uint8Array(ipOffset + p.length)
        frame.set(data.subarray(0, ipOffset), 0)
        frame.set(p, ipOffset)
        out.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec + i * 1000, data: frame })
      }
      split++
      fragments += parts.length
    }
  } finally {
    await reader.close()
  }
  writeFileSync(dst, encodePcap(out, { linkType }))
  return { file: dst, split, fragments }
}

const entryKey = (e: Entry): string => `${e.transport} ${e.method} ${e.path} ${e.status}`

describe('IPv4 and IPv6 fragments against tshark', () => {
  const dir = tempDir()
  let dnsPort = 0
  let httpPort = 0
  let original: AnalyzeResult
  let fragmented: AnalyzeResult
  let frag: Fragmented
  let decodeAs: string[] = []
  const dissectors = [dnsUdpDissector, dnsTcpDissector, http1Dissector]

  beforeAll(async () => {
    const dig = requireTool('dig', 'dnsutils')
    const dns = await startDnsmasq({ extraArgs: ['--listen-address=::1'] })
    dnsPort = dns.port
    // One HTTP server on both loopbacks.
    const server = createServer((req, res) => {
      let size = 0
      req.on('data', (c: Buffer) => (size += c.length))
      req.on('end', () => {
        res.setHeader('content-type', 'text/plain')
        res.end(`${req.method} ${req.url} ${size} `.padEnd(req.url === '/big' ? 6000 : 40, 'x'))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    httpPort = (server.address() as AddressInfo).port
    const server6 = createServer((req, res) => server.emit('request', req, res))
    await new Promise<void>((r) => server6.listen(httpPort, '::1', r))
    decodeAs = [
      '-d',
      `udp.port==${dnsPort},dns`,
      '-d',
      `tcp.port==${dnsPort},dns`,
      '-d',
      `tcp.port==${httpPort},http`,
    ]
    const call = (host: string, method: string, path: string, body?: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = request({ host, port: httpPort, method, path, agent: false }, (res) => {
          res.resume()
          res.on('end', () => resolve())
        })
        req.on('error', reject)
        req.end(body)
      })
    const file = join(dir.path, 'plain.pcap')
    try {
      await recordLoopback(file, `port ${dnsPort} or port ${httpPort}`, async () => {
        const q = (...args: string[]): Promise<unknown> =>
          run(dig, ['-p', String(dnsPort), '+tries=1', '+time=3', ...args])
        await q('@127.0.0.1', 'web.tapwire.test', 'A')
        await q('@127.0.0.1', 'tapwire.test', 'TXT')
        await q('@127.0.0.1', '+tcp', 'web.tapwire.test', 'AAAA')
        await q('@::1', 'web.tapwire.test', 'AAAA')
        await q('@::1', 'tapwire.test', 'TXT')
        await q('@::1', '+tcp', 'mail.tapwire.test', 'A')
        await call('127.0.0.1', 'GET', '/v4/small')
        await call('127.0.0.1', 'POST', '/v4/upload', 'y'.repeat(5000))
        await call('127.0.0.1', 'GET', '/big')
        await call('::1', 'GET', '/v6/small')
        await call('::1', 'PUT', '/v6/upload', 'z'.repeat(5000))
        await call('::1', 'GET', '/big')
      })
    } finally {
      server.closeAllConnections()
      server6.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await new Promise<void>((r) => server6.close(() => r()))
      await dns.stop()
    }
    frag = await fragmentCapture(file, join(dir.path, 'fragmented.pcap'))
    original = await analyzeFile(file, { dissectors })
    fragmented = await analyzeFile(frag.file, { dissectors })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('writes a capture tshark reads as fragments of both IP versions', async () => {
    expect(frag.split).toBeGreaterThan(40)
    const v4 = await tsharkFields(frag.file, 'ip.flags.mf==1 || ip.frag_offset>0', ['frame.number'])
    const v6 = await tsharkFields(frag.file, 'ipv6.fraghdr', ['frame.number'])
    expect(v4.length).toBeGreaterThan(60)
    expect(v6.length).toBeGreaterThan(60)
    expect(v4.length + v6.length).toBe(frag.fragments)
  })

  it('finds the DNS queries tshark finds: same client, name, type, rcode and answers', async () => {
    const fields = [
      'dns.id',
      'ip.src',
      'ipv6.src',
      'udp.srcport',
      'tcp.srcport',
      'dns.qry.name',
      'dns.qry.type',
    ]
    const queries = await tsharkFields(frag.file, 'dns.flags.response==0', fields, decodeAs)
    const answers = await tsharkFields(
      frag.file,
      'dns.flags.response==1',
      ['dns.id', 'dns.qry.name', 'dns.flags.rcode', 'dns.a', 'dns.aaaa', 'dns.txt'],
      decodeAs
    )
    expect(queries.length).toBe(6)
    expect(answers.length).toBe(6)
    // A, AAAA and TXT only: answers without additional sections render alike in both.
    const types: Record<string, string> = { '1': 'A', '16': 'TXT', '28': 'AAAA' }
    // Our entries carry no DNS id: tshark's query and answer are paired by id, then matched to our
    // entry by the client's address and port, the name and the type.
    const theirs = queries.map(([id, v4, v6, uport, tport, name, type]) => {
      const a = answers.find((x) => x[0] === id && x[1] === name)!
      const values = a.slice(3).filter((v) => v !== '')
      return `${v4 || v6}:${uport || tport} ${name} ${types[type!]} ${a[2]} ${values.join(',')}`
    })
    const dns = fragmented.entries.filter((e) => e.proto === 'dns')
    const ours = dns.map((e) => {
      const values = e.attrs?.find((x) => x.name === 'dns_answers')?.list?.values ?? []
      return `${e.src!.ip}:${e.src!.port} ${e.path} ${e.method} ${e.status} ${values.join(',')}`
    })
    expect(ours.sort()).toEqual(theirs.sort())
    expect(dns.filter((e) => e.src!.ip === '::1').length).toBe(3)
    expect(dns.filter((e) => e.transport === 'tcp').length).toBe(2)
  })

  it('finds the HTTP calls tshark finds, over TCP segments cut into fragments', async () => {
    const reqs = await tsharkFields(
      frag.file,
      'http.request',
      ['http.request.method', 'http.request.uri'],
      decodeAs
    )
    const resps = await tsharkFields(
      frag.file,
      'http.response',
      ['http.response.code', 'http.content_length'],
      decodeAs
    )
    expect(reqs.length).toBe(6)
    expect(resps.length).toBe(6)
    const http = fragmented.entries.filter((e) => e.proto === 'http')
    expect(http.map((e) => `${e.method} ${e.path}`).sort()).toEqual(
      reqs.map(([m, u]) => `${m} ${u}`).sort()
    )
    expect(http.every((e) => e.status === 200)).toBe(true)
    expect(http.filter((e) => e.path === '/big').map((e) => e.respBodySize)).toEqual([6000, 6000])
    expect(
      http.filter((e) => (e.path ?? '').endsWith('/upload')).map((e) => e.reqBodySize)
    ).toEqual([5000, 5000])
    expect(http.filter((e) => e.src!.ip === '::1').length).toBe(3)
  })

  it('gives exactly the entries of the unfragmented recording, and counts the reassembly', () => {
    expect(original.entries.length).toBe(12)
    expect(fragmented.entries.map(entryKey).sort()).toEqual(original.entries.map(entryKey).sort())
    const s = fragmented.stats
    expect(s.fragments).toBe(frag.fragments)
    expect(s.reassembly).toMatchObject({
      fragments: frag.fragments,
      reassembled: frag.split,
      timedOut: 0,
      evicted: 0,
      overlaps: 0,
      duplicates: 0,
      invalid: 0,
      inProgress: 0,
      bufferedBytes: 0,
    })
    expect(s.decodeErrors).toBe(0)
    expect(s.flows.tcpGaps).toBe(0)
    expect(s.engine.dissectorErrors).toBe(0)
    expect(original.stats.fragments).toBe(0)
  })
})
