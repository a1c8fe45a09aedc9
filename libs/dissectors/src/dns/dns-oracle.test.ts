import { execFile } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  recordLoopback,
  requireTool,
  startDnsmasq,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Attr, Entry } from '@tapwire/wire'
import { dnsTcpDissector, dnsUdpDissector } from './dns-dissector.js'

const run = promisify(execFile)

export const attr = (e: Entry, name: string): Attr | undefined =>
  e.attrs?.find((a) => a.name === name)

// Real dig queries against a real dnsmasq (records for every supported type, no network), plus one
// query to a socket that never answers; tshark's DNS dissector is the oracle.
describe('DNS against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'dns.pcap')
  let result: AnalyzeResult
  let port = 0
  let silentPort = 0
  let decodeAs: string[] = []

  beforeAll(async () => {
    const dig = requireTool('dig', 'dnsutils')
    const server = await startDnsmasq()
    port = server.port
    const silent = createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r))
    silentPort = silent.address().port
    decodeAs = [
      '-d',
      `udp.port==${port},dns`,
      '-d',
      `tcp.port==${port},dns`,
      '-d',
      `udp.port==${silentPort},dns`,
    ]
    try {
      await recordLoopback(file, `port ${port} or port ${silentPort}`, async () => {
        const q = (...args: string[]): Promise<unknown> =>
          run(dig, ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=3', ...args])
        await q('web.tapwire.test', 'A')
        await q('web.tapwire.test', 'AAAA')
        await q('www.tapwire.test', 'A')
        await q('www.tapwire.test', 'CNAME')
        await q('tapwire.test', 'MX')
        await q('tapwire.test', 'TXT')
        await q('_http._tcp.tapwire.test', 'SRV')
        await q('-x', '10.1.2.3')
        await q('missing.tapwire.test', 'A')
        await q('+tcp', 'web.tapwire.test', 'A')
        await q('+tcp', 'tapwire.test', 'MX')
        // Several queries in one dig run: separate messages, each its own call.
        await q('mail.tapwire.test', 'A', 'web.tapwire.test', 'AAAA')
        // Nobody answers: a timeout entry.
        await run(dig, [
          '@127.0.0.1',
          '-p',
          String(silentPort),
          '+tries=1',
          '+time=1',
          'lost.tapwire.test',
          'A',
        ]).catch(() => undefined)
      })
    } finally {
      silent.close()
      await server.stop()
    }
    result = await analyzeFile(file, { dissectors: [dnsUdpDissector, dnsTcpDissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds every query tshark finds, with the same name, type and rcode', async () => {
    const queries = await tsharkFields(
      file,
      'dns.flags.response==0',
      ['dns.id', 'dns.qry.name', 'dns.qry.type'],
      decodeAs
    )
    const responses = await tsharkFields(
      file,
      'dns.flags.response==1',
      ['dns.id', 'dns.qry.name', 'dns.flags.rcode'],
      decodeAs
    )
    expect(queries.length).toBe(14)
    expect(result.entries.length).toBe(queries.length)
    const typeNames: Record<string, string> = {
      '1': 'A',
      '5': 'CNAME',
      '12': 'PTR',
      '15': 'MX',
      '16': 'TXT',
      '28': 'AAAA',
      '33': 'SRV',
    }
    const theirs = queries.map(([id, name, type]) => {
      const r = responses.find((x) => x[0] === id && x[1] === name)
      return `${name} ${typeNames[type!] ?? type} ${r ? r[2] : 'none'}`
    })
    const ours = result.entries.map(
      (e) => `${e.path} ${e.method} ${e.errorType === 'timeout' ? 'none' : e.status}`
    )
    expect(ours.sort()).toEqual(theirs.sort())
    expect(result.entries.filter((e) => e.transport === 'tcp').length).toBe(2)
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })

  it('renders answers like tshark does', async () => {
    // tshark's dns.a etc. include the additional section; dns.count.answers says how many are answers.
    const fields = [
      'dns.qry.name',
      'dns.count.answers',
      'dns.a',
      'dns.aaaa',
      'dns.cname',
      'dns.mx.mail_exchange',
      'dns.txt',
      'dns.srv.target',
      'dns.ptr.domain_name',
    ]
    const rows = await tsharkFields(file, 'dns.flags.response==1', fields, decodeAs)
    expect(rows.length).toBe(13)
    for (const [name, count, a, aaaa, cname, mx, txt, srv, ptr] of rows) {
      const expected = [a, aaaa, cname, ptr].flatMap((s) => (s ? s.split(',') : []))
      if (mx) expected.push(`10 ${mx}`)
      if (txt) expected.push(txt)
      if (srv) expected.push(`1 5 8080 ${srv}`)
      // Same name, as many answers as tshark counts, each one rendered the way tshark shows it.
      const e = result.entries.find((x) => {
        const answers = attr(x, 'dns_answers')?.list?.values ?? []
        return (
          x.path === name &&
          !x.errorType &&
          answers.length === Number(count) &&
          answers.every((v) => expected.includes(v))
        )
      })
      expect(e, `entry for ${name} with ${expected.join(' ')}`).toBeDefined()
    }
  })

  it('fills the KFL variables and the timeout entry', () => {
    const srv = result.entries.find((e) => e.method === 'SRV')!
    expect(attr(srv, 'dns_questions')!.list!.values).toEqual(['_http._tcp.tapwire.test'])
    expect(attr(srv, 'dns_question_types')!.list!.values).toEqual(['SRV'])
    expect(attr(srv, 'dns_request')!.flag).toBe(true)
    expect(attr(srv, 'dns_response')!.flag).toBe(true)
    const reqLen = attr(srv, 'dns_request_length')!.num!
    const respLen = attr(srv, 'dns_response_length')!.num!
    expect(attr(srv, 'dns_total_size')!.num).toBe(reqLen + respLen)
    expect(srv.reqBodySize).toBe(reqLen)
    const nx = result.entries.find((e) => e.path === 'missing.tapwire.test')!
    expect(nx.status).toBe(3)
    expect(nx.summary).toContain('NXDOMAIN')
    const lost = result.entries.find((e) => e.path === 'lost.tapwire.test')!
    expect(lost.errorType).toBe('timeout')
    expect(attr(lost, 'dns_response')!.flag).toBe(false)
    expect(lost.dst!.port).toBe(silentPort)
    const www = result.entries.find((e) => e.path === 'www.tapwire.test' && e.method === 'A')!
    expect(attr(www, 'dns_answers')!.list!.values).toEqual(['web.tapwire.test', '10.1.2.3'])
    for (const e of result.entries) expect(e.proto).toBe('dns')
  })
})
