import type { CloseReason, Connection, Direction, StreamConsumer } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorLimits,
  DissectorSession,
  SessionContext,
} from './types.js'
import { DEFAULT_DISSECTOR_LIMITS } from './types.js'

export interface EngineStats {
  connectionsDissected: number
  connectionsUnidentified: number
  /** Exceptions thrown by dissectors; each stops dissection of its connection, nothing more. */
  dissectorErrors: number
  calls: number
  /** Counters dissectors keep across connections (SessionContext.count), by name. */
  counters: Record<string, number>
}

export interface EngineOptions {
  dissectors: readonly Dissector[]
  limits?: Partial<DissectorLimits>
  /** Receives every call with the connection it travelled on. */
  onCall: (conn: Connection, call: CallRecord) => void
}

/** Bytes kept per connection while no dissector has decided yet. */
const PROBE_BUFFER_LIMIT = 4096

interface Buffered {
  dir: Direction
  data: Uint8Array
  tsMs: number
}

/**
 * Detects the protocol of each connection (port hints first, then every dissector by content),
 * pins the winner and feeds it the connection's bytes. A dissector that throws loses that
 * connection and is counted; the exception never reaches the capture pipeline.
 */
export class DissectorEngine {
  readonly limits: DissectorLimits
  readonly stats: EngineStats = {
    connectionsDissected: 0,
    connectionsUnidentified: 0,
    dissectorErrors: 0,
    calls: 0,
    counters: {},
  }
  readonly #dissectors: readonly Dissector[]
  readonly #onCall: EngineOptions['onCall']
  readonly #sessions = new Set<ConnectionDissection>()

  constructor(opts: EngineOptions) {
    this.#dissectors = opts.dissectors
    this.#onCall = opts.onCall
    this.limits = { ...DEFAULT_DISSECTOR_LIMITS, ...opts.limits }
  }

  /** The consumer for a new connection (pass to the flow table). */
  attach(conn: Connection): StreamConsumer {
    const probed = this.#dissectors.filter((d) => d.transport === conn.transport && !d.fallback)
    const hinted = probed.filter(
      (d) => d.portHints.includes(conn.server.port) || d.portHints.includes(conn.client.port)
    )
    const rest = probed.filter((d) => !hinted.includes(d))
    const fallback = this.#dissectors.find((d) => d.transport === conn.transport && d.fallback)
    const cd = new ConnectionDissection(this, conn, [...hinted, ...rest], fallback)
    this.#sessions.add(cd)
    return cd
  }

  /** Packet-time clock: lets sessions time out requests that never got a response. */
  tick(nowMs: number): void {
    for (const s of this.#sessions) s.tick(nowMs)
  }

  /** @internal */
  emit(conn: Connection, call: CallRecord): void {
    this.stats.calls++
    this.#onCall(conn, call)
  }

  /** @internal */
  dissector(id: string): Dissector | undefined {
    return this.#dissectors.find((d) => d.id === id)
  }

  /** @internal */
  forget(cd: ConnectionDissection): void {
    this.#sessions.delete(cd)
  }
}

class ConnectionDissection implements StreamConsumer {
  #state: 'probing' | 'pinned' | 'none' | 'failed' = 'probing'
  #session: DissectorSession | undefined
  #candidates: Dissector[]
  readonly #fallback: Dissector | undefined
  #buffered: Buffered[] = []
  #bufferedBytes = 0
  readonly #engine: DissectorEngine
  readonly #conn: Connection

  constructor(
    engine: DissectorEngine,
    conn: Connection,
    candidates: Dissector[],
    fallback: Dissector | undefined
  ) {
    this.#engine = engine
    this.#conn = conn
    this.#candidates = candidates
    this.#fallback = fallback
  }

  // The pinned paths run per segment: try/catch in place rather than #guard and a closure.
  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#state === 'pinned') {
      try {
        this.#session!.onData(dir, data, tsMs)
      } catch {
        this.#failed()
      }
      return
    }
    if (this.#state !== 'probing') return
    this.#buffered.push({ dir, data: data.slice(), tsMs })
    this.#bufferedBytes += data.length
    this.#probe(dir)
  }

  onGap(dir: Direction, length: number, tsMs: number): void {
    if (this.#state === 'pinned') {
      try {
        this.#session!.onGap(dir, length, tsMs)
      } catch {
        this.#failed()
      }
      return
    }
    if (this.#state === 'probing') {
      // What was buffered is no longer contiguous with what follows: start detection afresh.
      this.#buffered = []
      this.#bufferedBytes = 0
    }
  }

  onClose(tsMs: number, reason: CloseReason): void {
    // Closed before any dissector decided (no data, a reset, a refused connection): the fallback
    // still reports it.
    if (this.#state === 'probing') {
      if (this.#fallback) this.#pin(this.#fallback)
      else if (this.#bufferedBytes > 0) this.#engine.stats.connectionsUnidentified++
    }
    if (this.#state === 'pinned') this.#guard(() => this.#session!.onClose(tsMs, reason))
    this.#engine.forget(this)
  }

  tick(nowMs: number): void {
    if (this.#state === 'pinned' && this.#session?.onTick) {
      try {
        this.#session.onTick(nowMs)
      } catch {
        this.#failed()
      }
    }
  }

  #probe(dir: Direction): void {
    // Probe with everything seen so far in this direction, joined.
    const parts = this.#buffered.filter((b) => b.dir === dir)
    const joined = parts.length === 1 ? parts[0]!.data : concat(parts.map((p) => p.data))
    let undecided = false
    for (const d of this.#candidates) {
      let verdict
      try {
        verdict = d.probe(joined, dir, this.#conn)
      } catch {
        this.#engine.stats.dissectorErrors++
        verdict = 'no' as const
      }
      if (verdict === 'more') undecided = true
      else if (verdict === 'match' || verdict === 'match-reversed') {
        if (verdict === 'match-reversed') this.#swap()
        return this.#pin(d)
      }
    }
    if (!undecided || this.#bufferedBytes > PROBE_BUFFER_LIMIT) {
      // Let the other direction have its say before giving up (a server may speak first).
      const otherSeen = this.#buffered.some((b) => b.dir !== dir)
      if (otherSeen || this.#bufferedBytes > PROBE_BUFFER_LIMIT) {
        this.#engine.stats.connectionsUnidentified++
        if (this.#fallback) return this.#pin(this.#fallback)
        this.#state = 'none'
        this.#buffered = []
      }
    }
  }

  #swap(): void {
    this.#conn.swapRoles()
    for (const b of this.#buffered) b.dir = (1 - b.dir) as Direction
  }

  #pin(d: Dissector): void {
    const conn = this.#conn
    const engine = this.#engine
    const ctx: SessionContext = {
      conn,
      limits: engine.limits,
      emit: (call) => engine.emit(conn, call),
      count: (counter, n = 1) => {
        const c = engine.stats.counters
        c[counter] = (c[counter] ?? 0) + n
      },
      upgrade: (id, init) => {
        const next = engine.dissector(id)
        if (next === undefined) return undefined
        const session = next.newSession(ctx, init)
        this.#session = session
        conn.l7 = next.id
        return session
      },
    }
    this.#state = 'pinned'
    conn.l7 = d.id
    engine.stats.connectionsDissected++
    const buffered = this.#buffered
    this.#buffered = []
    this.#bufferedBytes = 0
    this.#guard(() => {
      this.#session = d.newSession(ctx)
      for (const b of buffered) {
        if (this.#state !== 'pinned') break
        this.#session.onData(b.dir, b.data, b.tsMs)
      }
    })
  }

  #guard(fn: () => void): void {
    try {
      fn()
    } catch {
      this.#failed()
    }
  }

  /** A dissector bug or malformed data: stop dissecting this connection, keep the pipeline. */
  #failed(): void {
    this.#engine.stats.dissectorErrors++
    this.#state = 'failed'
    this.#session = undefined
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
