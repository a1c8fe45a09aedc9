import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import {
  chmod,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { ApiError, ErrorCode } from '../errors.js'
import type { NodeRegistry } from '../nodes/node-registry.js'
import { NodeOfflineError, fetchSlice } from './transfer.js'
import type { FetchSliceResult, SliceTransport } from './transfer.js'
import { checkName, formatDuration, resolveWindow } from './validate.js'
import type { Boundaries } from './validate.js'

export type SnapshotStatus = 'in_progress' | 'completed' | 'partial' | 'failed'
export type NodeStatus = 'pending' | 'in_progress' | 'completed' | 'failed'

export interface NodeManifest {
  name: string
  status: NodeStatus
  reason?: string
  /** File name inside the snapshot directory. */
  file: string
  size_bytes: number
  packet_count: number
  sha256?: string
  link_type?: string
  interface?: string
  /** The node's ring as its last heartbeat before the collection described it. */
  ring_oldest_ts?: number
  ring_newest_ts?: number
  chunks?: number
  chunk_retries?: number
  restarts?: number
}

export interface SnapshotManifest {
  version: 1
  name: string
  status: SnapshotStatus
  reason?: string
  created_at: string
  completed_at?: string
  duration: string
  start_ts: number
  end_ts: number
  /** The `nodes` asked for; null = every node with raw capture. */
  requested_nodes: string[] | null
  nodes: NodeManifest[]
  size_bytes: number
  packet_count: number
}

export interface CreateSnapshotInput {
  name: string
  duration?: string | undefined
  start?: number | undefined
  end?: number | undefined
  nodes?: string[] | undefined
}

export interface SnapshotManagerOptions {
  /** `<hub-data>/snapshots`. */
  dir: string
  /** Bytes all snapshots may use (`--snapshot-quota`). */
  quotaBytes: number
  registry: NodeRegistry
  /** Undefined until NATS is connected. */
  transport: () => SliceTransport | undefined
  log: (msg: string) => void
  /**
   * The workload table (IP → pod/service/node history) overlapping a window, stored with the
   * snapshot as resolution.json so its calls resolve as they did then, even after pods are gone.
   */
  resolutionTable?: (startMs: number, endMs: number) => unknown[]
  /** Extra wait after a forward window's end, so the agents' rings hold its last packets. */
  settleMs?: number
  /**
   * After a restart, how long a snapshot to collect again waits for its nodes' first heartbeats
   * (a node still silent then fails as offline); default the registry's offline threshold.
   */
  resumeGraceMs?: number
  now?: () => number
  chunkBytes?: number
  chunkTimeoutMs?: number
}

/** A collection would take the snapshot storage past `--snapshot-quota`. */
export class QuotaExceededError extends Error {
  constructor(quota: number) {
    super(`snapshot storage quota of ${quota} bytes exceeded`)
    this.name = 'QuotaExceededError'
  }
}

/** What the quota turned away, since the hub started (exported as hub metrics). */
export interface SnapshotQuotaStats {
  /** Creates answered 507: the quota was used up before the snapshot started. */
  refusals: number
  /** Snapshots failed while collecting because they would have crossed the quota. */
  failures: number
  /** Bytes those snapshots had received, all removed again. */
  discardedBytes: number
}

const MANIFEST = 'manifest.json'
/** The snapshot window's IP → workload table (see SnapshotManagerOptions.resolutionTable). */
export const RESOLUTION = 'resolution.json'
const nodeFile = (node: string): string => `${node}.pcap`

/** Atomic replace: a crash leaves the old manifest or the new one, never half of one. */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`)
  await rename(tmp, path)
}

async function duBytes(dir: string): Promise<number> {
  let total = 0
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  for (const n of names) {
    // Files being received are counted from the transfers' own progress (usedBytes), once.
    if (n.endsWith('.part')) continue
    const p = join(dir, n)
    try {
      const s = await stat(p)
      total += s.isDirectory() ? await duBytes(p) : s.size
    } catch {
      // Removed meanwhile.
    }
  }
  return total
}

interface Running {
  abort: AbortController
  done: Promise<void>
  /** Bytes received so far per node (not yet in the manifest). */
  inflight: Map<string, number>
  /** Set when one node's transfer would cross the quota: the whole snapshot fails. */
  quotaHit: boolean
  /** Bytes received by this snapshot's nodes that were removed again (quota). */
  discarded: number
}

/**
 * Snapshots: a time window of every node's PCAP ring copied to `<dir>/<name>/` (one classic pcap
 * per node plus `manifest.json`). Collection runs in the background; the manifest is the state and
 * is rewritten atomically on every transition, so a hub restart finds either a finished snapshot
 * or one marked `in_progress`, which `load` collects again from the nodes' rings (never a corrupt
 * `completed`: each slice is fetched whole again and checked by its SHA-256).
 * Completed snapshot files are made read-only: nothing in the hub writes them again.
 */
export class SnapshotManager {
  readonly dir: string
  readonly quotaBytes: number
  readonly #o: SnapshotManagerOptions
  readonly #snaps = new Map<string, SnapshotManifest>()
  readonly #running = new Map<string, Running>()
  /** Per snapshot, the last manifest write of its collection: writes run one after another. */
  readonly #writes = new Map<string, Promise<void>>()
  /** Snapshot names in use by something that reads them (a delayed dissection): delete refuses. */
  #inUse: (name: string) => string | undefined = () => undefined
  #usedBase = 0
  #onDeleted: (name: string) => void = () => undefined
  readonly #quota: SnapshotQuotaStats = { refusals: 0, failures: 0, discardedBytes: 0 }

  constructor(o: SnapshotManagerOptions) {
    this.#o = o
    this.dir = o.dir
    this.quotaBytes = o.quotaBytes
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now()
  }

  /** Lets the dissection manager veto deleting a snapshot it is reading. */
  setInUseCheck(fn: (name: string) => string | undefined): void {
    this.#inUse = fn
  }

  /** Lets the dissection manager forget the jobs of a deleted snapshot. */
  setOnDeleted(fn: (name: string) => void): void {
    this.#onDeleted = fn
  }

  /**
   * Reloads the manifests after a (re)start. A collection cut short by the restart is started
   * again: its window is fixed in the manifest, and the nodes' rings usually still hold it (where
   * one no longer does, that node fails with the reason, as on a first collection).
   */
  async load(): Promise<void> {
    const resume: SnapshotManifest[] = []
    await mkdir(this.dir, { recursive: true })
    for (const name of await readdir(this.dir)) {
      const sdir = join(this.dir, name)
      let m: SnapshotManifest
      try {
        m = JSON.parse(await readFile(join(sdir, MANIFEST), 'utf8')) as SnapshotManifest
      } catch {
        // No manifest: the hub died between mkdir and the first manifest write. Nothing to keep.
        if (/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) {
          this.#o.log(`snapshots: removing ${name}/ (no manifest)`)
          await rm(sdir, { recursive: true, force: true })
        }
        continue
      }
      if (m.status === 'in_progress') {
        // Nodes recorded as completed keep their file (checked against its size and SHA-256
        // before the collection goes on, #verified); every other node starts over, what it had
        // received before the restart removed first.
        for (const n of m.nodes) {
          await unlink(join(sdir, `${n.file}.part`)).catch(() => undefined)
          if (n.status === 'completed') continue
          this.#reset(n)
          await unlink(join(sdir, n.file)).catch(() => undefined)
        }
        this.#summarise(m)
        await writeJsonAtomic(join(sdir, MANIFEST), m)
        this.#o.log(`snapshots: ${name} was in progress at restart: collecting it again`)
        resume.push(m)
      }
      this.#snaps.set(m.name, m)
    }
    this.#usedBase = await duBytes(this.dir)
    for (const m of resume) this.#start(m, this.#o.resumeGraceMs ?? this.#o.registry.offlineAfterMs)
  }

  /** The raw-capture window of the cluster and of every online node with raw capture. */
  boundaries(): Boundaries {
    const nodes = this.#o.registry
      .all()
      .filter(
        (r) => r.status.rawCaptureEnabled === true && this.#o.registry.online(r.status.node ?? '')
      )
      .map((r) => ({
        name: r.status.node ?? '',
        oldest_ts: Math.floor(r.status.ringOldestTs ?? 0),
        newest_ts: Math.ceil(r.status.ringNewestTs ?? 0),
      }))
    const held = nodes.filter((n) => n.newest_ts > 0)
    return {
      cluster: {
        oldest_ts: held.length ? Math.min(...held.map((n) => n.oldest_ts)) : 0,
        newest_ts: held.length ? Math.max(...held.map((n) => n.newest_ts)) : 0,
      },
      nodes,
    }
  }

  rawCapture(): { enabled: boolean; session_id: string } {
    const nodes = this.#o.registry.all().filter((r) => this.#o.registry.online(r.status.node ?? ''))
    const enabled = nodes.some((r) => r.status.rawCaptureEnabled === true)
    // One id for the current set of agent sessions: it changes when any agent restarts.
    const session = nodes
      .filter((r) => r.status.rawCaptureEnabled === true)
      .map((r) => `${r.status.node ?? ''}:${r.status.sessionId ?? ''}`)
      .join(',')
    let h = 0x811c9dc5
    for (let i = 0; i < session.length; i++)
      h = Math.imul(h ^ session.charCodeAt(i), 0x01000193) >>> 0
    return { enabled, session_id: enabled ? h.toString(16).padStart(8, '0') : '' }
  }

  quotaStats(): SnapshotQuotaStats {
    return { ...this.#quota }
  }

  /** Bytes under the snapshots directory, plus what running transfers have received so far. */
  usedBytes(): number {
    let inflight = 0
    for (const r of this.#running.values()) for (const b of r.inflight.values()) inflight += b
    return this.#usedBase + inflight
  }

  async create(input: CreateSnapshotInput): Promise<SnapshotManifest> {
    const name = checkName('snapshot', input.name)
    if (this.#snaps.has(name)) {
      throw new ApiError(
        409,
        ErrorCode.ALREADY_EXISTS,
        `a snapshot named '${name}' exists already`,
        { name }
      )
    }
    const known = this.#o.registry.all().filter((r) => r.status.rawCaptureEnabled === true)
    if (known.length === 0) {
      throw new ApiError(
        409,
        ErrorCode.RAW_CAPTURE_DISABLED,
        'no node has raw capture enabled; snapshots need raw capture',
        {}
      )
    }
    let nodes: string[]
    if (input.nodes !== undefined && input.nodes.length > 0) {
      const names = new Set(this.#o.registry.all().map((r) => r.status.node ?? ''))
      const unknown = input.nodes.filter((n) => !names.has(n))
      if (unknown.length > 0) {
        throw new ApiError(
          400,
          ErrorCode.INVALID_PARAMETER,
          `unknown node(s): ${unknown.join(', ')}`,
          { param: 'nodes', unknown, known: [...names] }
        )
      }
      nodes = [...new Set(input.nodes)].sort()
    } else nodes = known.map((r) => r.status.node ?? '').sort()
    const now = this.#now()
    const win = resolveWindow(input, this.boundaries(), now)
    this.#usedBase = await duBytes(this.dir)
    const used = this.usedBytes()
    if (used >= this.quotaBytes) {
      this.#quota.refusals++
      throw new ApiError(
        507,
        ErrorCode.INSUFFICIENT_STORAGE,
        `snapshot storage quota exhausted (${used} of ${this.quotaBytes} bytes used); delete snapshots first`,
        {
          used_bytes: used,
          quota_bytes: this.quotaBytes,
        }
      )
    }
    const m: SnapshotManifest = {
      version: 1,
      name,
      status: 'in_progress',
      created_at: new Date(now).toISOString(),
      duration: input.duration ?? formatDuration(win.durationMs),
      start_ts: win.start,
      end_ts: win.end,
      requested_nodes: input.nodes !== undefined && input.nodes.length > 0 ? nodes : null,
      nodes: nodes.map((n) => ({
        name: n,
        status: 'pending',
        file: nodeFile(n),
        size_bytes: 0,
        packet_count: 0,
      })),
      size_bytes: 0,
      packet_count: 0,
    }
    const sdir = join(this.dir, name)
    await mkdir(sdir, { recursive: true })
    this.#snaps.set(name, m)
    await writeJsonAtomic(join(sdir, MANIFEST), m)
    this.#start(m, 0)
    return m
  }

  /**
   * Collects `m` in the background. `graceMs` > 0 (a collection resumed after a restart): first
   * wait up to that long for every node of the snapshot to be heard from again.
   */
  #start(m: SnapshotManifest, graceMs: number): void {
    const abort = new AbortController()
    const running: Running = {
      abort,
      inflight: new Map(),
      done: Promise.resolve(),
      quotaHit: false,
      discarded: 0,
    }
    running.done = (async () => {
      if (graceMs > 0) {
        for (const n of m.nodes)
          if (n.status === 'completed' && !(await this.#verified(m, n))) {
            this.#reset(n)
            await unlink(join(this.dir, m.name, n.file)).catch(() => undefined)
            this.#usedBase = await duBytes(this.dir)
          }
        await this.#nodesHeard(m, graceMs, abort.signal)
      }
      // Stopped or deleted while waiting: it stays in_progress (collected at the next start) or is gone.
      if (abort.signal.aborted) return
      await this.#collect(m, abort.signal, running)
    })().catch((e: Error) => this.#o.log(`snapshots: ${m.name}: ${e.stack ?? e.message}`))
    this.#running.set(m.name, running)
    void running.done.finally(() => this.#running.delete(m.name))
  }

  /** Back to a node not collected yet. */
  #reset(n: NodeManifest): void {
    n.status = 'pending'
    n.size_bytes = 0
    n.packet_count = 0
    delete n.reason
    delete n.sha256
  }

  /** A node file recorded as completed still has the size and SHA-256 the manifest says. */
  async #verified(m: SnapshotManifest, n: NodeManifest): Promise<boolean> {
    const path = join(this.dir, m.name, n.file)
    try {
      if ((await stat(path)).size !== n.size_bytes || n.sha256 === undefined) return false
      const hash = createHash('sha256')
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
      return hash.digest('hex') === n.sha256
    } catch {
      return false
    }
  }

  /**
   * Writes the manifest of a running collection, after any write of it still in flight: nodes
   * finishing together must not interleave their writes, nor an older state land last.
   */
  #persist(m: SnapshotManifest): Promise<void> {
    const path = join(this.dir, m.name, MANIFEST)
    const next = (this.#writes.get(m.name) ?? Promise.resolve()).then(() =>
      writeJsonAtomic(path, m)
    )
    this.#writes.set(
      m.name,
      next.catch(() => undefined)
    )
    return next
  }

  /** Resolves once every node of `m` is online, `ms` have passed, or the signal aborts. */
  async #nodesHeard(m: SnapshotManifest, ms: number, signal: AbortSignal): Promise<void> {
    const reg = this.#o.registry
    const deadline = Date.now() + ms
    while (!signal.aborted && Date.now() < deadline) {
      if (this.#o.transport() !== undefined && m.nodes.every((n) => reg.online(n.name))) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** The snapshot's stored workload table, if it has one. */
  async resolutionOf(name: string): Promise<unknown[] | undefined> {
    if (!this.#snaps.has(name)) return undefined
    try {
      return JSON.parse(await readFile(join(this.dir, name, RESOLUTION), 'utf8')) as unknown[]
    } catch {
      return undefined
    }
  }

  async #collect(m: SnapshotManifest, signal: AbortSignal, running: Running): Promise<void> {
    const sdir = join(this.dir, m.name)
    const wait = m.end_ts + (this.#o.settleMs ?? 2500) - this.#now()
    if (wait > 0) {
      // Forward capture: the window is not over yet; the rings need it written before slicing.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait)
        signal.addEventListener('abort', () => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    await Promise.all(
      m.nodes
        .filter((n) => n.status !== 'completed')
        .map((n) => this.#collectNode(m, n, sdir, signal, running))
    )
    if (signal.aborted) return
    const quotaReason = running.quotaHit ? await this.#failOnQuota(m, sdir, running) : undefined
    this.#summarise(m)
    const ok = m.nodes.filter((n) => n.status === 'completed').length
    m.status = ok === m.nodes.length ? 'completed' : ok > 0 ? 'partial' : 'failed'
    if (quotaReason !== undefined) m.reason = quotaReason
    else if (m.status !== 'completed')
      m.reason = m.nodes
        .filter((n) => n.reason && n.status === 'failed')
        .map((n) => `${n.name}: ${n.reason}`)
        .join('; ')
    m.completed_at = new Date(this.#now()).toISOString()
    if (m.status !== 'failed' && this.#o.resolutionTable) {
      await writeJsonAtomic(join(sdir, RESOLUTION), this.#o.resolutionTable(m.start_ts, m.end_ts))
    }
    await this.#persist(m)
    this.#writes.delete(m.name)
    for (const n of m.nodes)
      if (n.status === 'completed') await chmod(join(sdir, n.file), 0o444).catch(() => undefined)
    this.#usedBase = await duBytes(this.dir)
    this.#o.log(
      `snapshots: ${m.name} ${m.status}: ${m.packet_count} packets, ${m.size_bytes} bytes from ${ok}/${m.nodes.length} nodes`
    )
  }

  async #collectNode(
    m: SnapshotManifest,
    n: NodeManifest,
    sdir: string,
    signal: AbortSignal,
    running: Running
  ): Promise<void> {
    const reg = this.#o.registry
    const rec = reg.get(n.name)
    const fail = (reason: string): void => {
      n.status = 'failed'
      n.reason = reason
      n.size_bytes = 0
      n.packet_count = 0
    }
    if (rec === undefined || !reg.online(n.name)) return fail('node offline (no recent heartbeat)')
    const st = rec.status
    n.link_type = st.linkType ?? ''
    n.interface = st.interface ?? ''
    n.ring_oldest_ts = st.ringOldestTs ?? 0
    n.ring_newest_ts = st.ringNewestTs ?? 0
    if (st.rawCaptureEnabled !== true) return fail('raw capture is disabled on this node')
    if ((st.ringNewestTs ?? 0) === 0 || m.end_ts < (st.ringOldestTs ?? 0)) {
      return fail(
        `window outside its ring (the ring holds ${Math.floor(st.ringOldestTs ?? 0)}..${Math.ceil(st.ringNewestTs ?? 0)})`
      )
    }
    const transport = this.#o.transport()
    if (transport === undefined) return fail('the hub has no NATS connection')
    n.status = 'in_progress'
    const part = join(sdir, `${n.file}.part`)
    let r: FetchSliceResult
    try {
      r = await fetchSlice({
        node: n.name,
        startMs: m.start_ts,
        endMs: m.end_ts,
        path: part,
        transport,
        ...(this.#o.chunkBytes ? { chunkBytes: this.#o.chunkBytes } : {}),
        ...(this.#o.chunkTimeoutMs ? { timeoutMs: this.#o.chunkTimeoutMs } : {}),
        onProgress: (bytes) => {
          if (signal.aborted) throw new Error('snapshot deleted')
          // Another node of this snapshot crossed the quota: the snapshot is failing, stop too.
          if (running.quotaHit) throw new QuotaExceededError(this.quotaBytes)
          running.inflight.set(n.name, bytes)
          n.size_bytes = bytes
          // Every running collection counts, not only this one: they share the quota.
          if (this.usedBytes() > this.quotaBytes) {
            running.quotaHit = true
            throw new QuotaExceededError(this.quotaBytes)
          }
        },
      })
    } catch (e) {
      const received = running.inflight.get(n.name) ?? 0
      running.inflight.delete(n.name)
      await unlink(part).catch(() => undefined)
      if (e instanceof QuotaExceededError) {
        running.discarded += received
        return fail('quota')
      }
      if (e instanceof NodeOfflineError) return fail('node offline (no agent answers)')
      return fail((e as Error).message)
    }
    await rename(part, join(sdir, n.file))
    // From received (inflight) to stored (base) in one step, so the quota never misses the bytes.
    running.inflight.delete(n.name)
    this.#usedBase += r.bytes
    n.status = 'completed'
    n.size_bytes = r.bytes
    n.packet_count = r.packets
    n.sha256 = r.sha256
    n.chunks = r.chunks
    n.chunk_retries = r.chunkRetries
    n.restarts = r.restarts
    if ((st.ringOldestTs ?? 0) > m.start_ts) {
      n.reason = `the ring's oldest packet is newer than the window start: collected from ${Math.floor(st.ringOldestTs ?? 0)}`
    }
    // Recorded at once: a restart before the snapshot ends keeps this node (load, #verified).
    if (signal.aborted) return
    await this.#persist(m).catch((e: Error) =>
      this.#o.log(`snapshots: ${m.name}: manifest not written: ${e.message}`)
    )
  }

  /**
   * A node's transfer would have crossed the quota. A snapshot is one window of every node, and a
   * user who asked for it wants all of it or a clear no: keeping the nodes that happened to finish
   * first would look like a complete answer for some nodes and hold quota for a result nobody asked
   * for. So the snapshot fails with reason quota, every file it received is removed (and counted),
   * and its manifest stays to say why until it is deleted.
   */
  async #failOnQuota(m: SnapshotManifest, sdir: string, running: Running): Promise<string> {
    const quotaFailed: NodeManifest[] = []
    for (const n of m.nodes) {
      if (n.status === 'completed') {
        running.discarded += n.size_bytes
        await unlink(join(sdir, n.file)).catch(() => undefined)
        delete n.sha256
      } else if (n.reason !== 'quota') continue // failed for its own reason (offline...): kept
      n.status = 'failed'
      n.size_bytes = 0
      n.packet_count = 0
      quotaFailed.push(n)
    }
    const reason = `quota: collecting this snapshot would exceed the snapshot storage quota of ${this.quotaBytes} bytes; the ${running.discarded} bytes received were removed (delete snapshots or choose a shorter window)`
    for (const n of quotaFailed) n.reason = reason
    this.#quota.failures++
    this.#quota.discardedBytes += running.discarded
    this.#usedBase = await duBytes(this.dir)
    this.#o.log(
      `snapshots: ${m.name} failed: quota of ${this.quotaBytes} bytes would be exceeded; removed ${running.discarded} bytes received`
    )
    return reason
  }

  #summarise(m: SnapshotManifest): void {
    m.size_bytes = m.nodes.reduce((t, n) => t + n.size_bytes, 0)
    m.packet_count = m.nodes.reduce((t, n) => t + n.packet_count, 0)
  }

  list(): SnapshotManifest[] {
    return [...this.#snaps.values()].sort(
      (a, b) => a.created_at.localeCompare(b.created_at) || a.name.localeCompare(b.name)
    )
  }

  /** The manifest, live (in-progress sizes included); 404 when unknown. */
  get(name: string): SnapshotManifest {
    checkName('snapshot', name)
    const m = this.#snaps.get(name)
    if (m === undefined)
      throw new ApiError(404, ErrorCode.NOT_FOUND, `no snapshot named '${name}'`, { name })
    return m
  }

  snapshotDir(name: string): string {
    return join(this.dir, checkName('snapshot', name))
  }

  /** Waits for a running collection (tests, shutdown). */
  async settled(name: string): Promise<void> {
    await this.#running.get(name)?.done
  }

  /**
   * Deletes a snapshot: cancels its collection if running; refused (409) while a delayed dissection
   * reads it, since pulling the files from under a running job would fail it half-way.
   */
  async delete(name: string): Promise<void> {
    this.get(name)
    const user = this.#inUse(name)
    if (user !== undefined) {
      throw new ApiError(
        409,
        ErrorCode.CONFLICT,
        `snapshot '${name}' is in use by the running dissection '${user}'; stop it first`,
        {
          name,
          dissection: user,
        }
      )
    }
    const run = this.#running.get(name)
    if (run !== undefined) {
      run.abort.abort()
      await run.done
    }
    this.#snaps.delete(name)
    this.#onDeleted(name)
    await rm(join(this.dir, name), { recursive: true, force: true })
    this.#usedBase = await duBytes(this.dir)
  }

  /** Cancels running collections (hub shutdown): their manifests stay `in_progress`, collected again at load. */
  async stop(): Promise<void> {
    for (const r of this.#running.values()) r.abort.abort()
    await Promise.all([...this.#running.values()].map((r) => r.done))
  }
}

export function snapshotSummary(m: SnapshotManifest): Record<string, unknown> {
  return {
    name: m.name,
    status: m.status,
    size_bytes: m.size_bytes,
    created_at: m.created_at,
    duration: m.duration,
  }
}

export function snapshotDetails(m: SnapshotManifest): Record<string, unknown> {
  return {
    ...snapshotSummary(m),
    start_ts: m.start_ts,
    end_ts: m.end_ts,
    node_count: m.nodes.length,
    packet_count: m.packet_count,
    ...(m.reason ? { reason: m.reason } : {}),
    ...(m.completed_at ? { completed_at: m.completed_at } : {}),
    nodes: m.nodes.map((n) => ({
      name: n.name,
      status: n.status,
      size_bytes: n.size_bytes,
      packet_count: n.packet_count,
      ...(n.link_type ? { link_type: n.link_type } : {}),
      ...(n.reason ? { reason: n.reason } : {}),
    })),
  }
}
