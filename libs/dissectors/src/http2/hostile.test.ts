import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodePcap, parseCapture } from '@tapwire/pcap'
import {
  analyzeFile,
  http2Request,
  recordLoopback,
  requireTool,
  startHttp2Peer,
  tempDir,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Entry, Header } from '@tapwire/wire'
import { http1Dissector } from '../http1/http1-dissector.js'
import { http2Dissector } from './http2-dissector.js'
import { indexTcp, resegment } from '../test-support/tcp-rewrite.js'
import type { TcpPkt } from '../test-support/tcp-rewrite.js'
import { tsharkStreams } from './test-support.js'
import type { TsharkStream } from './test-support.js'

const run = promisify(execFile)

// Real HTTP/2 traffic (Node's http2 client and server, prior knowledge, several keep-alive
// connections, gRPC-framed calls among them) recorded on loopback, then rewritten as a lossy
// capture: TCP segments dropped mid-connection in both directions, HEADERS-carrying ones among
// them. tshark reads the same rewritten file; the unmodified capture is the ground truth.

/** Frame types of the HTTP/2 frames a segment starts with, walked while they fit (§4.1). */
function frameTypes(p: TcpPkt): number[] {
  const b = p.rec.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)
  const types: number[] = []
  for (let o = 0; o + 9 <= b.length;) {
    types.push(b[o + 3]!)
    o += 9 + ((b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!)
  }
  return types
}

/**
 * `conn/stream` of every stream with a frame (HEADERS, DATA, CONTINUATION...) that a dropped
 * segment carried part of: those calls lost bytes, whatever the dissector does. Walks each
 * direction's bytes as the sender wrote them (RFC 9113 §3.4 preface, §4.1 frames).
 */
function hitStreams(list: readonly TcpPkt[], dropped: ReadonlySet<TcpPkt>): Set<string> {
  const hit = new Set<string>()
  const flows = new Map<string, TcpPkt[]>()
  for (const p of list) {
    if (p.payloadLength === 0) continue
    const k = `${p.conn}/${p.dir}`
    flows.set(k, [...(flows.get(k) ?? []), p])
  }
  for (const [k, ps] of flows) {
    const base = ps[0]!.seq
    const at = (p: TcpPkt) => (p.seq - base) >>> 0
    const total = Math.max(...ps.map((p) => at(p) + p.payloadLength))
    const bytes = new Uint8Array(total)
    for (const p of ps)
      bytes.set(p.rec.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength), at(p))
    const holes = ps.filter((p) => dropped.has(p)).map((p) => [at(p), at(p) + p.payloadLength])
    if (holes.length === 0) continue
    let o = k.endsWith('/0') ? 24 : 0
    while (o + 9 <= total) {
      const end = o + 9 + ((bytes[o]! << 16) | (bytes[o + 1]! << 8) | bytes[o + 2]!)
      const id =
        ((bytes[o + 5]! & 0x7f) << 24) |
        (bytes[o + 6]! << 16) |
        (bytes[o + 7]! << 8) |
        bytes[o + 8]!
      if (id !== 0 && holes.some(([a, b]) => a! < end && b! > o))
        hit.add(`${k.split('/')[0]}/${id}`)
      o = end
    }
  }
  return hit
}

/** tshark's HTTP/2 streams in `file` (ephemeral port: decode-as). */
async function tsharkH2(file: string, port: number): Promise<TsharkStream[]> {
  const bin = requireTool('tshark', 'tshark')
  const { stdout } = await run(
    bin,
    [
      '-n',
      '-r',
      file,
      '-d',
      `tcp.port==${port},http2`,
      '-Y',
      'http2.header',
      '-T',
      'json',
      '--no-duplicate-keys',
      '-J',
      'frame tcp http2 grpc',
    ],
    { maxBuffer: 1 << 30 }
  )
  return tsharkStreams(stdout)
}

/** gRPC's length-prefixed message around a protobuf `{1: text}`. */
function grpcMessage(text: string): Buffer {
  const field = Buffer.concat([Buffer.from([0x0a, text.length]), Buffer.from(text)])
  const out = Buffer.alloc(5 + field.length)
  out.writeUInt32BE(field.length, 1)
  field.copy(out, 5)
  return out
}

const callKey = (port: number, method: string, url: string, status: number | string) =>
  `${port} ${method} ${url} ${status}`
/** A gRPC entry's method is its path; the HTTP method is what tshark compares. */
const entryKey = (e: Entry) =>
  callKey(e.src!.port!, e.proto === 'grpc' ? 'POST' : e.method!, e.url!, e.status ?? '')
const streamKey = (s: TsharkStream) => callKey(s.clientPort, s.method, s.path, s.status)
const complete = (s: TsharkStream) => s.method !== '' && s.path !== '' && s.status !== ''
const requestId = (list: readonly (Header | [string, string])[]): string | undefined => {
  for (const h of list) {
    const [k, v] = Array.isArray(h) ? h : [h.name, h.value]
    if (k === 'x-request-id') return v ?? undefined
  }
  return undefined
}

describe('HTTP/2 over lossy captures', () => {
  const dir = tempDir()
  const original = join(dir.path, 'orig.pcap')
  let port = 0
  let pkts: TcpPkt[] = []
  let truth: TsharkStream[] = []
  let base: AnalyzeResult
  let n = 0
  const sent = { calls: 0, grpc: 0 }

  const write = (list: readonly TcpPkt[]): string => {
    const file = join(dir.path, `lossy-${n++}.pcap`)
    const recs = list.map((p) => p.rec)
    writeFileSync(file, encodePcap(recs, { linkType: recs[0]!.linkType, resolution: 'ns' }))
    return file
  }
  const analyze = (file: string) =>
    analyzeFile(file, { dissectors: [http1Dissector, http2Dissector] })

  beforeAll(async () => {
    const server = await startHttp2Peer((stream, headers, got) => {
      const path = String(headers[':path'])
      if (String(headers['content-type']).startsWith('application/grpc')) {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc+proto' },
          { waitForTrailers: true }
        )
        stream.on('wantTrailers', () =>
          stream.sendTrailers(
            path.endsWith('/Fail')
              ? { 'grpc-status': '5', 'grpc-message': 'item%20not%20found' }
              : { 'grpc-status': '0' }
          )
        )
        for (let i = 0; i < 3; i++) stream.write(grpcMessage(`item-${i}-of-${path.length}`))
        stream.end()
        return
      }
      const i = Number(/\/(\d+)/.exec(path)?.[1] ?? 0)
      stream.respond({
        ':status': path.includes('/missing/') ? 404 : headers[':method'] === 'POST' ? 201 : 200,
        'content-type': i % 2 === 0 ? 'application/json' : 'text/plain; charset=utf-8',
        'cache-control': `max-age=${(i % 5) * 60}`,
        'x-served-by': `backend-${i % 3}`,
        'x-request-echo': String(headers['x-request-id']),
        'x-got': String(got),
      })
      stream.end(JSON.stringify({ path, got, pad: 'x'.repeat((i * 37) % 900) }))
    })
    port = server.port
    const request = (
      client: http2.ClientHttp2Session,
      headers: http2.OutgoingHttpHeaders,
      body?: string | Buffer
    ) => {
      sent.calls++
      return http2Request(client, headers, body)
    }
    await recordLoopback(original, `tcp port ${port}`, async () => {
      const conns = Array.from({ length: 4 }, (_, c) => c)
      await Promise.all(
        conns.map(async (c) => {
          const client = http2.connect(`http://127.0.0.1:${port}`)
          for (let i = 0; i < 60; i++) {
            const id = c * 1000 + i
            const headers: http2.OutgoingHttpHeaders = {
              ':path':
                i % 13 === 7 ? `/missing/${id}` : `/api/v1/conn${c}/items/${id}?page=${i % 6}`,
              'x-request-id': `req-${id}-${(id * 7919) % 100003}`,
              'x-tenant': `tenant-${i % 5}`,
              'x-trace': `trace-${c}-${Math.floor(i / 3)}`,
              accept: i % 4 === 0 ? 'application/json' : '*/*',
              'user-agent': `hostile-h2/${c}`,
            }
            if (i % 10 === 9) {
              // gRPC-framed calls on the same connection.
              const method = i % 20 === 19 ? 'Fail' : 'GetItem'
              await request(
                client,
                {
                  ':method': 'POST',
                  ':path': `/shop.v1.Store/${method}`,
                  'content-type': 'application/grpc+proto',
                  te: 'trailers',
                  'x-request-id': headers['x-request-id'],
                },
                grpcMessage(`sku-${id}`)
              )
              sent.grpc++
            } else if (i % 7 === 3) {
              await request(
                client,
                { ...headers, ':method': 'POST', 'content-type': 'application/json' },
                JSON.stringify({ id, qty: i, note: 'n'.repeat(i * 11) })
              )
            } else if (i % 15 === 14) {
              // A burst: several streams open at once.
              await Promise.all(
                [0, 1, 2, 3].map((k) =>
                  request(client, {
                    ...headers,
                    ':path': `/api/v1/conn${c}/burst/${id}-${k}`,
                    'x-request-id': `${String(headers['x-request-id'])}-${k}`,
                  })
                )
              )
            } else await request(client, headers)
          }
          await new Promise<void>((r) => client.close(() => r()))
        })
      )
    })
    await server.close()
    const parsed = parseCapture(new Uint8Array(readFileSync(original)))
    pkts = indexTcp(
      parsed.records.map((r) => ({ ...r, data: r.data.slice() })),
      port
    )
    truth = await tsharkH2(original, port)
    base = await analyze(original)
  }, 120_000)

  afterAll(() => dir.dispose())

  it('the unmodified capture: every call, as tshark sees it', () => {
    expect(truth.length).toBe(sent.calls)
    expect(truth.every((s) => complete(s) && s.reqTs! > 0)).toBe(true)
    expect(base.entries.map(entryKey).sort()).toEqual(truth.map(streamKey).sort())
    expect(base.entries.every((e) => e.errorType === '' && (e.gaps ?? 0) === 0)).toBe(true)
    expect(base.entries.filter((e) => e.proto === 'grpc').length).toBe(sent.grpc)
    expect(new Set(pkts.map((p) => p.conn)).size).toBe(4)
  })

  /**
   * Drops, on every connection, segments carrying HEADERS in both directions at a few points
   * after the first quarter of its data, and runs us and tshark on the result.
   */
  async function lossy(list: TcpPkt[], points: number[]) {
    const dropped = new Set<TcpPkt>()
    for (const conn of new Set(list.map((p) => p.conn))) {
      const data = list.filter((p) => p.conn === conn && p.payloadLength > 0)
      for (const at of points) {
        for (const d of [0, 1] as const) {
          const from = Math.floor(at * data.length) + d * 3
          const p = data.slice(from).find((q) => q.dir === d && frameTypes(q).includes(1))
          if (p) dropped.add(p)
        }
      }
    }
    const file = write(list.filter((p) => !dropped.has(p)))
    const [ours, theirs] = await Promise.all([analyze(file), tsharkH2(file, port)])
    // The first hole per connection: calls whose request started after it are "after the gap".
    const firstDrop = new Map<number, number>()
    for (const p of dropped)
      firstDrop.set(p.conn, Math.min(firstDrop.get(p.conn) ?? Infinity, p.ts))
    return { dropped, ours, theirs, firstDrop }
  }

  /** Counts of each key: calls repeat (gRPC paths), so matching is by multiset. */
  const counts = (keys: string[]) => {
    const m = new Map<string, number>()
    for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1)
    return m
  }
  /** How many of `want` (with repeats) are in `have`. */
  const matched = (want: string[], have: string[]) => {
    const left = counts(have)
    let n = 0
    for (const k of want) {
      const c = left.get(k) ?? 0
      if (c > 0) {
        n++
        left.set(k, c - 1)
      }
    }
    return n
  }
  const sentFields = (list: [string, string][], h: Header) =>
    list.some(([k, v]) => k === h.name && v === h.value)
  /** `s` (tshark) could be the call `e`: every header of ours is one it sent, status the same. */
  const agrees = (e: Entry, s: TsharkStream) =>
    (e.status === undefined || e.status === 0 || String(e.status) === s.status) &&
    (e.reqHeaders ?? []).every((h) => sentFields(s.reqHeaders, h)) &&
    (e.respHeaders ?? []).every((h) => sentFields([...s.respHeaders, ...s.trailers], h))

  /** The checks (a)-(d) of the task, with the numbers they measured. */
  function check(list: TcpPkt[], r: Awaited<ReturnType<typeof lossy>>) {
    const { dropped, ours, theirs, firstDrop } = r
    // The calls after a hole: requests sent after the first dropped segment of their connection.
    const after = (s: TsharkStream) => s.reqTs! > (firstDrop.get(s.clientPort) ?? Infinity)
    const truthAfter = truth.filter(after)
    const hit = hitStreams(list, dropped)
    const intact = truthAfter.filter((s) => !hit.has(`${s.clientPort}/${s.streamId}`))
    const truthKeys = new Set(truth.map(streamKey))
    const ourKeys = ours.entries.map(entryKey)
    // tshark's complete calls on the lossy file, those it decodes right (its HPACK may not be:
    // it does not know about the holes), after the first hole of their connection.
    const afterKeys = new Set(truthAfter.map(streamKey))
    const theirsAfter = theirs
      .filter((s) => complete(s) && afterKeys.has(streamKey(s)))
      .map(streamKey)
    const theirsWrong = theirs.filter((s) => complete(s) && !truthKeys.has(streamKey(s)))
    // (a) Every call tshark decodes completely after a gap is one of ours: method, path, status.
    expect(matched(theirsAfter, ourKeys)).toBe(theirsAfter.length)
    // (b) No header value of ours that the sender did not send (tshark on the unmodified capture),
    // nor one tshark decodes differently on the same lossy file.
    let fields = 0
    let disagreements = 0
    let grpcCalls = 0
    for (const e of ours.entries) {
      if (e.url === '') {
        // Its :path was an HPACK reference lost with a hole: kept, flagged, never guessed.
        expect(e.errorType, JSON.stringify(e)).toBe('dissection')
        continue
      }
      // The call: by its unique x-request-id when we have it, else any call with its path.
      const id = requestId(e.reqHeaders ?? [])
      const same = (s: TsharkStream) =>
        s.clientPort === e.src!.port &&
        s.path === e.url &&
        (id === undefined || requestId(s.reqHeaders) === id)
      const sender = truth.filter(same)
      expect(
        sender.some(
          (s) => agrees(e, s) && entryKey(e).startsWith(callKey(s.clientPort, s.method, s.path, ''))
        ),
        JSON.stringify(e)
      ).toBe(true)
      // gRPC: a grpc_status we report is the one the server sent (left out when unknown).
      const grpcStatus = e.attrs?.find((a) => a.name === 'grpc_status')?.num
      if (e.proto === 'grpc' && grpcStatus !== undefined && grpcStatus !== null) {
        grpcCalls++
        const sentStatus = sender.map((s) => s.trailers.find(([k]) => k === 'grpc-status')?.[1])
        expect(sentStatus, e.url ?? '').toContain(String(grpcStatus))
      }
      // tshark on the lossy file: where it decoded a field we have, the same value.
      for (const s of id === undefined ? [] : theirs.filter(same)) {
        if (e.status && s.status !== '' && String(e.status) !== s.status) disagreements++
        for (const h of e.reqHeaders ?? []) {
          const v = s.reqHeaders.find(([k]) => k === h.name)?.[1]
          if (v !== undefined && v !== h.value) disagreements++
        }
      }
      fields += (e.reqHeaders?.length ?? 0) + (e.respHeaders?.length ?? 0)
    }
    expect(disagreements).toBe(0)
    expect(grpcCalls).toBeGreaterThan(0)
    // (c) Gaps are counted, per hole and on the calls they hit.
    expect(ours.stats.flows.tcpGaps).toBe(dropped.size)
    const flagged = ours.entries.filter((e) => (e.gaps ?? 0) > 0)
    expect(flagged.length).toBeGreaterThan(0)
    expect(
      ours.entries.some((e) =>
        /capture gap: .*\[connection: \d+ gaps, \d+ resyncs/.test(e.errorMessage ?? '')
      )
    ).toBe(true)
    expect(ours.stats.engine.dissectorErrors).toBe(0)
    // The engine's counters (the agent's http2_* metrics) saw the same gaps and recovery: every
    // connection is HTTP/2, so every TCP gap is an HTTP/2 gap.
    const counters = ours.stats.engine.counters
    expect(counters['http2_gaps']).toBe(dropped.size)
    expect(counters['http2_resyncs']).toBeGreaterThan(0)
    expect(counters['http2_hpack_desyncs']).toBeGreaterThan(0)
    expect(counters['http2_hpack_unknown_fields']).toBeGreaterThan(0)
    // (d) How many of the calls after a hole come back with method, path and status; how many
    // more come back flagged with the status unknown (an HPACK reference lost with a hole).
    const pathKeys = ours.entries.map((e) => `${e.src!.port} ${e.url}`)
    const pathOf = (s: TsharkStream) => `${s.clientPort} ${s.path}`
    return {
      dropped: dropped.size,
      callsAfterHoles: truthAfter.length,
      notHitByHoles: intact.length,
      tshark: matched(theirsAfter, truthAfter.map(streamKey)),
      ours: matched(truthAfter.map(streamKey), ourKeys),
      oursNotHit: matched(intact.map(streamKey), ourKeys),
      oursNotHitWithPath: matched(intact.map(pathOf), pathKeys),
      tsharkWrong: theirsWrong.length,
      entries: ours.entries.length,
      fieldsChecked: fields,
      unknownFieldCalls: ours.entries.filter((e) =>
        /header fields? unknown/.test(e.errorMessage ?? '')
      ).length,
    }
  }

  it('whole segments dropped: recovers what tshark recovers and more, no wrong value', async () => {
    const m = check(pkts, await lossy(pkts, [0.25, 0.5, 0.75]))
    console.log('whole segments dropped', m)
    expect(m.dropped).toBeGreaterThanOrEqual(16)
    expect(m.ours).toBeGreaterThan(m.tshark)
    // Calls no hole touched: nearly all come back whole; every one comes back with its path.
    expect(m.oursNotHit / m.notHitByHoles).toBeGreaterThan(0.8)
    expect(m.oursNotHitWithPath).toBe(m.notHitByHoles)
  })

  it('segments of 100 octets, dropped mid-frame: frames are found again', async () => {
    const small = pkts.flatMap((p) => (p.payloadLength > 0 ? resegment(p, 100) : [p]))
    const m = check(small, await lossy(small, [0.3, 0.6, 0.9]))
    console.log('100-octet segments dropped', m)
    expect(m.ours).toBeGreaterThan(m.tshark)
    expect(m.oursNotHit / m.notHitByHoles).toBeGreaterThan(0.8)
    expect(m.oursNotHitWithPath).toBe(m.notHitByHoles)
  })
})
