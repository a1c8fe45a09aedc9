// When L4 entries are made. Time is packet time cut into windows of `intervalMs` aligned to
// multiples of it (like Kubeshark's periodic sampling of its socket-stats map):
// - a connection gets a `closed` entry when it leaves the flow table (FIN/RST linger done, idle
//   timeout, eviction, end of input), and an `open` (`in_progress` while the TCP handshake is not
//   done) entry at the end of every window in which it moved packets;
// - a peer flow gets an entry at the end of every window in which it moved packets, plus one
//   `closed` entry when its last connection is gone; its rates are what moved in that window.
import type { Connection } from '@tapwire/reassembly'
import type { Entry } from '@tapwire/wire'
import type { CallRecord } from '../engine/types.js'
import type { PeerFlow, PeerFlows } from '../peer-flows.js'
import { totals } from '../peer-flows.js'
import { connEntry, flowEntry } from './l4-entries.js'
import type { L4State } from './l4-entries.js'
import { addCallProtocols, addName, dissectorProtocol } from './l7-names.js'

export const DEFAULT_L4_INTERVAL_MS = 30_000

export interface L4ReporterOptions {
  node: string
  worker: string
  /** Report window, ms of packet time. */
  intervalMs: number
  flows: PeerFlows
  /** Receives each L4 entry with a bodiless call record (drill-down then finds no bodies). */
  emit: (entry: Entry, call: CallRecord) => void
}

/** What a flow's previous report said, to tell what moved since. */
interface FlowMark {
  pkts: [number, number]
  bytes: [number, number]
  open: boolean
  /** L7 protocols seen on any of its connections so far. */
  l7: string[]
}

export class L4Reporter {
  readonly #o: L4ReporterOptions
  readonly #ctx: { node: string; worker: string }
  /** L7 protocols of each connection's calls; weak, so closed connections cost nothing. */
  readonly #connL7 = new WeakMap<Connection, string[]>()
  readonly #marks = new WeakMap<PeerFlow, FlowMark>()
  #windowStart: number | undefined
  /** Where the current window's observation began: its start, or the first packet of the input. */
  #observedFrom = 0
  #due = -Infinity
  /** Time of the last report, so a closed entry never predates an open one of the same connection. */
  #lastReport = -Infinity

  constructor(opts: L4ReporterOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError(`L4 report interval must be > 0 ms, got ${opts.intervalMs}`)
    this.#o = opts
    this.#ctx = { node: opts.node, worker: opts.worker }
  }

  /** Packet time at which the current window ends; a packet at or after it calls `advance`. */
  get nextDue(): number {
    return this.#due
  }

  /** A call of `proto` was dissected on `conn` (which belongs to `flow`). */
  noteCall(conn: Connection, flow: PeerFlow, proto: string): void {
    let names = this.#connL7.get(conn)
    if (names === undefined) this.#connL7.set(conn, (names = []))
    addCallProtocols(names, proto)
    addCallProtocols(this.#mark(flow).l7, proto)
  }

  /**
   * Time reached `nowMs` >= `nextDue`: reports the window that ended (before the packet at `nowMs`
   * is counted) and starts the window holding `nowMs`. Windows without packets are skipped.
   */
  advance(nowMs: number, conns: Iterable<Connection>): void {
    const first = this.#windowStart === undefined
    if (!first) this.#report(this.#due, conns)
    const i = this.#o.intervalMs
    this.#windowStart = Math.floor(nowMs / i) * i
    this.#due = this.#windowStart + i
    // Rates of the first window count from the first packet: nothing before it was observed. Later
    // windows were watched whole, even if a gap of silence skipped some.
    this.#observedFrom = first ? nowMs : this.#windowStart
  }

  /** A connection left the flow table: its final entry. */
  closed(conn: Connection): void {
    // A dissector may have swapped the roles since the connection was attached.
    const flow = this.#o.flows.reattach(conn)
    const pinned = dissectorProtocol(conn.l7)
    addName(this.#mark(flow).l7, pinned)
    // Stamped with its last packet (FIN, RST, last datagram), or the last report if that is later.
    this.#emitConn(conn, flow, 'closed', Math.max(conn.lastTs, this.#lastReport), pinned)
  }

  /** End of input (after every connection closed): reports the last, partial window. */
  finish(nowMs: number, conns: Iterable<Connection>): void {
    if (this.#windowStart === undefined) return
    this.#report(Math.max(nowMs, this.#windowStart), conns)
    this.#windowStart = undefined
    this.#due = -Infinity
  }

  #report(at: number, conns: Iterable<Connection>): void {
    const start = this.#windowStart ?? at
    const from = Math.max(start, this.#observedFrom)
    this.#lastReport = at
    for (const c of conns) {
      // Lingering connections already closed: their entry comes when they leave the table.
      if (c.closed || c.lastTs < start) continue
      const flow = this.#o.flows.reattach(c)
      this.#emitConn(c, flow, c.state === 'syn_sent' ? 'in_progress' : 'open', at, dissectorProtocol(c.l7))
    }
    for (const f of this.#o.flows.values()) {
      const mark = this.#mark(f)
      const t = totals(f)
      const open = f.live.size > 0
      const moved = {
        pkts: [Math.max(0, t.pkts[0] - mark.pkts[0]), Math.max(0, t.pkts[1] - mark.pkts[1])] as const,
        bytes: [Math.max(0, t.bytes[0] - mark.bytes[0]), Math.max(0, t.bytes[1] - mark.bytes[1])] as const,
      }
      const ended = mark.open && !open
      mark.pkts = t.pkts
      mark.bytes = t.bytes
      mark.open = open
      if (moved.pkts[0] + moved.pkts[1] === 0 && !ended) continue
      for (const c of f.live) addName(mark.l7, dissectorProtocol(c.l7))
      const state: L4State = open ? 'open' : 'closed'
      const e = flowEntry(this.#ctx, f, f.nextIndex++, state, at, t, moved, at - from, [...mark.l7])
      this.#o.emit(e, { proto: e.proto!, reqTs: at, attrs: e.attrs! })
    }
  }

  #emitConn(conn: Connection, flow: PeerFlow, state: L4State, ts: number, pinned: string | undefined): void {
    const names = [...(this.#connL7.get(conn) ?? [])]
    addName(names, pinned)
    const e = connEntry(this.#ctx, conn, flow, flow.nextIndex++, state, ts, names)
    this.#o.emit(e, { proto: e.proto!, reqTs: ts, attrs: e.attrs! })
  }

  #mark(f: PeerFlow): FlowMark {
    let m = this.#marks.get(f)
    if (m === undefined) this.#marks.set(f, (m = { pkts: [0, 0], bytes: [0, 0], open: false, l7: [] }))
    return m
  }
}
