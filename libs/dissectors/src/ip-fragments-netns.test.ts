import { execFile, execFileSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import type { Socket } from 'node:dgram'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  createNetnsLab,
  requireNetns,
  requireTool,
  sleep,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult, NetnsLab } from '@tapwire/testing'
import { dnsUdpDissector } from './dns/dns-dissector.js'

/**
 * Fragments made by the kernel, not by us: a namespace on a veth with MTU 1280 asks (dig) a DNS
 * server in the root namespace for names with 200 addresses; the ~3 KB answers leave the host
 * fragmented (IPv4, and IPv6 Fragment headers: RFC 8200 §4.5 source fragmentation). The capture
 * inside the namespace is what tshark, our oracle, and the Analyzer both read.
 */

const run = promisify(execFile)

/** A DNS answer (RFC 1035 §4.1) with `count` A or AAAA records for the query's name. */
function bigAnswer(query: Buffer, count: number): Buffer {
  let p = 12
  while (p < query.length && query[p] !== 0) p += query[p]! + 1
  const question = query.subarray(12, p + 5)
  const qtype = query.readUInt16BE(p + 1)
  const rdlen = qtype === 28 ? 16 : 4
  const header = Buffer.from([
    query[0]!,
    query[1]!,
    0x81,
    0x80,
    0,
    1,
    count >> 8,
    count & 0xff,
    0,
    0,
    0,
    0,
  ])
  const answers = Buffer.alloc(count * (12 + rdlen))
  for (let i = 0; i < count; i++) {
    const o = i * (12 + rdlen)
    answers.writeUInt16BE(0xc00c, o) // the question's name
    answers.writeUInt16BE(qtype === 28 ? 28 : 1, o + 2)
    answers.writeUInt16BE(1, o + 4)
    answers.writeUInt32BE(60, o + 6)
    answers.writeUInt16BE(rdlen, o + 10)
    if (rdlen === 4) answers.set([10, 9, i >> 8, i & 0xff], o + 12)
    else answers.set([0xfd, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 0xff], o + 12)
  }
  return Buffer.concat([header, question, answers])
}

describe('kernel-fragmented DNS over a 1280-byte MTU', () => {
  const dir = tempDir()
  const file = join(dir.path, 'netns.pcap')
  let lab: NetnsLab | undefined
  let result: AnalyzeResult
  let port = 0
  const sockets: Socket[] = []

  beforeAll(async () => {
    requireNetns()
    const dig = requireTool('dig', 'dnsutils')
    const tcpdump = requireTool('tcpdump', 'tcpdump')
    lab = createNetnsLab({ nodes: 1 })
    const node = lab.nodes[0]!
    const x = lab.hostIp.split('.')[2]!
    const v6host = `fd00:231:${x}::1`
    const v6node = `fd00:231:${x}::10`
    const ip = (...args: string[]): string => lab!.exec(node.ns, 'ip', args)
    // Both ends of the link at 1280 (the IPv6 minimum): the bridge takes its ports' MTU.
    const hostVeth = `${node.iface.slice(0, -2)}h0` // createNetnsLab's naming: tw<sfx>n0 ↔ tw<sfx>h0
    lab.exec(node.ns, 'ip', ['link', 'set', node.iface, 'mtu', '1280'])
    execFileSync('ip', ['link', 'set', hostVeth, 'mtu', '1280'])
    execFileSync('ip', ['link', 'set', lab.bridge, 'mtu', '1280'])
    execFileSync('ip', ['addr', 'add', `${v6host}/64`, 'dev', lab.bridge, 'nodad'])
    ip('addr', 'add', `${v6node}/64`, 'dev', node.iface, 'nodad')
    // The server: a UDP socket on each of the bridge's addresses.
    for (const [type, addr] of [
      ['udp4', lab.hostIp],
      ['udp6', v6host],
    ] as const) {
      const s = createSocket(type)
      s.on('message', (msg, rinfo) => s.send(bigAnswer(msg, 200), rinfo.port, rinfo.address))
      await new Promise<void>((r) => s.bind(port, addr, r))
      port = s.address().port
      sockets.push(s)
    }
    const capture = lab.spawn(node.ns, 'tcpdump', tcpdump, [
      '-i',
      node.iface,
      '--immediate-mode',
      '-U',
      '-s',
      '0',
      '-w',
      file,
      'not icmp6',
    ])
    try {
      await capture.waitFor(/listening on/, 15_000)
      // Asynchronously: the server answers from this very event loop.
      const q = (server: string, name: string, type: string): Promise<unknown> =>
        run('ip', [
          'netns',
          'exec',
          node.ns,
          dig,
          `@${server}`,
          '-p',
          String(port),
          '+tries=1',
          '+time=3',
          '+bufsize=8192',
          name,
          type,
        ])
      await q(lab.hostIp, 'v4.tapwire.test', 'A')
      await q(lab.hostIp, 'v4.tapwire.test', 'AAAA')
      await q(v6host, 'v6.tapwire.test', 'A')
      await q(v6host, 'v6.tapwire.test', 'AAAA')
      await sleep(300)
    } finally {
      capture.signal('SIGINT')
      await capture.wait(10_000)
    }
    result = await analyzeFile(file, { dissectors: [dnsUdpDissector] })
  }, 60_000)

  afterAll(() => {
    for (const s of sockets) s.close()
    lab?.destroy()
    dir.dispose()
  })

  it('captures fragments the kernel made, of both IP versions', async () => {
    const v4 = await tsharkFields(file, 'ip.flags.mf==1 || ip.frag_offset>0', ['frame.number'])
    const v6 = await tsharkFields(file, 'ipv6.fraghdr', ['frame.number'])
    expect(v4.length).toBeGreaterThanOrEqual(2 * 3)
    expect(v6.length).toBeGreaterThanOrEqual(2 * 3)
    expect(result.stats.fragments).toBe(v4.length + v6.length)
  })

  it('answers every query tshark reassembles, with the whole reassembled message', async () => {
    const decodeAs = ['-d', `udp.port==${port},dns`]
    const fields = [
      'ip.src',
      'ipv6.src',
      'dns.qry.name',
      'dns.qry.type',
      'dns.count.answers',
      'udp.length',
    ]
    const rows = await tsharkFields(file, 'dns.flags.response==1', fields, decodeAs)
    expect(rows.length).toBe(4)
    const types: Record<string, string> = { '1': 'A', '28': 'AAAA' }
    // The DNS dissector keeps at most 64 records per section (dns-message.ts MAX_RECORDS); the
    // response length shows the whole datagram arrived.
    const theirs = rows.map(
      ([v4, v6, name, type, count, udpLen]) =>
        `${v4 || v6} ${name} ${types[type!]} ${Math.min(64, Number(count))} ${Number(udpLen) - 8}`
    )
    const ours = result.entries.map((e) => {
      const attr = (n: string) => e.attrs?.find((a) => a.name === n)
      return `${e.dst!.ip} ${e.path} ${e.method} ${attr('dns_answers')?.list?.values?.length} ${attr('dns_response_length')?.num}`
    })
    expect(ours.sort()).toEqual(theirs.sort())
    expect(rows.every((r) => r[4] === '200')).toBe(true)
    expect(result.entries.every((e) => !e.errorType)).toBe(true)
    expect(result.stats.reassembly).toMatchObject({
      reassembled: 4,
      timedOut: 0,
      overlaps: 0,
      invalid: 0,
      inProgress: 0,
    })
    expect(result.stats.decodeErrors).toBe(0)
  })
})
