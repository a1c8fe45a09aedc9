import { execFile } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Analyzer } from '@tapwire/dissectors'
import type { ConnWindow, PeerFlow } from '@tapwire/dissectors'
import { BatchBuilder } from '@tapwire/packet'
import { PcapRing, openCapture } from '@tapwire/pcap'
import { recordLoopback, requireTool, tempDir, tsharkFields } from '@tapwire/testing'
import { connectionPcap } from './conn-pcap.js'
import { DetailsPcap } from './details-pcap.js'
import { RawRing } from './raw-ring.js'

const run = promisify(execFile)

interface Conn {
  window: ConnWindow
  /** Packets the flow table counted for it (the agent's l4_conn). */
  pkts: number
  path: string | undefined
}

/**
 * Real traffic on loopback recorded by tcpdump (the oracle's file), replayed into a PcapRing and
 * an Analyzer exactly as the agent does (ring first, then the dissector), 64 packets a batch.
 */
describe('connection PCAP from the ring', () => {
  const dir = tempDir('tapwire-conn-pcap-')
  const recording = join(dir.path, 'lo.pcap')
  const batches: ArrayBuffer[] = []
  const conns: Conn[] = []
  let httpPort = 0
  let udpPort = 0
  let ring: PcapRing
  let linkType = 0

  beforeAll(async () => {
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.end(`answer to ${req.url} ${'x'.repeat(3000)}`))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    httpPort = (server.address() as AddressInfo).port
    const udp = createSocket('udp4')
    udp.on('message', (m, from) => udp.send(m, from.port, from.address))
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r))
    udpPort = udp.address().port
    const get = (path: string, agent: false | undefined, body?: string) =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: httpPort, path, method: body ? 'POST' : 'GET', ...(agent === false ? { agent: false } : {}) }, (res) => {
          res.resume()
          res.on('end', () => resolve())
        })
        req.on('error', reject)
        req.end(body)
      })
    try {
      await recordLoopback(recording, `port ${httpPort} or port ${udpPort}`, async () => {
        for (let i = 0; i < 6; i++) await get(`/fresh/${i}`, false, i % 2 ? 'y'.repeat(40_000) : undefined)
        // Two calls on one kept-alive connection (the default agent keeps it between them).
        await get('/kept/0', undefined)
        await get('/kept/1', undefined)
        const c = createSocket('udp4')
        for (let i = 0; i < 3; i++) {
          await new Promise<void>((r) => {
            c.once('message', () => r())
            c.send(`ping ${i}`, udpPort, '127.0.0.1')
          })
        }
        c.close()
      })
    } finally {
      server.closeAllConnections()
      server.close()
      udp.close()
    }
    const reader = await openCapture(recording)
    let b: BatchBuilder | undefined
    for await (const r of reader) {
      linkType = r.linkType
      b ??= new BatchBuilder(linkType)
      b.append(r.tsSec, r.tsNsec, r.data.slice(), r.origLen)
      if (b.count === 64) {
        batches.push(b.finish())
        b = undefined
      }
    }
    if (b !== undefined && b.count > 0) batches.push(b.finish())
    await reader.close()
    ring = await PcapRing.open(join(dir.path, 'ring'), { maxBytes: 64 << 20, linkType })
    let id = 1
    const paths = new Map<number, string>()
    const analyzer = new Analyzer({ node: 't', nextId: () => id++, onEntry: (e) => paths.set(e.connId!, e.path!) })
    for (const batch of batches) {
      ring.append(batch)
      analyzer.processBatch(batch.slice(0))
    }
    await ring.flush()
    const live = [...analyzer.connections()]
    analyzer.finish()
    for (const c of live) {
      const w = analyzer.connWindow(c.id, (c.owner as PeerFlow).id)!
      conns.push({ window: w, pkts: c.stats[0].pkts + c.stats[1].pkts, path: paths.get(c.id) })
    }
  }, 60_000)

  afterAll(async () => {
    await ring?.close()
    dir.dispose()
  })

  /** Ports of every TCP/UDP packet in a file, as tshark decodes them. */
  const portsIn = async (file: string) =>
    (await tsharkFields(file, 'tcp || udp', ['tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'])).map((r) =>
      r[0] ? { t: 'tcp', a: Number(r[0]), b: Number(r[1]) } : { t: 'udp', a: Number(r[2]), b: Number(r[3]) }
    )
  const countOf = (ports: { t: string; a: number; b: number }[], w: ConnWindow) =>
    ports.filter((p) => p.t === w.transport && ((p.a === w.client.port && p.b === w.server.port) || (p.a === w.server.port && p.b === w.client.port))).length

  it('cuts every connection, TCP and UDP, with tshark\'s packet count for it', async () => {
    expect(conns.filter((c) => c.window.transport === 'tcp')).toHaveLength(7)
    expect(conns.filter((c) => c.window.transport === 'udp')).toHaveLength(1)
    const recorded = await portsIn(recording)
    for (const [i, c] of conns.entries()) {
      const r = await connectionPcap(ring, c.window, { maxBytes: 8 << 20 })
      const file = join(dir.path, `conn-${i}.pcap`)
      writeFileSync(file, r.pcap)
      const expected = countOf(recorded, c.window)
      expect(expected).toBeGreaterThan(0)
      expect(r.packets).toBe(expected)
      expect(r.packets).toBe(c.pkts)
      expect(r.truncated).toBe(false)
      // tshark reads our file whole, and every packet in it belongs to the connection.
      const ours = await portsIn(file)
      expect(ours).toHaveLength(expected)
      expect(countOf(ours, c.window)).toBe(expected)
    }
  })

  it('holds the HTTP calls tshark decodes, two of them for the kept-alive connection', async () => {
    const kept = conns.find((c) => c.path?.startsWith('/kept/'))!
    const file = join(dir.path, 'kept.pcap')
    writeFileSync(file, (await connectionPcap(ring, kept.window, { maxBytes: 8 << 20 })).pcap)
    const uris = (await tsharkFields(file, 'http.request', ['http.request.uri'])).map((r) => r[0])
    expect(uris).toEqual(['/kept/0', '/kept/1'])
  })

  it('stops at the byte bound with a readable pcap and says so', async () => {
    const big = conns.find((c) => c.path === '/fresh/1')!
    const full = await connectionPcap(ring, big.window, { maxBytes: 8 << 20 })
    const r = await connectionPcap(ring, big.window, { maxBytes: Math.floor(full.pcap.length / 2) })
    expect(r.truncated).toBe(true)
    expect(r.note).toMatch(/bounded to/)
    expect(r.pcap.length).toBeLessThanOrEqual(Math.floor(full.pcap.length / 2))
    expect(r.packets).toBeGreaterThan(0)
    expect(r.packets).toBeLessThan(full.packets)
    const file = join(dir.path, 'cut.pcap')
    writeFileSync(file, r.pcap)
    const capinfos = requireTool('capinfos', 'wireshark-common')
    const { stdout } = await run(capinfos, ['-c', '-M', file])
    expect(stdout).toMatch(new RegExp(`Number of packets:\\s+${r.packets}\\b`))
    // No room even for the first packet: no pcap, and the reason.
    const none = await connectionPcap(ring, big.window, { maxBytes: 30 })
    expect(none.packets).toBe(0)
    expect(none.truncated).toBe(true)
    expect(none.note).toMatch(/bounded to 30 bytes/)
  })

  it('reports packets that aged out of the ring, and a queued call through the write-behind', async () => {
    // A small ring: the recording, then filler traffic (later timestamps) that evicts it.
    const raw = new RawRing({ dir: join(dir.path, 'small'), maxBytes: 4 << 20, log: () => {} })
    try {
      const reader = new DetailsPcap(() => raw)
      for (const b of batches) raw.append(b)
      // No flush here: answer() must wait for the write-behind to get the packets on disk.
      const first = conns[0]!
      const a = await reader.answer(first.window, 8 << 20)
      expect(a.pcapError).toBeUndefined()
      expect(Number(a.pcapPackets)).toBe(first.pkts)
      const filler = new BatchBuilder(linkType)
      const sec = Math.ceil(conns.reduce((m, c) => Math.max(m, c.window.lastTs), 0) / 1000) + 10
      for (let i = 0; i < 400; i++) filler.append(sec, i * 1000, new Uint8Array(1400).fill(7))
      // 10 x 560 KB of filler through a 4 MiB ring: the recording's segments are evicted.
      const f = filler.finish()
      for (let i = 0; i < 10; i++) raw.append(f.slice(0))
      const gone = await reader.answer(first.window, 8 << 20)
      expect(gone.pcap).toBeUndefined()
      expect(gone.pcapError).toMatch(/have left the raw-capture ring/)
      expect(await reader.answer(undefined, 8 << 20)).toEqual({ pcapError: expect.stringMatching(/no longer knows/) })
    } finally {
      await raw.close()
    }
    const off = new DetailsPcap(() => undefined)
    expect((await off.answer(conns[0]!.window, 1 << 20)).pcapError).toMatch(/not enabled/)
  })
})
