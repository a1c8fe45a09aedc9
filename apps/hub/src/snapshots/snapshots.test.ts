import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCapture } from '@tapwire/pcap'
import { tempDir } from '@tapwire/testing'
import type { AgentStatus, PcapChunk } from '@tapwire/wire'
import { ApiError } from '../errors.js'
import { NodeRegistry } from '../nodes/node-registry.js'
import { connectionKey, exportLength, planExport, runExport } from './export.js'
import { SnapshotManager } from './snapshot-manager.js'
import type { SnapshotManifest } from './snapshot-manager.js'
import { tcpPacket, writeNodePcap } from './test-packets.js'
import type { SynthPacket } from './test-packets.js'
import { NodeOfflineError } from './transfer.js'
import type { SliceTransport } from './transfer.js'
import { checkDuration, checkName, formatDuration, resolveWindow } from './validate.js'

/** Files under `dir` this process (any thread) holds open. */
const openFiles = (dir: string): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`)
      } catch {
        return ''
      }
    })
    .filter((p) => p.startsWith(dir))

const apiError = (fn: () => unknown): ApiError => {
  try {
    fn()
  } catch (e) {
    if (e instanceof ApiError) return e
    throw e
  }
  throw new Error('no error')
}

describe('names, durations, windows', () => {
  it('accepts safe names only', () => {
    for (const ok of ['a', 'incident-001', 'x.y_z', '0'.repeat(63)])
      expect(checkName('snapshot', ok)).toBe(ok)
    for (const bad of [
      '',
      '../etc',
      'a/b',
      'A',
      '-a',
      '.hidden',
      'a..b',
      'a'.repeat(64),
      'a b',
      'é',
      5,
    ]) {
      expect(apiError(() => checkName('snapshot', bad)).status).toBe(400)
    }
  })

  it('parses Go-style durations and rejects the rest', () => {
    expect(checkDuration('30m')).toBe(1_800_000)
    expect(checkDuration('2h30m')).toBe(9_000_000)
    expect(checkDuration('1h')).toBe(3_600_000)
    for (const bad of ['', '1', 'abc', '0s', '-5m', '1d', '200h', 3])
      expect(apiError(() => checkDuration(bad)).status).toBe(400)
    expect(formatDuration(9_000_000)).toBe('2h30m')
    expect(formatDuration(90_000)).toBe('1m30s')
  })

  it('resolves windows and answers 400 with the boundaries outside them', () => {
    const b = { cluster: { oldest_ts: 1000, newest_ts: 100_000 }, nodes: [] }
    expect(resolveWindow({ duration: '10s' }, b, 100_000)).toEqual({
      start: 90_000,
      end: 100_000,
      durationMs: 10_000,
    })
    expect(resolveWindow({ start: 5000, end: 6000 }, b, 100_000)).toEqual({
      start: 5000,
      end: 6000,
      durationMs: 1000,
    })
    // A future end captures forward.
    expect(resolveWindow({ duration: '10s', end: 105_000 }, b, 100_000).end).toBe(105_000)
    const outside = apiError(() =>
      resolveWindow({ start: 200_000 - 50_000, end: 150_000 + 1 }, b, 300_000)
    )
    expect(outside.status).toBe(400)
    expect(outside.code).toBe('INVALID_TIME_RANGE')
    expect(outside.details?.['boundaries']).toEqual(b)
    expect(apiError(() => resolveWindow({ start: 10, end: 500 }, b, 100_000)).status).toBe(400)
    expect(apiError(() => resolveWindow({ start: 9000, end: 8000 }, b, 100_000)).status).toBe(400)
    expect(apiError(() => resolveWindow({}, b, 100_000)).code).toBe('MISSING_PARAMETER')
    expect(
      apiError(() => resolveWindow({ duration: '1m', end: 100_000 + 2 * 3_600_000 }, b, 100_000))
        .status
    ).toBe(400)
  })
})

const status = (node: string, oldest: number, newest: number, raw = true): AgentStatus => ({
  node,
  rawCaptureEnabled: raw,
  ringOldestTs: oldest,
  ringNewestTs: newest,
  linkType: 'ETHERNET',
  interface: 'eth0',
  sessionId: 's',
})

/** An agent per node answering chunk requests from a fixed byte string. */
function agents(slices: Record<string, Buffer>, offline: string[] = []): SliceTransport {
  return async (node, req) => {
    if (offline.includes(node)) throw new NodeOfflineError(node)
    const s = slices[node]!
    const off = Number(req.resumeOffset ?? 0)
    const data = s.subarray(off, off + (req.chunkSize ?? 262144))
    const last = off + data.length >= s.length
    const { createHash } = await import('node:crypto')
    const c: PcapChunk = {
      transferId: req.transferId ?? '',
      offset: off,
      data: new Uint8Array(data),
      last,
    }
    if (last)
      Object.assign(c, {
        totalSize: s.length,
        sha256: createHash('sha256').update(s).digest('hex'),
        packetCount: 3,
      })
    return c
  }
}

describe('SnapshotManager', () => {
  const dir = tempDir('tapwire-snapmgr-')
  afterAll(() => dir.dispose())
  const now = 1_000_000
  const registry = new NodeRegistry(1e14)
  registry.update(status('a', 1000, 999_000), 0)
  registry.update(status('b', 500_000, 999_000), 0)
  registry.update(status('c', 1000, 999_000), 0)
  const slices = { a: Buffer.alloc(600_000, 1), b: Buffer.alloc(10, 2), c: Buffer.alloc(5, 3) }
  let offline: string[] = []
  const make = (quota = 1e9, resumeGraceMs?: number): SnapshotManager =>
    new SnapshotManager({
      ...(resumeGraceMs !== undefined ? { resumeGraceMs } : {}),
      dir: join(dir.path, 'snaps'),
      quotaBytes: quota,
      registry,
      transport: () => agents(slices, offline),
      log: () => undefined,
      now: () => now,
      settleMs: 0,
    })

  it('collects every node into <name>/, completes, lists and details as the spec shows', async () => {
    const m = make()
    await m.load()
    const created = await m.create({ name: 's1', duration: '1m' })
    expect(created.status).toBe('in_progress')
    await m.settled('s1')
    const s = m.get('s1')
    expect(s.status).toBe('completed')
    expect(s.nodes.map((n) => [n.name, n.status, n.size_bytes, n.packet_count])).toEqual([
      ['a', 'completed', 600_000, 3],
      ['b', 'completed', 10, 3],
      ['c', 'completed', 5, 3],
    ])
    expect(s.size_bytes).toBe(600_015)
    expect(s.packet_count).toBe(9)
    expect(s.start_ts).toBe(now - 60_000)
    expect(readFileSync(join(dir.path, 'snaps', 's1', 'a.pcap')).length).toBe(600_000)
    const onDisk = JSON.parse(
      readFileSync(join(dir.path, 'snaps', 's1', 'manifest.json'), 'utf8')
    ) as SnapshotManifest
    expect(onDisk.status).toBe('completed')
    await expect(m.create({ name: 's1', duration: '1m' })).rejects.toMatchObject({
      status: 409,
      code: 'ALREADY_EXISTS',
    })
    expect(() => m.get('nope')).toThrow(/no snapshot/)
    await expect(m.create({ name: '../x', duration: '1m' })).rejects.toMatchObject({ status: 400 })
    await expect(m.create({ name: 'x', duration: 'soon' })).rejects.toMatchObject({ status: 400 })
  })

  it('is partial with per-node reasons: offline node, window outside its ring', async () => {
    const m = make()
    await m.load()
    offline = ['c']
    await m.create({ name: 's2', start: 100_000, end: 200_000 })
    await m.settled('s2')
    offline = []
    const s = m.get('s2')
    expect(s.status).toBe('partial')
    const by = Object.fromEntries(s.nodes.map((n) => [n.name, n]))
    expect(by['a']!.status).toBe('completed')
    expect(by['b']!.reason).toMatch(/window outside its ring/)
    expect(by['c']!.reason).toMatch(/offline/)
    expect(s.reason).toMatch(/b: window outside its ring.*c: node offline/)
  })

  it('answers 507 when the quota is used up, leaving nothing behind', async () => {
    const small = make(600_100)
    await small.load()
    const before = readdirSync(join(dir.path, 'snaps')).sort()
    await expect(small.create({ name: 's3', duration: '1m' })).rejects.toMatchObject({
      status: 507,
      code: 'INSUFFICIENT_STORAGE',
      details: { used_bytes: small.usedBytes(), quota_bytes: 600_100 },
    })
    expect(readdirSync(join(dir.path, 'snaps')).sort()).toEqual(before)
    expect(small.quotaStats()).toEqual({ refusals: 1, failures: 0, discardedBytes: 0 })
    await small.delete('s2')
    await small.delete('s1')
    await small.create({ name: 's3', duration: '1m', nodes: ['a', 'b'] })
    await small.settled('s3')
    expect(small.get('s3').status).toBe('completed')
    // 600,010 bytes of packets plus the manifest: the quota is used up.
    expect(small.usedBytes()).toBeGreaterThanOrEqual(600_100)
    await expect(small.create({ name: 's4', duration: '1m', nodes: ['a'] })).rejects.toMatchObject({
      status: 507,
    })
    await small.delete('s3')
  })

  it('fails a snapshot that would cross the quota while collecting: every node, files removed, counted', async () => {
    // Room for b and c (15 bytes) but not for a's 600,000: a crosses at its third 256 KiB chunk.
    const m = make(400_000)
    await m.load()
    const created = await m.create({ name: 'big', duration: '1m' })
    expect(created.status).toBe('in_progress')
    await m.settled('big')
    const s = m.get('big')
    expect(s.status).toBe('failed')
    expect(s.reason).toMatch(/^quota: .*400000 bytes/)
    expect(s.nodes.map((n) => [n.name, n.status, n.size_bytes, n.packet_count])).toEqual([
      ['a', 'failed', 0, 0],
      ['b', 'failed', 0, 0],
      ['c', 'failed', 0, 0],
    ])
    // Only the manifest is left; what was received is counted: a's two chunks that fitted plus
    // the third that crossed, and b's and c's files if they finished first.
    expect(readdirSync(join(dir.path, 'snaps', 'big'))).toEqual(['manifest.json'])
    const q = m.quotaStats()
    expect(q.failures).toBe(1)
    expect(q.discardedBytes).toBeGreaterThan(400_000 - 15)
    expect(q.discardedBytes).toBeLessThanOrEqual(3 * 262_144 + 15)
    // Nothing is still counted as in flight: a snapshot that fits succeeds.
    await m.create({ name: 'fits', duration: '1m', nodes: ['b', 'c'] })
    await m.settled('fits')
    expect(m.get('fits').status).toBe('completed')
    await m.delete('fits')
    await m.delete('big')
  })

  it('reloads after a restart: an in_progress snapshot is collected again from the rings', async () => {
    const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex')
    const kept = Buffer.alloc(7, 9)
    const sdir = join(dir.path, 'snaps', 'cut')
    mkdirSync(sdir, { recursive: true })
    const cut: SnapshotManifest = {
      version: 1,
      name: 'cut',
      status: 'in_progress',
      created_at: new Date(0).toISOString(),
      duration: '1s',
      start_ts: 600_000,
      end_ts: 601_000,
      requested_nodes: null,
      nodes: [
        { name: 'a', status: 'in_progress', file: 'a.pcap', size_bytes: 99, packet_count: 0 },
        // Recorded as completed, but its file no longer has the recorded SHA-256: fetched again.
        {
          name: 'b',
          status: 'completed',
          file: 'b.pcap',
          size_bytes: 5,
          packet_count: 1,
          sha256: sha256('STALE'),
        },
        // Recorded as completed and intact: kept as it is, not fetched again.
        {
          name: 'c',
          status: 'completed',
          file: 'c.pcap',
          size_bytes: 7,
          packet_count: 2,
          sha256: sha256(kept),
        },
        // Never heard from again: it fails as offline once the grace period is over.
        { name: 'gone', status: 'pending', file: 'gone.pcap', size_bytes: 0, packet_count: 0 },
      ],
      size_bytes: 99,
      packet_count: 0,
    }
    writeFileSync(join(sdir, 'manifest.json'), JSON.stringify(cut))
    writeFileSync(join(sdir, 'a.pcap.part'), 'half')
    writeFileSync(join(sdir, 'b.pcap'), 'stale')
    writeFileSync(join(sdir, 'c.pcap'), kept)
    mkdirSync(join(dir.path, 'snaps', 'orphan'))
    const m = make(1e9, 300)
    await m.load()
    expect(m.get('cut').status).toBe('in_progress')
    expect(m.get('cut').nodes.map((n) => n.status)).toEqual([
      'pending',
      'completed',
      'completed',
      'pending',
    ])
    await m.settled('cut')
    const s = m.get('cut')
    expect(s.status).toBe('partial')
    expect(s.nodes.map((n) => [n.name, n.status, n.size_bytes])).toEqual([
      ['a', 'completed', 600_000],
      ['b', 'completed', 10],
      ['c', 'completed', 7],
      ['gone', 'failed', 0],
    ])
    expect(s.nodes[3]!.reason).toMatch(/offline/)
    expect(readFileSync(join(sdir, 'a.pcap')).equals(slices.a)).toBe(true)
    expect(readFileSync(join(sdir, 'b.pcap')).equals(slices.b)).toBe(true)
    expect(s.nodes[1]!.sha256).toBe(sha256(slices.b))
    expect(readFileSync(join(sdir, 'c.pcap')).equals(kept)).toBe(true)
    expect(s.size_bytes).toBe(600_000 + 10 + 7)
    expect(readdirSync(sdir).filter((f) => f.endsWith('.part'))).toEqual([])
    const onDisk = JSON.parse(readFileSync(join(sdir, 'manifest.json'), 'utf8')) as SnapshotManifest
    expect(onDisk.status).toBe('partial')
    expect(m.list().map((s) => s.name)).not.toContain('orphan')
    // In use by a dissection: deletion refused.
    m.setInUseCheck((n) => (n === 'cut' ? 'job1' : undefined))
    await expect(m.delete('cut')).rejects.toMatchObject({ status: 409, code: 'CONFLICT' })
  })

  it('reports raw capture and data boundaries from heartbeats', () => {
    const m = make()
    expect(m.rawCapture()).toEqual({
      enabled: true,
      session_id: expect.stringMatching(/^[0-9a-f]{8}$/),
    })
    expect(m.boundaries()).toEqual({
      cluster: { oldest_ts: 1000, newest_ts: 999_000 },
      nodes: [
        { name: 'a', oldest_ts: 1000, newest_ts: 999_000 },
        { name: 'b', oldest_ts: 500_000, newest_ts: 999_000 },
        { name: 'c', oldest_ts: 1000, newest_ts: 999_000 },
      ],
    })
  })
})

describe('merged export filters', () => {
  const dir = tempDir('tapwire-export-')
  afterAll(() => dir.dispose())
  const T = 1_700_000_000
  const files: Record<string, SynthPacket[]> = { n0: [], n1: [] }
  let manifest: SnapshotManifest

  beforeAll(async () => {
    // Two nodes, three connections, interleaved times with cross-node ties.
    for (let i = 0; i < 300; i++) {
      const conn = i % 3
      const pkt =
        conn === 0
          ? tcpPacket('10.0.0.1', 40000, '10.0.0.2', 8080, 10)
          : conn === 1
            ? tcpPacket('10.0.0.2', 8080, '10.0.0.1', 40000, 20)
            : tcpPacket('10.0.0.3', 5000, '10.0.0.4', 9090, 30)
      files[i % 2 === 0 ? 'n0' : 'n1']!.push({
        tsSec: T + Math.floor(i / 100),
        tsNsec: (i % 100) * 1000 - (i % 2) * 1000,
        data: pkt,
      })
    }
    for (const [n, p] of Object.entries(files)) await writeNodePcap(join(dir.path, `${n}.pcap`), p)
    manifest = {
      version: 1,
      name: 'e',
      status: 'completed',
      created_at: '',
      duration: '1m',
      start_ts: 0,
      end_ts: 0,
      requested_nodes: null,
      size_bytes: 0,
      packet_count: 300,
      nodes: ['n0', 'n1'].map((n) => ({
        name: n,
        status: 'completed',
        file: `${n}.pcap`,
        size_bytes: 0,
        packet_count: 150,
        interface: 'eth0',
      })),
    }
  })

  const exportTo = async (name: string, o: Parameters<typeof planExport>[2]): Promise<Buffer> => {
    const plan = await planExport(manifest, dir.path, o)
    const run = runExport(plan, () => undefined)
    const chunks: Uint8Array[] = []
    for await (const c of run.stream()) chunks.push(c)
    const { bytes } = await run.done
    const b = Buffer.concat(chunks)
    expect(b.length).toBe(bytes)
    writeFileSync(join(dir.path, name), b)
    return b
  }

  it('merges like mergecap, and filters by time, BPF (tcpdump) and connection', async () => {
    const all = await exportTo('all.pcap', { format: 'pcap' })
    execFileSync('mergecap', [
      '-F',
      'nsecpcap',
      '-w',
      join(dir.path, 'mc.pcap'),
      join(dir.path, 'n0.pcap'),
      join(dir.path, 'n1.pcap'),
    ])
    expect(
      Buffer.compare(all.subarray(24), readFileSync(join(dir.path, 'mc.pcap')).subarray(24))
    ).toBe(0)

    const win = parseCapture(
      await exportTo('win.pcap', {
        format: 'pcap',
        startMs: (T + 1) * 1000,
        endMs: (T + 2) * 1000 - 0.5,
      })
    ).records
    expect(win.length).toBe(100)
    expect(win.every((r) => r.tsSec === T + 1)).toBe(true)

    const bpf = await exportTo('bpf.pcap', { format: 'pcap', bpf: 'tcp port 8080' })
    const oracle = execFileSync(
      'tcpdump',
      ['-r', join(dir.path, 'all.pcap'), '-w', '-', '--time-stamp-precision=nano', 'tcp port 8080'],
      { stdio: ['ignore', 'pipe', 'ignore'] }
    )
    expect(Buffer.compare(bpf.subarray(24), oracle.subarray(24))).toBe(0)
    expect(parseCapture(bpf).records.length).toBe(200)

    const conns = new Set([connectionKey('tcp', '10.0.0.2', 8080, '10.0.0.1', 40000)])
    const byConn = parseCapture(
      await exportTo('conn.pcap', { format: 'pcap', connections: conns })
    ).records
    expect(byConn.length).toBe(200)

    await expect(
      planExport(manifest, dir.path, { format: 'pcap', bpf: 'tcp port' })
    ).rejects.toMatchObject({ status: 400 })
    await expect(
      planExport(manifest, dir.path, { format: 'pcap', nodes: ['zz'] })
    ).rejects.toMatchObject({ status: 400 })

    const ng = parseCapture(await exportTo('all.pcapng', { format: 'pcapng' }))
    expect(ng.info.interfaces.map((i) => i.name)).toEqual(['n0', 'n1'])
    expect(ng.records.length).toBe(300)
  })

  it('writes the same bytes straight to a Node response, and stops when the client goes away', async () => {
    const expected = await exportTo('ref.pcap', { format: 'pcap' })
    const saved = manifest
    const runs: ReturnType<typeof runExport>[] = []
    const server = createServer((req, res) => {
      void planExport(manifest, dir.path, { format: 'pcap' }).then((plan) => {
        const run = runExport(plan, () => undefined)
        runs.push(run)
        void run.writeTo(res, { 'content-type': 'application/vnd.tcpdump.pcap' })
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    try {
      const res = await fetch(url)
      expect(res.headers.get('content-type')).toBe('application/vnd.tcpdump.pcap')
      // Whole files, no filter: the size is known up front (no chunked framing).
      expect(res.headers.get('content-length')).toBe(String(expected.length))
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), expected)).toBe(0)
      await expect(runs[0]!.done).resolves.toEqual({ packets: 300, bytes: expected.length })
      // A client that reads the headers of a 32 MB export and leaves: the export is abandoned
      // (more than the socket buffers can hold is still to come), not left waiting for 'drain'.
      const big = Array.from({ length: 24_000 }, (_, i) => ({
        tsSec: T + 10,
        tsNsec: i * 1000,
        data: tcpPacket('10.0.0.1', 40000, '10.0.0.2', 8080, 1346),
      }))
      await writeNodePcap(join(dir.path, 'n0.pcap.big'), big)
      manifest = { ...manifest, nodes: [{ ...manifest.nodes[0]!, file: 'n0.pcap.big' }] }
      const ctl = new AbortController()
      const gone = await fetch(url, { signal: ctl.signal })
      expect(gone.status).toBe(200)
      ctl.abort()
      await expect(runs[1]!.done).rejects.toThrow('download aborted')
      // The merge stopped and closed its files.
      expect(openFiles(dir.path)).toEqual([])
    } finally {
      manifest = saved
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('sends a window of a known-length export (HTTP ranges), to a Node response and as a stream', async () => {
    // Small pieces, so windows start and end inside pieces, span several and skip whole ones.
    const big = Array.from({ length: 3_000 }, (_, i) => ({
      tsSec: T + 20,
      tsNsec: i * 1000,
      data: tcpPacket('10.0.0.1', 40000, '10.0.0.2', 8080, 600 + (i % 700)),
    }))
    await writeNodePcap(join(dir.path, 'n1.pcap.big'), big)
    const m = {
      ...manifest,
      nodes: [manifest.nodes[0]!, { ...manifest.nodes[1]!, file: 'n1.pcap.big' }],
    }
    const plan = await planExport(m, dir.path, { format: 'pcap' })
    const collect = async (r: ReadableStream<Uint8Array>): Promise<Buffer> => {
      const chunks: Uint8Array[] = []
      for await (const c of r) chunks.push(c)
      return Buffer.concat(chunks)
    }
    const full = await collect(runExport(plan, () => undefined).stream())
    expect(full.length).toBe(exportLength(plan))
    const windows = [
      { start: 0, end: 24 }, // the file header alone
      { start: 1, end: full.length }, // all but the first byte (the merge runs to the end)
      { start: 700_000, end: 1_700_001 }, // inside the export: starts and ends mid-piece
      { start: full.length - 1, end: full.length },
    ]
    const done: Promise<unknown>[] = []
    const server = createServer((req, res) => {
      const w = JSON.parse(decodeURIComponent(req.url!.slice(1))) as { start: number; end: number }
      const run = runExport(plan, () => undefined, w)
      done.push(run.done)
      void run.writeTo(res, {}, 206)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      for (const w of windows) {
        const res = await fetch(
          `http://127.0.0.1:${(server.address() as AddressInfo).port}/${encodeURIComponent(JSON.stringify(w))}`
        )
        const body = Buffer.from(await res.arrayBuffer())
        expect(res.status).toBe(206)
        expect(res.headers.get('content-length')).toBe(String(w.end - w.start))
        expect(body.equals(full.subarray(w.start, w.end))).toBe(true)
        await expect(done.at(-1)).resolves.toMatchObject({ bytes: w.end - w.start })
        // The same window as a web stream (in-process callers).
        const run = runExport(plan, () => undefined, w)
        expect(run.sendLength).toBe(w.end - w.start)
        const streamed = await collect(run.stream())
        expect(streamed.equals(full.subarray(w.start, w.end))).toBe(true)
      }
      // A window ending early stops the merge and closes its files.
      expect(openFiles(dir.path)).toEqual([])
      expect(() => runExport(plan, () => undefined, { start: 5, end: full.length + 1 })).toThrow(
        RangeError
      )
      const filtered = await planExport(m, dir.path, { format: 'pcap', bpf: 'tcp' })
      expect(() => runExport(filtered, () => undefined, { start: 0, end: 24 })).toThrow(RangeError)
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('cuts the connection when a file no longer holds what was announced', async () => {
    // Planned with whole files, then one loses its last 5 bytes (a torn record): the body falls
    // short of Content-Length, so the response is cut rather than ended as if complete.
    const torn = join(dir.path, 'torn.pcap')
    writeFileSync(torn, readFileSync(join(dir.path, 'n0.pcap')))
    const m = { ...manifest, nodes: [{ ...manifest.nodes[0]!, file: 'torn.pcap' }] }
    const plan = await planExport(m, dir.path, { format: 'pcap' })
    writeFileSync(torn, readFileSync(join(dir.path, 'n0.pcap')).subarray(0, -5))
    const run = runExport(plan, () => undefined)
    const server = createServer((req, res) => void run.writeTo(res, {}))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      // (Here all of it fits in the first piece, so the cut comes even before the headers.)
      const body = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`).then((r) =>
        r.arrayBuffer()
      )
      await expect(body).rejects.toThrow()
      await expect(run.done).rejects.toThrow(/announced/)
      expect(openFiles(dir.path)).toEqual([])
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('sends filtered exports (size unknown up front) chunked, without a length', async () => {
    const conns = new Set([connectionKey('tcp', '10.0.0.2', 8080, '10.0.0.1', 40000)])
    const expected = await exportTo('conn-ref.pcap', { format: 'pcap', connections: conns })
    const plan = await planExport(manifest, dir.path, { format: 'pcap', connections: conns })
    const run = runExport(plan, () => undefined)
    const server = createServer((req, res) => void run.writeTo(res, {}))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      expect(res.headers.get('content-length')).toBeNull()
      expect(res.headers.get('transfer-encoding')).toBe('chunked')
      expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), expected)).toBe(0)
      await expect(run.done).resolves.toEqual({ packets: 200, bytes: expected.length })
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  it('refuses classic pcap for mixed link types (409, hint pcapng)', async () => {
    const raw = join(dir.path, 'raw.pcap')
    const w = (await import('@tapwire/pcap')).encodePcap(
      [{ tsSec: T, tsNsec: 0, data: new Uint8Array(20) }],
      { linkType: 101, resolution: 'ns' }
    )
    writeFileSync(raw, w)
    const mixed = {
      ...manifest,
      nodes: [
        ...manifest.nodes,
        {
          name: 'raw',
          status: 'completed' as const,
          file: 'raw.pcap',
          size_bytes: 0,
          packet_count: 1,
        },
      ],
    }
    await expect(planExport(mixed, dir.path, { format: 'pcap' })).rejects.toMatchObject({
      status: 409,
      code: 'LINK_TYPE_MISMATCH',
    })
    await expect(planExport(mixed, dir.path, { format: 'pcapng' })).resolves.toBeDefined()
  })
})
