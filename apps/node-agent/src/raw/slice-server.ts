import { createHash, webcrypto } from 'node:crypto'
import type { PcapRing, SliceResult } from '@tapwire/pcap'
import type { NatsConnection, Subscription } from 'nats'
import type { PcapChunk, PcapSliceRequest } from '@tapwire/wire'
import { decodePcapSliceRequest, encodePcapChunk, subjects } from '@tapwire/wire'

/** Chunks stay far below NATS' default 1 MB max_payload (protobuf framing included). */
export const MAX_CHUNK_BYTES = 256 * 1024
const MIN_CHUNK_BYTES = 4 * 1024
/** Read-ahead per transfer: the next chunks are read while the hub stores the current one. */
const PREFETCH_BYTES = 2 << 20
const SESSION_IDLE_MS = 60_000
/** Chunks kept per transfer for resending: the hub's request window (transfer.ts, default 4). */
const RESEND_CHUNKS = 4
const EMPTY_SHA256 = createHash('sha256').digest('hex')
const MAX_SESSIONS = 8

class Aborted extends Error {}

/**
 * One slice being produced: `ring.writeSlice` writes into a bounded queue (it waits when the queue
 * is full), the hub takes chunks off its head. Memory: the prefetch bound plus the writer's buffer.
 */
class SliceStream {
  readonly start: number
  readonly end: number
  /** Bytes handed out so far (the offset of the next chunk). */
  pos = 0
  touched = Date.now()
  /** The chunks sent most recently (newest last), kept to resend one whose reply was lost. */
  recent: PcapChunk[] = []
  result: SliceResult | undefined
  error: Error | undefined
  #queue: Uint8Array[] = []
  #queued = 0
  #wake: (() => void) | undefined
  #room: { resolve: () => void; reject: (e: Error) => void } | undefined
  #aborted = false

  constructor(ring: PcapRing, start: number, end: number) {
    this.start = start
    this.end = end
    const sink = {
      write: (chunk: Uint8Array): Promise<void> | undefined => {
        if (this.#aborted) return Promise.reject(new Aborted('transfer abandoned'))
        this.#queue.push(chunk)
        this.#queued += chunk.length
        this.#notify()
        if (this.#queued < PREFETCH_BYTES) return undefined
        return new Promise<void>((resolve, reject) => (this.#room = { resolve, reject }))
      },
    }
    ring.writeSlice(start, end, sink, { end: false }).then(
      (r) => {
        this.result = r
        this.#notify()
      },
      (e: Error) => {
        if (!(e instanceof Aborted)) this.error = e
        this.#notify()
      }
    )
  }

  get finished(): boolean {
    return this.result !== undefined || this.error !== undefined
  }

  #notify(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  /** Up to `max` bytes, waiting until that many are queued or the slice is complete. */
  async take(max: number): Promise<Uint8Array> {
    while (this.#queued < max && !this.finished) {
      await new Promise<void>((r) => (this.#wake = r))
    }
    if (this.error !== undefined) throw this.error
    const n = Math.min(max, this.#queued)
    const out = new Uint8Array(n)
    let o = 0
    while (o < n) {
      const head = this.#queue[0]!
      const k = Math.min(head.length, n - o)
      out.set(head.subarray(0, k), o)
      o += k
      if (k === head.length) this.#queue.shift()
      else this.#queue[0] = head.subarray(k)
    }
    this.#queued -= n
    this.pos += n
    if (this.#queued < PREFETCH_BYTES && this.#room !== undefined) {
      const room = this.#room
      this.#room = undefined
      room.resolve()
    }
    return out
  }

  /** True when every byte has been handed out. */
  get drained(): boolean {
    return this.result !== undefined && this.#queued === 0
  }

  abort(): void {
    this.#aborted = true
    const room = this.#room
    this.#room = undefined
    room?.reject(new Aborted('transfer abandoned'))
    this.#queue = []
    this.#queued = 0
    this.recent = []
  }
}

/**
 * Serves `tapwire.agent.<node>.pcap`: the hub PULLS a slice chunk by chunk, each request naming
 * the transfer and the offset it wants, so the agent never sends more than the hub asked for (flow
 * control) and a hub that lost a reply or restarted its download asks again from any offset
 * (resume). The whole-slice SHA-256 is computed over every byte from offset 0, skipped ones too,
 * so a resumed transfer is still verified end to end; each chunk also carries its own SHA-256.
 */
export class SliceServer {
  readonly #ring: () => PcapRing | undefined
  readonly #sessions = new Map<string, SliceStream>()
  /** Per transfer: the promise of its last request, so its requests are handled one at a time. */
  readonly #chains = new Map<string, Promise<void>>()
  readonly #sweep: NodeJS.Timeout

  constructor(ring: () => PcapRing | undefined) {
    this.#ring = ring
    this.#sweep = setInterval(() => this.#expire(Date.now()), 10_000)
    this.#sweep.unref()
  }

  get sessions(): number {
    return this.#sessions.size
  }

  /**
   * Answers one chunk request. The hub keeps several requests of a transfer in flight and NATS
   * delivers them in order, but each is handled asynchronously: they are chained per transfer so
   * they are served in arrival (offset) order, each after the previous chunk was taken.
   */
  handle(req: PcapSliceRequest): Promise<PcapChunk> {
    const id = req.transferId ?? ''
    const answer = (this.#chains.get(id) ?? Promise.resolve()).then(() => this.#handle(req))
    const tail = answer.then(
      () => undefined,
      () => undefined
    )
    this.#chains.set(id, tail)
    void tail.then(() => {
      if (this.#chains.get(id) === tail) this.#chains.delete(id)
    })
    return answer
  }

  async #handle(req: PcapSliceRequest): Promise<PcapChunk> {
    const transferId = req.transferId ?? ''
    try {
      const ring = this.#ring()
      if (ring === undefined)
        return { transferId, error: 'raw capture is not enabled on this node' }
      if (transferId === '') return { transferId, error: 'transfer_id is required' }
      const start = req.startTs ?? 0
      const end = req.endTs ?? 0
      const offset = Number(req.resumeOffset ?? 0)
      const size = Math.max(
        MIN_CHUNK_BYTES,
        Math.min(MAX_CHUNK_BYTES, req.chunkSize || MAX_CHUNK_BYTES)
      )
      let s = this.#sessions.get(transferId)
      if (s !== undefined && (s.start !== start || s.end !== end)) {
        return { transferId, error: 'transfer_id reused for another window' }
      }
      // The hub asks again for the chunk it did not get (reply lost or damaged): resend it.
      const again = s?.recent.find((c) => Number(c.offset) === offset)
      if (s !== undefined && again !== undefined) {
        s.touched = Date.now()
        return again
      }
      // A pipelined request past the end of a slice already sent whole: nothing more to send (the
      // hub stopped at the last chunk and drops this answer). Not a resume, which would regenerate it.
      const newest = s?.recent[s.recent.length - 1]
      if (s !== undefined && newest?.last === true && offset >= s.pos) {
        s.touched = Date.now()
        return { ...newest, offset, data: new Uint8Array(0), chunkSha256: EMPTY_SHA256 }
      }
      if (s === undefined || offset !== s.pos) {
        s?.abort()
        s = this.#open(transferId, ring, start, end)
        // Resume: regenerate the slice and skip what the hub already holds (hashing it on the way).
        let skip = offset
        while (skip > 0) {
          const part = await s.take(Math.min(skip, 1 << 20))
          if (part.length === 0)
            return { transferId, error: `resume offset ${offset} is beyond the slice end` }
          skip -= part.length
        }
      }
      const data = await s.take(size)
      const last = s.drained
      const chunk: PcapChunk = {
        transferId,
        offset,
        data,
        // WebCrypto hashes in libuv's pool: the main thread goes on producing the next chunks.
        chunkSha256: Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex'),
        last,
      }
      if (last) {
        chunk.totalSize = s.result!.bytes
        chunk.sha256 = s.result!.sha256
        chunk.packetCount = s.result!.packets
      }
      s.recent.push(chunk)
      if (s.recent.length > RESEND_CHUNKS) s.recent.shift()
      s.touched = Date.now()
      return chunk
    } catch (e) {
      this.#sessions.get(transferId)?.abort()
      this.#sessions.delete(transferId)
      return { transferId, error: (e as Error).message }
    }
  }

  #open(id: string, ring: PcapRing, start: number, end: number): SliceStream {
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.#sessions.entries()].sort((a, b) => a[1].touched - b[1].touched)[0]
      if (oldest) {
        oldest[1].abort()
        this.#sessions.delete(oldest[0])
      }
    }
    const s = new SliceStream(ring, start, end)
    this.#sessions.set(id, s)
    return s
  }

  #expire(now: number): void {
    for (const [id, s] of this.#sessions) {
      if (now - s.touched > SESSION_IDLE_MS) {
        s.abort()
        this.#sessions.delete(id)
      }
    }
  }

  close(): void {
    clearInterval(this.#sweep)
    for (const s of this.#sessions.values()) s.abort()
    this.#sessions.clear()
  }
}

/**
 * Answers `tapwire.agent.<node>.pcap` from `slices`: one chunk per request, or the error as a chunk
 * (the hub retries or fails the node). The agent and the slice-transfer bench both serve this way.
 */
export function subscribeSlices(nc: NatsConnection, node: string, slices: SliceServer): Subscription {
  return nc.subscribe(subjects.agentVerb(node, 'pcap'), {
    callback: (err, msg) => {
      if (err) return
      void (async () => {
        let answer: Uint8Array
        try {
          answer = encodePcapChunk(await slices.handle(decodePcapSliceRequest(msg.data)))
        } catch (e) {
          answer = encodePcapChunk({ error: (e as Error).message })
        }
        msg.respond(answer)
      })()
    },
  })
}
