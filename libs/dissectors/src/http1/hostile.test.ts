import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TcpFlag } from '@tapwire/packet'
import { encodePcap, parseCapture } from '@tapwire/pcap'
import type { CaptureRecord } from '@tapwire/pcap'
import { analyzeFile, recordLoopback, requireTool, tempDir } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'
import { get32, indexTcp, put32, resegment } from '../test-support/tcp-rewrite.js'
import type { TcpPkt } from '../test-support/tcp-rewrite.js'
import { http1Dissector } from './http1-dissector.js'

const run = promisify(execFile)

/** The entry fields that must not change when only the packetisation changes. */
const view = (e: Entry): string =>
  [
    e.src?.port,
    e.method,
    e.url,
    e.status,
    e.ts,
    e.elapsedUs,
    e.reqBodySize,
    e.respBodySize,
    e.reqBody,
    e.respBody,
    e.errorType,
    e.gaps,
  ].join(' | ')

const flagged = (e: Entry): boolean => (e.gaps ?? 0) > 0 || (e.errorType ?? '') !== ''

// Real HTTP/1.1 traffic (curl and Node's client; keep-alive and fresh connections) recorded on
// loopback, then rewritten packet by packet the way hostile networks and lossy captures do.
describe('HTTP/1 over hostile captures', () => {
  const dir = tempDir()
  const original = join(dir.path, 'orig.pcap')
  let port = 0
  let records: CaptureRecord[] = []
  let pkts: TcpPkt[] = []
  let base: AnalyzeResult
  let requests = 0
  let n = 0

  const analyze = async (recs: readonly CaptureRecord[]): Promise<AnalyzeResult> => {
    const file = join(dir.path, `mutated-${n++}.pcap`)
    writeFileSync(file, encodePcap(recs, { linkType: recs[0]!.linkType, resolution: 'ns' }))
    return analyzeFile(file, { dissectors: [http1Dissector] })
  }

  beforeAll(async () => {
    const curl = requireTool('curl', 'curl')
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        if (req.url?.startsWith('/split')) {
          // Head, then the body in three writes a moment apart: a response over several segments.
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3000' })
          res.write('a'.repeat(1000))
          setTimeout(() => res.write('b'.repeat(1000)), 15)
          setTimeout(() => res.end('c'.repeat(1000)), 30)
          return
        }
        if (req.url?.startsWith('/chunks')) {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.write('first chunk;')
          res.write('second chunk;')
          setTimeout(() => res.end('third chunk'), 15)
          return
        }
        const body = JSON.stringify({ url: req.url, method: req.method, pad: 'p'.repeat(200) })
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(body.length),
        })
        res.end(body)
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    const root = `http://127.0.0.1:${port}`
    await recordLoopback(original, `tcp port ${port}`, async () => {
      // curl: one keep-alive connection for several URLs, then fresh connections.
      const urls = ['/c/1', '/split/2', '/c/3?x=1', '/chunks/4', '/c/5']
      await run(curl, ['-s', ...urls.flatMap((u) => ['-o', '/dev/null', `${root}${u}`])])
      requests += urls.length
      for (const u of ['/fresh/1', '/fresh/2']) {
        await run(curl, ['-s', '-o', '/dev/null', '-X', 'POST', '-d', 'k=v&n=1', `${root}${u}`])
        requests++
      }
      // Node's client: keep-alive agent, sequential requests, then a fresh connection.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const call = (path: string, method = 'GET', body?: string, a: Agent | false = agent) =>
        new Promise<void>((resolve, reject) => {
          const r = request(`${root}${path}`, { method, agent: a }, (res) => {
            res.resume()
            res.on('end', () => resolve())
          })
          r.on('error', reject)
          r.end(body)
          requests++
        })
      for (let i = 0; i < 4; i++) await call(`/node/${i}`)
      await call('/node/post', 'POST', JSON.stringify({ a: 1, b: 'two' }))
      await call('/split/node')
      await call('/chunks/node')
      await call('/node/last')
      agent.destroy()
      await call('/node/fresh', 'GET', undefined, false)
    })
    await new Promise<void>((r) => server.close(() => r()))
    const parsed = parseCapture(new Uint8Array(readFileSync(original)))
    records = parsed.records.map((r) => ({ ...r, data: r.data.slice() }))
    pkts = indexTcp(records, port)
    base = await analyzeFile(original, { dissectors: [http1Dissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  const dataPkts = (): TcpPkt[] => pkts.filter((p) => p.payloadLength > 0)

  it('finds every call in the unmodified capture', () => {
    expect(base.entries).toHaveLength(requests)
    expect(base.entries.every((e) => !flagged(e) && e.status === 200)).toBe(true)
    expect(base.stats.flows.tcpGaps).toBe(0)
    expect(new Set(pkts.map((p) => p.conn)).size).toBeGreaterThanOrEqual(5)
  })

  it('gives identical entries with one byte per segment', async () => {
    const out: CaptureRecord[] = []
    for (const p of pkts) {
      if (p.payloadLength <= 1) {
        out.push(p.rec)
        continue
      }
      for (const q of resegment(p, 1)) out.push(q.rec)
    }
    expect(out.length).toBeGreaterThan(records.length * 10)
    const r = await analyze(out)
    expect(r.entries.map(view)).toEqual(base.entries.map(view))
    expect(r.stats.flows.tcpGaps).toBe(0)
  })

  it('gives identical entries when sequence numbers wrap around 2^32', async () => {
    // Shift each direction's ISN to just below 2^32 so every stream crosses zero early on.
    const isn = new Map<string, number>()
    for (const p of pkts) if (p.flags & TcpFlag.SYN) isn.set(`${p.conn}/${p.dir}`, p.seq)
    const shift = (conn: number, d: number): number => {
      const start = isn.get(`${conn}/${d}`) ?? 0
      return (0x1_0000_0000 - 40 - start) >>> 0
    }
    const out = pkts.map((p) => {
      const data = p.rec.data.slice()
      put32(data, p.l4Offset + 4, (p.seq + shift(p.conn, p.dir)) >>> 0)
      if (p.flags & TcpFlag.ACK)
        put32(data, p.l4Offset + 8, (get32(data, p.l4Offset + 8) + shift(p.conn, 1 - p.dir)) >>> 0)
      return { ...p.rec, data }
    })
    const r = await analyze(out)
    expect(r.entries.map(view)).toEqual(base.entries.map(view))
    expect(r.stats.flows.tcpGaps).toBe(0)
  })

  it('gives identical entries with duplicated segments, counted as retransmissions', async () => {
    const out: CaptureRecord[] = []
    let dups = 0
    const data = dataPkts()
    pkts.forEach((p, i) => {
      out.push(p.rec)
      if (p.payloadLength > 0 && i % 3 === 0) {
        out.push(p.rec)
        dups++
      }
    })
    // A stale copy much later (a spurious retransmission) as well.
    out.push(data[2]!.rec)
    const r = await analyze(out)
    expect(dups).toBeGreaterThan(5)
    expect(r.entries.map(view)).toEqual(base.entries.map(view))
    expect(r.stats.flows.tcpGaps).toBe(0)
    expect(r.stats.flows.retransmissions).toBeGreaterThanOrEqual(dups)
  })

  it('gives identical entries with segments reordered within a connection', async () => {
    const out = pkts.slice()
    let swaps = 0
    for (let i = 0; i + 1 < out.length; i++) {
      const a = out[i]!
      // The next packet of the same connection, if nothing of that connection lies between.
      let j = i + 1
      while (j < out.length && out[j]!.conn !== a.conn) j++
      const b = out[j]
      if (
        b &&
        a.dir === b.dir &&
        a.payloadLength > 0 &&
        b.payloadLength > 0 &&
        !((a.flags | b.flags) & TcpFlag.FIN)
      ) {
        out[i] = b
        out[j] = a
        swaps++
        i = j
      }
    }
    // Also deliver a connection's handshake ACK after its first request.
    expect(swaps).toBeGreaterThanOrEqual(2)
    const r = await analyze(out.map((p) => p.rec))
    expect(r.entries.map(view).sort()).toEqual(base.entries.map(view).sort())
    expect(r.stats.flows.tcpGaps).toBe(0)
  })

  it('with segments dropped: every intact call is found, the others are missing or flagged, gaps counted exactly', async () => {
    // Drop data segments that are followed by more data in the same direction, at most one per
    // connection and direction run, so each drop is one hole.
    const data = dataPkts()
    const dropped = new Set<TcpPkt>()
    const lastDropAt = new Map<string, number>()
    data.forEach((p, i) => {
      const key = `${p.conn}/${p.dir}`
      const later = data.slice(i + 1).some((q) => q.conn === p.conn && q.dir === p.dir)
      if (!later || i % 4 !== 1) return
      if ((lastDropAt.get(key) ?? -10) >= i - 4) return
      dropped.add(p)
      lastDropAt.set(key, i)
    })
    expect(dropped.size).toBeGreaterThanOrEqual(3)
    const r = await analyze(pkts.filter((p) => !dropped.has(p)).map((p) => p.rec))
    expect(r.stats.flows.tcpGaps).toBe(dropped.size)
    // A dropped segment hits the call on its connection that started last before it.
    const hit = new Set<Entry>()
    for (const p of dropped) {
      const owner = base.entries
        .filter((e) => e.src!.port === p.conn && e.ts! <= p.ts + 1e-3)
        .at(-1)
      if (owner) hit.add(owner)
    }
    const found = r.entries.map(view)
    for (const e of base.entries) if (!hit.has(e)) expect(found, view(e)).toContain(view(e))
    const baseViews = new Set(base.entries.map(view))
    const others = r.entries.filter((e) => !baseViews.has(view(e)))
    for (const e of others) expect(flagged(e), view(e)).toBe(true)
    expect(others.length).toBeLessThanOrEqual(hit.size)
    expect(r.stats.engine.dissectorErrors).toBe(0)
  })

  it('finds the later calls of connections picked up mid-stream', async () => {
    // For every keep-alive connection: no handshake, no first request; its first response stays.
    const byConn = new Map<number, TcpPkt[]>()
    for (const p of pkts) byConn.set(p.conn, [...(byConn.get(p.conn) ?? []), p])
    const skip = new Set<TcpPkt>()
    const lostCalls = new Set<Entry>()
    for (const [conn, list] of byConn) {
      const calls = base.entries.filter((e) => e.src!.port === conn)
      if (calls.length < 3) continue
      const firstReq = list.find((p) => p.dir === 0 && p.payloadLength > 0)!
      for (const p of list) {
        if (p.ts > firstReq.ts || p.dir === 1) {
          if (p.payloadLength > 0 || p.ts > firstReq.ts) break
        }
        skip.add(p)
      }
      lostCalls.add(calls[0]!)
    }
    expect(lostCalls.size).toBeGreaterThanOrEqual(2)
    const r = await analyze(pkts.filter((p) => !skip.has(p)).map((p) => p.rec))
    expect(r.entries.map(view).sort()).toEqual(
      base.entries
        .filter((e) => !lostCalls.has(e))
        .map(view)
        .sort()
    )
    expect(r.stats.flows.tcpGaps).toBe(0)
  })
})
