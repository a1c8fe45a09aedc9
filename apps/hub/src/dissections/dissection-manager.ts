import { existsSync } from 'node:fs'
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { enrichEntry, historyResolver } from '../resolver/index.js'
import type { SerializedRecord } from '../resolver/index.js'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { decodeEntryBatch } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'
import type { SnapshotManager } from '../snapshots/snapshot-manager.js'
import { checkName } from '../snapshots/validate.js'
import { EntryStore } from '../store/entry-store.js'
import type { DissectionInput, DissectionProgress, DissectionStats } from './dissection-run.js'

export type DissectionStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'

export interface DissectionJob {
  snapshot: string
  name: string
  status: DissectionStatus
  progress: number
  stats: DissectionStats
  errors: string[]
  created_at: string
  completed_at?: string
  first_ts?: number
  last_ts?: number
}

interface Running {
  stop: () => void
  done: Promise<void>
}

const JOB = 'job.json'
const ENTRIES = 'entries.bin'
const emptyStats = (): DissectionStats => ({
  pcap_files: 0,
  pcap_bytes: 0,
  packets_processed: 0,
  entries_created: 0,
  protocol_counts: {},
})

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`)
  await rename(`${path}.tmp`, path)
}

/**
 * Delayed dissection: named databases `<snapshot>/<name>` built by running the agents' Analyzer
 * over a snapshot's pcaps in a worker thread, stored beside the snapshot
 * (`<snapshot>/dissections/<name>/entries.bin`, length-prefixed EntryBatch messages, and job.json),
 * and queried through /mcp/calls?db=. A job cut short by a hub restart is `failed` at load.
 */
export class DissectionManager {
  readonly #snaps: SnapshotManager
  readonly #log: (msg: string) => void
  readonly #jobs = new Map<string, DissectionJob>()
  readonly #running = new Map<string, Running>()
  /** Loaded databases (a few, most recent last). */
  readonly #dbs = new Map<string, EntryStore>()
  readonly #maxCachedDbs: number

  constructor(snaps: SnapshotManager, log: (msg: string) => void, maxCachedDbs = 4) {
    this.#snaps = snaps
    this.#log = log
    this.#maxCachedDbs = maxCachedDbs
    snaps.setInUseCheck((snapshot) => {
      for (const j of this.#jobs.values()) {
        if (j.snapshot === snapshot && (j.status === 'running' || j.status === 'pending'))
          return j.name
      }
      return undefined
    })
  }

  #dir(snapshot: string, name: string): string {
    return join(this.#snaps.snapshotDir(snapshot), 'dissections', name)
  }

  async load(): Promise<void> {
    for (const m of this.#snaps.list()) {
      const base = join(this.#snaps.snapshotDir(m.name), 'dissections')
      let names: string[] = []
      try {
        names = await readdir(base)
      } catch {
        continue
      }
      for (const n of names) {
        try {
          const j = JSON.parse(await readFile(join(base, n, JOB), 'utf8')) as DissectionJob
          if (j.status === 'running' || j.status === 'pending') {
            j.status = 'failed'
            j.errors.push(
              'the hub restarted while the dissection was running; start it again under a new name'
            )
            await writeJsonAtomic(join(base, n, JOB), j)
          }
          this.#jobs.set(`${j.snapshot}/${j.name}`, j)
        } catch {
          await rm(join(base, n), { recursive: true, force: true })
        }
      }
    }
  }

  async start(snapshot: string, name: string): Promise<DissectionJob> {
    checkName('dissection', name)
    const m = this.#snaps.get(snapshot)
    if (m.status !== 'completed' && m.status !== 'partial') {
      throw new ApiError(
        409,
        ErrorCode.CONFLICT,
        `snapshot '${snapshot}' is ${m.status}; only a completed (or partial) snapshot can be dissected`,
        {
          snapshot,
          status: m.status,
        }
      )
    }
    const key = `${snapshot}/${name}`
    if (this.#jobs.has(key))
      throw new ApiError(409, ErrorCode.ALREADY_EXISTS, `a dissection '${key}' exists already`, {
        snapshot,
        name,
      })
    const dir = this.#dir(snapshot, name)
    await mkdir(dir, { recursive: true })
    const sdir = this.#snaps.snapshotDir(snapshot)
    const input: DissectionInput = {
      files: m.nodes
        .filter((n) => n.status === 'completed')
        .map((n) => ({
          node: n.name,
          path: join(sdir, n.file),
          packets: n.packet_count,
          bytes: n.size_bytes,
        })),
      out: join(dir, ENTRIES),
    }
    const job: DissectionJob = {
      snapshot,
      name,
      status: 'pending',
      progress: 0,
      stats: {
        ...emptyStats(),
        pcap_files: input.files.length,
        pcap_bytes: input.files.reduce((t, f) => t + f.bytes, 0),
      },
      errors: [],
      created_at: new Date().toISOString(),
    }
    this.#jobs.set(key, job)
    await writeJsonAtomic(join(dir, JOB), job)
    this.#launch(job, input, dir)
    return job
  }

  #launch(job: DissectionJob, input: DissectionInput, dir: string): void {
    const key = `${job.snapshot}/${job.name}`
    let stopRequested = false
    const finish = async (
      status: DissectionStatus,
      stats?: DissectionStats,
      error?: string
    ): Promise<void> => {
      if (job.status === 'cancelled') return
      job.status = stopRequested ? 'cancelled' : status
      if (stats) job.stats = stats
      if (error && job.status === 'failed') job.errors.push(error)
      if (job.status === 'completed') {
        job.progress = 100
        const db = await this.#readDb(dir, job.snapshot)
        job.first_ts = db.oldestTs
        job.last_ts = db.newestTs
      }
      job.completed_at = new Date().toISOString()
      await writeJsonAtomic(join(dir, JOB), job)
      this.#log(
        `dissection ${key} ${job.status}: ${job.stats.packets_processed} packets, ${job.stats.entries_created} entries`
      )
    }
    const onProgress = (p: DissectionProgress): void => {
      job.progress = p.progress
      job.stats = p.stats
    }
    job.status = 'running'
    const workerPath = fileURLToPath(new URL('./dissection-worker.js', import.meta.url))
    let done: Promise<void>
    let stop: () => void
    if (existsSync(workerPath)) {
      const worker = new Worker(workerPath, { workerData: input })
      done = new Promise<void>((resolve) => {
        let settled = false
        const end = (status: DissectionStatus, stats?: DissectionStats, error?: string): void => {
          if (settled) return
          settled = true
          void worker.terminate()
          finish(status, stats, error).then(resolve, (e: Error) => {
            this.#log(`dissection ${key}: ${e.message}`)
            resolve()
          })
        }
        worker.on(
          'message',
          (
            m: {
              type: string
              message?: string
              stats?: DissectionStats
            } & Partial<DissectionProgress>
          ) => {
            if (m.type === 'progress' && m.stats) onProgress(m as DissectionProgress)
            else if (m.type === 'done') end('completed', m.stats)
            else if (m.type === 'cancelled') end('cancelled')
            else if (m.type === 'error') end('failed', undefined, m.message)
          }
        )
        worker.on('error', (e) => end('failed', undefined, e.message))
        worker.on('exit', () =>
          end(stopRequested ? 'cancelled' : 'failed', undefined, 'the dissection worker exited')
        )
      })
      stop = () => {
        stopRequested = true
        worker.postMessage({ type: 'stop' })
      }
    } else {
      // Running from TypeScript sources (tests): no compiled worker file, same code in this thread.
      done = import('./dissection-run.js')
        .then(({ runDissection }) => runDissection(input, onProgress, () => stopRequested))
        .then(
          (stats) => finish('completed', stats),
          (e: Error) =>
            finish(e.name === 'DissectionCancelled' ? 'cancelled' : 'failed', undefined, e.message)
        )
      stop = () => {
        stopRequested = true
      }
    }
    this.#running.set(key, { stop, done })
    void done.finally(() => this.#running.delete(key))
  }

  async #readDb(dir: string, snapshot: string): Promise<EntryStore> {
    // Calls of a snapshot resolve with the workload table of its own window (pods may be gone).
    const table = await this.#snaps.resolutionOf(snapshot)
    const resolver = table ? historyResolver(table as SerializedRecord[]) : undefined
    const buf = await readFile(join(dir, ENTRIES))
    let n = 0
    const batches = []
    for (let off = 0; off + 4 <= buf.length;) {
      const len = buf.readUInt32LE(off)
      const b = decodeEntryBatch(buf.subarray(off + 4, off + 4 + len))
      batches.push(b)
      n += b.entries?.length ?? 0
      off += 4 + len
    }
    const store = new EntryStore({ maxEntries: Math.max(1000, n) })
    for (const b of batches) {
      for (const e of b.entries ?? []) {
        if (resolver) enrichEntry(e, resolver)
        store.add(e)
      }
    }
    return store
  }

  /** The entries of a completed database, for /mcp/calls?db=; undefined when there is none. */
  async db(key: string): Promise<EntryStore | undefined> {
    const j = this.#jobs.get(key)
    if (j === undefined || j.status !== 'completed') return undefined
    const cached = this.#dbs.get(key)
    if (cached) {
      this.#dbs.delete(key)
      this.#dbs.set(key, cached)
      return cached
    }
    const store = await this.#readDb(this.#dir(j.snapshot, j.name), j.snapshot)
    this.#dbs.set(key, store)
    while (this.#dbs.size > this.#maxCachedDbs) this.#dbs.delete(this.#dbs.keys().next().value!)
    return store
  }

  /** The newest completed database of a snapshot (kfl exports use it when present). */
  async snapshotDb(snapshot: string): Promise<EntryStore | undefined> {
    const done = [...this.#jobs.values()]
      .filter((j) => j.snapshot === snapshot && j.status === 'completed')
      .sort((a, b) => (b.completed_at ?? '').localeCompare(a.completed_at ?? ''))
    return done[0] ? this.db(`${snapshot}/${done[0].name}`) : undefined
  }

  list(snapshot?: string): DissectionJob[] {
    return [...this.#jobs.values()]
      .filter((j) => snapshot === undefined || j.snapshot === snapshot)
      .sort((a, b) => a.created_at.localeCompare(b.created_at))
  }

  get(snapshot: string, name: string): DissectionJob {
    checkName('snapshot', snapshot)
    checkName('dissection', name)
    const j = this.#jobs.get(`${snapshot}/${name}`)
    if (j === undefined)
      throw new ApiError(404, ErrorCode.NOT_FOUND, `no dissection '${snapshot}/${name}'`, {
        snapshot,
        name,
      })
    return j
  }

  async stop(snapshot: string, name: string): Promise<DissectionJob> {
    const j = this.get(snapshot, name)
    const r = this.#running.get(`${snapshot}/${name}`)
    if (r === undefined) {
      throw new ApiError(
        409,
        ErrorCode.CONFLICT,
        `dissection '${snapshot}/${name}' is ${j.status}, not running`,
        { status: j.status }
      )
    }
    r.stop()
    await r.done
    return j
  }

  /** Deletes the job and its database; a running job is stopped first. */
  async delete(snapshot: string, name: string): Promise<void> {
    this.get(snapshot, name)
    const key = `${snapshot}/${name}`
    const r = this.#running.get(key)
    if (r) {
      r.stop()
      await r.done
    }
    this.#jobs.delete(key)
    this.#dbs.delete(key)
    await rm(this.#dir(snapshot, name), { recursive: true, force: true })
  }

  /** Called after a snapshot is deleted: forget its (finished) jobs. */
  forgetSnapshot(snapshot: string): void {
    for (const [k, j] of this.#jobs) {
      if (j.snapshot === snapshot) {
        this.#jobs.delete(k)
        this.#dbs.delete(k)
      }
    }
  }

  async shutdown(): Promise<void> {
    for (const r of this.#running.values()) r.stop()
    await Promise.all([...this.#running.values()].map((r) => r.done))
  }

  /** Settles when a job finished (tests). */
  async settled(snapshot: string, name: string): Promise<void> {
    await this.#running.get(`${snapshot}/${name}`)?.done
  }
}

export function jobSummary(j: DissectionJob): Record<string, unknown> {
  return {
    snapshot: j.snapshot,
    name: j.name,
    status: j.status,
    ...(j.status === 'completed'
      ? { entry_count: j.stats.entries_created }
      : { progress: j.progress }),
  }
}

export function jobDetails(j: DissectionJob): Record<string, unknown> {
  return {
    snapshot: j.snapshot,
    name: j.name,
    status: j.status,
    progress: j.progress,
    stats: j.stats,
    errors: j.errors,
    created_at: j.created_at,
    ...(j.completed_at ? { completed_at: j.completed_at } : {}),
  }
}
