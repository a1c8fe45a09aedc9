import type { Connection } from '@tapwire/reassembly'
import type { FlowRecord, L4Stats } from '@tapwire/wire'

/**
 * A peer flow: every connection from one client IP to one server IP and port. Entry ids number
 * calls within it (`<node>/<flow_id>/<index>`); its counters are the spec's `l4_flow` (with rates)
 * while one connection's are `l4_conn`.
 */
export interface PeerFlow {
  id: number
  key: string
  transport: 'tcp' | 'udp'
  clientIp: string
  serverIp: string
  serverPort: number
  nextIndex: number
  firstTs: number
  lastTs: number
  /** Counters of the connections that already closed, by direction (0 client→server). */
  closedPkts: [number, number]
  closedBytes: [number, number]
  live: Set<Connection>
  connections: number
  /** The most recent handshake times, microseconds (bounded). */
  handshakes: number[]
  l7: string
}

const MAX_HANDSHAKES = 64

/** Where and when a connection's packets are: what the agent needs to cut its PCAP from the ring. */
export interface ConnWindow {
  transport: 'tcp' | 'udp'
  client: { ip: string; port: number }
  server: { ip: string; port: number }
  /** Unix ms of its first and last packet (so far, while it is open). */
  firstTs: number
  lastTs: number
}

const connWindow = (c: Connection): ConnWindow => ({
  transport: c.transport,
  client: c.client,
  server: c.server,
  firstTs: c.firstTs,
  lastTs: c.lastTs,
})

export class PeerFlows {
  readonly #flows = new Map<string, PeerFlow>()
  readonly #byId = new Map<number, PeerFlow>()
  /** Counters of recently closed connections, for drill-down after the connection is gone. */
  readonly #closedConns = new Map<number, { stats: L4Stats; window: ConnWindow }>()
  readonly #maxFlows: number
  readonly #maxClosedConns: number
  readonly #nextId: () => number

  constructor(nextId: () => number, maxFlows = 100_000, maxClosedConns = 50_000) {
    this.#nextId = nextId
    this.#maxFlows = maxFlows
    this.#maxClosedConns = maxClosedConns
  }

  get size(): number {
    return this.#flows.size
  }

  /** The flow of a new connection (created on first sight). */
  attach(conn: Connection): PeerFlow {
    const key = `${conn.transport}|${conn.client.ip}|${conn.server.ip}|${conn.server.port}`
    let flow = this.#flows.get(key)
    if (flow === undefined) {
      this.#evictIfFull()
      flow = {
        id: this.#nextId(),
        key,
        transport: conn.transport,
        clientIp: conn.client.ip,
        serverIp: conn.server.ip,
        serverPort: conn.server.port,
        nextIndex: 0,
        firstTs: conn.firstTs,
        lastTs: conn.firstTs,
        closedPkts: [0, 0],
        closedBytes: [0, 0],
        live: new Set(),
        connections: 0,
        handshakes: [],
        l7: '',
      }
      this.#byId.set(flow.id, flow)
    } else {
      // Map order is least recently used first.
      this.#flows.delete(key)
    }
    this.#flows.set(key, flow)
    flow.live.add(conn)
    flow.connections++
    conn.owner = flow
    return flow
  }

  /** A dissector swapped the connection's roles after attach: move it to the right flow. */
  reattach(conn: Connection): PeerFlow {
    const old = conn.owner as PeerFlow | undefined
    // Per call: compare the parts rather than build the key string (the usual answer is "same").
    if (
      old !== undefined &&
      old.serverPort === conn.server.port &&
      old.serverIp === conn.server.ip &&
      old.clientIp === conn.client.ip &&
      old.transport === conn.transport
    )
      return old
    if (old) {
      old.live.delete(conn)
      old.connections--
    }
    return this.attach(conn)
  }

  /** Folds a closed connection's counters into its flow and remembers them for drill-down. */
  closed(conn: Connection): void {
    const flow = conn.owner as PeerFlow | undefined
    if (flow) {
      flow.live.delete(conn)
      for (const d of [0, 1] as const) {
        flow.closedPkts[d] += conn.stats[d].pkts
        flow.closedBytes[d] += conn.stats[d].bytes
      }
      if (conn.lastTs > flow.lastTs) flow.lastTs = conn.lastTs
      if (conn.handshakeUs !== undefined) {
        flow.handshakes.push(conn.handshakeUs)
        if (flow.handshakes.length > MAX_HANDSHAKES) flow.handshakes.shift()
      }
      if (conn.l7) flow.l7 = conn.l7
    }
    if (this.#closedConns.size >= this.#maxClosedConns) {
      const oldest = this.#closedConns.keys().next().value
      if (oldest !== undefined) this.#closedConns.delete(oldest)
    }
    this.#closedConns.set(conn.id, { stats: connStats(conn), window: connWindow(conn) })
  }

  byId(id: number): PeerFlow | undefined {
    return this.#byId.get(id)
  }

  /** `l4_conn` of a connection, open (found among its flow's live ones) or recently closed. */
  connStats(connId: number, flowId: number): L4Stats | undefined {
    const flow = this.#byId.get(flowId)
    if (flow) for (const c of flow.live) if (c.id === connId) return connStats(c)
    return this.#closedConns.get(connId)?.stats
  }

  /** 5-tuple and packet times of a connection, open or recently closed (like `connStats`). */
  connWindow(connId: number, flowId: number): ConnWindow | undefined {
    const flow = this.#byId.get(flowId)
    if (flow) for (const c of flow.live) if (c.id === connId) return connWindow(c)
    return this.#closedConns.get(connId)?.window
  }

  /** `l4_flow`: the flow's counters over all its connections, with rates over its lifetime. */
  flowStats(flowId: number): L4Stats | undefined {
    const f = this.#byId.get(flowId)
    return f ? flowStats(f) : undefined
  }

  /** Flow records for the L4 tools, most recently active first. */
  records(limit: number, node: string): { flows: FlowRecord[]; truncated: boolean } {
    const all = [...this.#flows.values()].reverse()
    return { flows: all.slice(0, limit).map((f) => flowRecord(f, node)), truncated: all.length > limit }
  }

  /** Every remembered flow, least recently active first (for the periodic L4 flow entries). */
  values(): IterableIterator<PeerFlow> {
    return this.#flows.values()
  }

  #evictIfFull(): void {
    if (this.#flows.size < this.#maxFlows) return
    for (const [key, f] of this.#flows) {
      if (f.live.size > 0) continue
      this.#flows.delete(key)
      this.#byId.delete(f.id)
      return
    }
  }
}

/** A flow's counters over its closed and live connections, by direction (0 client→server). */
export function totals(f: PeerFlow): { pkts: [number, number]; bytes: [number, number]; lastTs: number } {
  const pkts: [number, number] = [f.closedPkts[0], f.closedPkts[1]]
  const bytes: [number, number] = [f.closedBytes[0], f.closedBytes[1]]
  let lastTs = f.lastTs
  for (const c of f.live) {
    for (const d of [0, 1] as const) {
      pkts[d] += c.stats[d].pkts
      bytes[d] += c.stats[d].bytes
    }
    if (c.lastTs > lastTs) lastTs = c.lastTs
  }
  return { pkts, bytes, lastTs }
}

const connState = (c: Connection): string => (c.closed ? (c.state === 'reset' ? 'reset' : 'closed') : c.state === 'closing' ? 'closing' : 'established')

export function connStats(c: Connection): L4Stats {
  return {
    id: c.id,
    state: connState(c),
    localPkts: c.stats[0].pkts,
    localBytes: c.stats[0].bytes,
    remotePkts: c.stats[1].pkts,
    remoteBytes: c.stats[1].bytes,
  }
}

export function flowStats(f: PeerFlow): L4Stats {
  const t = totals(f)
  // Rates over the flow's life; at least one millisecond so a one-packet flow has a finite rate.
  const secs = Math.max(0.001, (t.lastTs - f.firstTs) / 1000)
  return {
    id: f.id,
    state: f.live.size > 0 ? 'established' : 'closed',
    localPkts: t.pkts[0],
    localBytes: t.bytes[0],
    remotePkts: t.pkts[1],
    remoteBytes: t.bytes[1],
    localPps: t.pkts[0] / secs,
    localBps: (t.bytes[0] * 8) / secs,
    remotePps: t.pkts[1] / secs,
    remoteBps: (t.bytes[1] * 8) / secs,
  }
}

function flowRecord(f: PeerFlow, node: string): FlowRecord {
  const t = totals(f)
  const handshakes = [...f.handshakes]
  for (const c of f.live) if (c.handshakeUs !== undefined) handshakes.push(c.handshakeUs)
  let l7 = f.l7
  for (const c of f.live) if (c.l7) l7 = c.l7
  return {
    flowId: f.id,
    transport: f.transport,
    client: { ip: f.clientIp },
    server: { ip: f.serverIp, port: f.serverPort },
    state: f.live.size > 0 ? 'established' : 'closed',
    clientPkts: t.pkts[0],
    clientBytes: t.bytes[0],
    serverPkts: t.pkts[1],
    serverBytes: t.bytes[1],
    firstTs: f.firstTs,
    lastTs: t.lastTs,
    connections: f.connections,
    l7,
    handshakeUs: handshakes,
    node,
  }
}
