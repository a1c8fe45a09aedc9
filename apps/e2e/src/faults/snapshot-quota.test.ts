import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http1Load, recordLoopback, scrapeMetrics, sleep, startEchoServer, tempDir, tsharkFields, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { startHub, startLoAgent, startNatsServer, stopStack } from '../stack.js'
import type { HubHandle } from '../stack.js'

/** Bytes of every file under `dir`, recursively (what the hub's quota counts). */
function duBytes(dir: string): number {
  let n = 0
  for (const f of readdirSync(dir)) {
    const s = statSync(join(dir, f))
    n += s.isDirectory() ? duBytes(join(dir, f)) : s.size
  }
  return n
}

interface Window {
  start: number
  end: number
}

// The hub's snapshot storage filled to its --snapshot-quota with real captures: a create beyond it
// is refused (507, the quota figures, nothing written), stored snapshots stay exactly as they were,
// deleting one makes room again, and a snapshot that would cross the quota while its slices are
// transferred fails with reason quota, every byte it received removed and counted.
describe('snapshot storage quota filled', () => {
  const dir = tempDir('tapwire-e2e-snapshot-quota-')
  const hubData = join(dir.path, 'hub')
  const snapDir = join(hubData, 'snapshots')
  const reference = join(dir.path, 'reference.pcap')
  let nats: NatsServerHandle
  let hub: HubHandle | undefined
  let agent: TestProcess
  let server: Awaited<ReturnType<typeof startEchoServer>>
  /** Two small bursts and a big one, with a second of silence between them. */
  const windows: Window[] = []
  /** tcpdump's packets per window: count and the bytes a classic pcap of them takes. */
  const oracle: { packets: number; bytes: number }[] = []

  const req = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(hub!.url + path, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    })
    return { status: res.status, body: await res.json() }
  }
  const create = (name: string, w: Window): Promise<{ status: number; body: any }> => req('POST', '/mcp/snapshots', { name, start: w.start, end: w.end })
  /** The snapshot once collection ended and its manifest on disk says so too (written last). */
  const settled = (name: string): Promise<any> =>
    until(`snapshot ${name} settled`, async () => {
      const r = await req('GET', `/mcp/snapshots/${name}`)
      const disk = (manifest(name) as { status: string }).status
      return r.body.status !== 'in_progress' && disk === r.body.status ? r.body : undefined
    }, 60_000, 100)
  const exportSha = async (name: string): Promise<string> => {
    const res = await fetch(`${hub!.url}/mcp/snapshots/${name}/pcap`)
    expect(res.status).toBe(200)
    return createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')
  }
  const manifest = (name: string): unknown => JSON.parse(readFileSync(join(snapDir, name, 'manifest.json'), 'utf8'))
  /** The hub knows the agent (a heartbeat came) and its ring holds the last window. */
  const ringCovers = (): Promise<unknown> =>
    until('the ring covers the traffic', async () => {
      const b = await req('GET', '/mcp/data-boundaries')
      return b.body.nodes?.[0]?.newest_ts >= windows[2]!.end - 1000
    }, 30_000, 250)
  const hubMetrics = async (): Promise<Record<string, number>> => scrapeMetrics(`${hub!.url}/metrics`, 'tapwire_hub_')

  beforeAll(async () => {
    nats = await startNatsServer()
    server = await startEchoServer('q'.repeat(4000))
    ;({ process: agent } = await startLoAgent({ nats, bpf: `tcp port ${server.port}`, node: 'quota-node', dataDir: join(dir.path, 'agent') }))
    // The traffic, recorded by tcpdump (whole packets) as the reference for what each window holds.
    await recordLoopback(reference, `tcp port ${server.port}`, async () => {
      // A second of silence between bursts: the agent stamps packets when its callback runs, which
      // on a loaded machine may be a few hundred ms after the kernel did; no packet can change window.
      for (const [i, seconds] of [1, 1, 3].entries()) {
        const start = Date.now()
        const made = await http1Load({ port: server.port, rate: 300, seconds, connections: 2, prefix: `/quota/${i}/` })
        expect(made.completed).toBe(made.sent)
        await sleep(500)
        windows.push({ start: start - 500, end: Date.now() })
        await sleep(500)
      }
    })
    const frames = (await tsharkFields(reference, 'frame', ['frame.time_epoch', 'frame.cap_len'])).map(([t, len]) => ({ ms: Number(t) * 1000, len: Number(len) }))
    for (const w of windows) {
      const inside = frames.filter((f) => f.ms >= w.start && f.ms <= w.end)
      oracle.push({ packets: inside.length, bytes: 24 + inside.reduce((t, f) => t + 16 + f.len, 0) })
    }
    expect(oracle.reduce((t, o) => t + o.packets, 0)).toBe(frames.length)
    hub = await startHub(nats, ['--data-dir', hubData, '--snapshot-quota', '64MiB'])
    await ringCovers()
    await sleep(500)
  })

  afterAll(() => stopStack({ agent, hub, nats, servers: [server], dir }))

  it('refuses with 507 once the quota is used up, keeps what is stored, and makes room after a delete; a snapshot crossing it while transferring fails and leaves nothing', async () => {
    // Two snapshots within a generous quota: complete, and nothing lost against tcpdump.
    for (const [i, name] of ['q1', 'q2'].entries()) {
      expect((await create(name, windows[i]!)).status).toBe(201)
      const s = await settled(name)
      expect(s.status).toBe('completed')
      expect({ packets: s.packet_count, bytes: s.size_bytes }).toEqual(oracle[i])
    }
    const sha = { q1: await exportSha('q1'), q2: await exportSha('q2') }
    const manifests = { q1: manifest('q1'), q2: manifest('q2') }

    // The hub restarted with a quota of exactly what is stored: the quota is used up.
    await hub!.process.stop()
    const used = duBytes(snapDir)
    hub = await startHub(nats, ['--data-dir', hubData, '--snapshot-quota', String(used)])
    await ringCovers()
    const refused = await create('q3', windows[0]!)
    expect(refused.status).toBe(507)
    expect(refused.body).toMatchObject({ error: { code: 'INSUFFICIENT_STORAGE', details: { used_bytes: used, quota_bytes: used } } })
    expect(existsSync(join(snapDir, 'q3'))).toBe(false)
    expect((await req('GET', '/mcp/snapshots')).body.snapshots.map((s: any) => [s.name, s.status])).toEqual([
      ['q1', 'completed'],
      ['q2', 'completed'],
    ])
    expect({ q1: await exportSha('q1'), q2: await exportSha('q2') }).toEqual(sha)
    expect({ q1: manifest('q1'), q2: manifest('q2') }).toEqual(manifests)
    expect(duBytes(snapDir)).toBe(used)
    let m = await hubMetrics()
    expect(m).toMatchObject({ snapshot_used_bytes: used, snapshot_quota_bytes: used, snapshot_quota_refusals_total: 1, snapshot_quota_failures_total: 0 })

    // Deleting q1 makes room: the same window again is the same bytes.
    expect((await req('DELETE', '/mcp/snapshots/q1')).status).toBe(200)
    expect((await create('q3', windows[0]!)).status).toBe(201)
    expect((await settled('q3')).status).toBe('completed')
    expect(await exportSha('q3')).toBe(sha.q1)

    // Room for one small window, asked for the big one: it crosses the quota while transferring.
    expect((await req('DELETE', '/mcp/snapshots/q3')).status).toBe(200)
    const before = duBytes(snapDir)
    expect(oracle[2]!.bytes).toBeGreaterThan(used - before + 262_144)
    expect((await create('q4', windows[2]!)).status).toBe(201)
    const failed = await settled('q4')
    expect(failed).toMatchObject({ status: 'failed', size_bytes: 0, packet_count: 0 })
    expect(failed.reason).toMatch(/^quota: .* quota of \d+ bytes/)
    expect(failed.nodes).toEqual([expect.objectContaining({ name: 'quota-node', status: 'failed', size_bytes: 0, packet_count: 0 })])
    // Nothing it received is left: only its manifest (which says why) was added, and the hub's
    // accounting agrees with the disk once it has recounted.
    expect(readdirSync(join(snapDir, 'q4'))).toEqual(['manifest.json'])
    expect(duBytes(snapDir)).toBe(before + statSync(join(snapDir, 'q4', 'manifest.json')).size)
    m = await until('the hub recounted', async () => {
      const x = await hubMetrics()
      return x.snapshot_used_bytes === duBytes(snapDir) ? x : undefined
    }, 10_000, 100)
    expect(m.snapshot_quota_failures_total).toBe(1)
    expect(m.snapshot_quota_refusals_total).toBe(1)
    // What was lost is what the counter says: the 256 KiB chunks received up to the one that
    // crossed the room left (less q4's own in-progress manifest, hence the 4 KiB).
    const room = used - before
    expect(m.snapshot_quota_discarded_bytes_total).toBeGreaterThan(room - 4096)
    expect(m.snapshot_quota_discarded_bytes_total).toBeLessThanOrEqual(room + 262_144)
    expect(await exportSha('q2')).toBe(sha.q2)
    expect(manifest('q2')).toEqual(manifests.q2)

    // Once the failed snapshot (its manifest) is deleted, the window that fitted before fits again.
    expect((await req('DELETE', '/mcp/snapshots/q4')).status).toBe(200)
    expect((await create('q5', windows[0]!)).status).toBe(201)
    expect((await settled('q5')).status).toBe('completed')
    expect(await exportSha('q5')).toBe(sha.q1)
  })
})
