import { formatAddress, IpProto, TcpFlag } from '@tapwire/packet'
import type { DecodedPacket } from '@tapwire/packet'
import { Connection } from './connection.js'
import type { CloseReason, Direction, FlowLimits, StreamConsumer } from './types.js'
import { DEFAULT_FLOW_LIMITS } from './types.js'

export interface FlowTableOptions {
  limits?: Partial<FlowLimits>
  /** Allocates connection ids; they must never repeat for a node (they become entry ids). */
  nextId: () => number
  /** Called once per new connection; the returned consumer receives its bytes. */
  onConnection: (conn: Connection) => StreamConsumer | undefined
  /** Called after a connection closed and left the table. */
  onClosed?: (conn: Connection) => void
}

export interface FlowTableStats {
  connectionsOpened: number
  connectionsActive: number
  tcpGaps: number
  tcpGapBytes: number
  retransmissions: number
  evictedConnections: number
  bufferOverflows: number
  bufferedBytes: number
}

/** Ports that are almost always the server side, for connections picked up mid-stream. */
const WELL_KNOWN_SERVER_PORTS = new Set([
  53, 80, 443, 1433, 2181, 3306, 4222, 5432, 5671, 5672, 6379, 8080, 8443, 8888, 9042, 9092, 9200, 11211, 27017, 50051,
])

function looksLikeServerPort(port: number): boolean {
  return port < 1024 || WELL_KNOWN_SERVER_PORTS.has(port)
}

/**
 * The bidirectional flow table: finds the connection of each packet by its 5-tuple (hash of the
 * raw address bytes; strings are made only for new connections), feeds TCP payloads through
 * per-direction reassembly, and enforces idle timeouts and memory caps.
 */
export class FlowTable {
  readonly limits: FlowLimits
  readonly #opts: FlowTableOptions
  readonly #buckets = new Map<number, Connection | Connection[]>()
  #head: Connection | undefined
  #tail: Connection | undefined
  #size = 0
  #buffered = 0
  readonly stats: FlowTableStats = {
    connectionsOpened: 0,
    connectionsActive: 0,
    tcpGaps: 0,
    tcpGapBytes: 0,
    retransmissions: 0,
    evictedConnections: 0,
    bufferOverflows: 0,
    bufferedBytes: 0,
  }
  // Scratch key buffer: src addr, dst addr, ports, proto in a canonical (low side first) order.
  readonly #scratch = new Uint8Array(37)

  constructor(opts: FlowTableOptions) {
    this.#opts = opts
    this.limits = { ...DEFAULT_FLOW_LIMITS, ...opts.limits }
  }

  get #minIdle(): number {
    return Math.min(this.limits.tcpIdleMs, this.limits.udpIdleMs)
  }

  get size(): number {
    return this.#size
  }

  /** All open connections, least recently active first. */
  *connections(): IterableIterator<Connection> {
    for (let c = this.#head; c; c = c.next) yield c
  }

  /** Feeds one decoded TCP or UDP packet. Other protocols are ignored. */
  process(p: DecodedPacket, tsMs: number): void {
    if (p.ipProto !== IpProto.TCP && p.ipProto !== IpProto.UDP) return
    const { key, fromLow, hash } = this.#makeKey(p)
    let conn = this.#find(hash, key)
    const isTcp = p.ipProto === IpProto.TCP
    if (conn !== undefined && isTcp && (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN && conn.state !== 'syn_sent') {
      // A fresh SYN on a known 5-tuple: the port was reused; the old connection is over.
      this.#close(conn, tsMs, 'fin')
      conn = undefined
    }
    if (conn === undefined) {
      if (isTcp && p.payloadLength === 0 && (p.tcpFlags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) === 0) {
        // A bare ACK of a connection we never saw carries nothing to dissect.
        return
      }
      conn = this.#open(p, key, hash, fromLow, tsMs)
    } else {
      this.#touch(conn)
    }
    conn.lastTs = tsMs
    const dir = conn.dirOf(fromLow)
    const st = conn.stats[dir]
    st.pkts++
    st.bytes += p.payloadLength
    const payload = p.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)
    if (!isTcp) {
      if (payload.length > 0) conn.consumer?.onData(dir, payload, tsMs)
      return
    }
    this.#tcp(conn, dir, p, payload, tsMs)
  }

  #tcp(conn: Connection, dir: Direction, p: DecodedPacket, payload: Uint8Array, tsMs: number): void {
    const flags = p.tcpFlags
    const half = conn.halves[dir]
    const consumer = conn.consumer
    const deliver = (data: Uint8Array, ts: number): void => consumer?.onData(dir, data, ts)
    const gap = (len: number, ts: number): void => {
      this.stats.tcpGaps++
      this.stats.tcpGapBytes += len
      consumer?.onGap(dir, len, ts)
    }
    if (flags & TcpFlag.SYN) {
      half.onSyn(p.tcpSeq)
      if (flags & TcpFlag.ACK) conn.state = 'established'
    } else if (conn.state === 'syn_sent' && flags & TcpFlag.ACK) {
      conn.state = 'established'
    }
    // Data before the RST still counts; the RST then closes the connection.
    const seq = flags & TcpFlag.SYN ? (p.tcpSeq + 1) >>> 0 : p.tcpSeq
    const before = half.retransmissions
    const added = half.onSegment(seq, payload, (flags & TcpFlag.FIN) !== 0, tsMs, deliver)
    this.stats.retransmissions += half.retransmissions - before
    this.#account(added)
    if (flags & TcpFlag.ACK) {
      const other = (1 - dir) as Direction
      const otherHalf = conn.halves[other]
      const otherDeliver = (data: Uint8Array, ts: number): void => consumer?.onData(other, data, ts)
      const otherGap = (len: number, ts: number): void => {
        this.stats.tcpGaps++
        this.stats.tcpGapBytes += len
        consumer?.onGap(other, len, ts)
      }
      this.#account(-otherHalf.onPeerAck(p.tcpAck, tsMs, otherDeliver, otherGap))
    }
    if (half.buffered > this.limits.maxBufferedPerConnection) {
      this.stats.bufferOverflows++
      this.#account(-half.skipHole(tsMs, deliver, gap))
    }
    if (flags & TcpFlag.RST) {
      conn.state = 'reset'
      this.#close(conn, tsMs, 'rst')
      return
    }
    if (flags & TcpFlag.FIN && conn.state !== 'reset') conn.state = 'closing'
    if (conn.halves[0].finished && conn.halves[1].finished) {
      conn.state = 'closed'
      this.#close(conn, tsMs, 'fin')
      return
    }
    if (this.#buffered > this.limits.maxBufferedTotal) this.#shedBuffers(tsMs)
  }

  /** Closes connections idle longer than their timeout (packet time or wall time). */
  expire(nowMs: number): void {
    for (let c = this.#head; c; ) {
      const next = c.next
      const idle = c.transport === 'tcp' ? this.limits.tcpIdleMs : this.limits.udpIdleMs
      const idleFor = nowMs - c.lastTs
      if (idleFor >= idle) this.#close(c, nowMs, 'timeout')
      // The list is ordered by activity: once a connection is younger than the shortest timeout,
      // so is everything after it.
      else if (idleFor < this.#minIdle) break
      c = next
    }
  }

  /** Closes every connection (end of a capture file, shutdown). */
  closeAll(tsMs: number): void {
    for (let c = this.#head; c; ) {
      const next = c.next
      this.#close(c, tsMs, 'flush')
      c = next
    }
  }

  #close(conn: Connection, tsMs: number, reason: CloseReason): void {
    if (conn.closed) return
    for (const dir of [0, 1] as const) {
      const half = conn.halves[dir]
      const consumer = conn.consumer
      const freed = half.flush(
        tsMs,
        (d, ts) => consumer?.onData(dir, d, ts),
        (len, ts) => {
          this.stats.tcpGaps++
          this.stats.tcpGapBytes += len
          consumer?.onGap(dir, len, ts)
        }
      )
      this.#account(-freed)
    }
    conn.closed = true
    conn.closeReason = reason
    if (conn.state !== 'reset') conn.state = 'closed'
    this.#remove(conn)
    try {
      conn.consumer?.onClose(tsMs, reason)
    } finally {
      this.#opts.onClosed?.(conn)
    }
  }

  #shedBuffers(tsMs: number): void {
    for (let c = this.#head; c && this.#buffered > this.limits.maxBufferedTotal * 0.75; c = c.next) {
      for (const dir of [0, 1] as const) {
        const half = c.halves[dir]
        if (half.buffered === 0) continue
        this.stats.bufferOverflows++
        const consumer = c.consumer
        this.#account(
          -half.flush(
            tsMs,
            (d, ts) => consumer?.onData(dir, d, ts),
            (len, ts) => {
              this.stats.tcpGaps++
              this.stats.tcpGapBytes += len
              consumer?.onGap(dir, len, ts)
            }
          )
        )
      }
    }
  }

  #account(delta: number): void {
    this.#buffered += delta
    this.stats.bufferedBytes = this.#buffered
  }

  #open(p: DecodedPacket, key: Uint8Array, hash: number, fromLow: boolean, tsMs: number): Connection {
    if (this.#size >= this.limits.maxConnections && this.#head) {
      this.stats.evictedConnections++
      this.#close(this.#head, tsMs, 'evicted')
    }
    const d = p.data
    const src = { ip: formatAddress(d, p.srcOffset, p.addrLen), port: p.srcPort }
    const dst = { ip: formatAddress(d, p.dstOffset, p.addrLen), port: p.dstPort }
    let senderIsClient: boolean
    let state: Connection['state']
    if (p.ipProto === IpProto.TCP && p.tcpFlags & TcpFlag.SYN) {
      senderIsClient = (p.tcpFlags & TcpFlag.ACK) === 0
      state = 'syn_sent'
    } else {
      // Mid-stream pickup (or UDP): the well-known port is the server; else the first sender is
      // the client.
      const srcServer = looksLikeServerPort(p.srcPort)
      const dstServer = looksLikeServerPort(p.dstPort)
      senderIsClient = !(srcServer && !dstServer)
      state = p.ipProto === IpProto.TCP ? 'mid_stream' : 'established'
    }
    const client = senderIsClient ? src : dst
    const server = senderIsClient ? dst : src
    const clientIsLow = senderIsClient === fromLow
    const conn = new Connection(
      this.#opts.nextId(),
      p.ipProto === IpProto.TCP ? 'tcp' : 'udp',
      client,
      server,
      clientIsLow,
      key.slice(),
      tsMs,
      state
    )
    const existing = this.#buckets.get(hash)
    if (existing === undefined) this.#buckets.set(hash, conn)
    else if (Array.isArray(existing)) existing.push(conn)
    else this.#buckets.set(hash, [existing, conn])
    this.#append(conn)
    this.#size++
    this.stats.connectionsOpened++
    this.stats.connectionsActive = this.#size
    conn.consumer = this.#opts.onConnection(conn)
    return conn
  }

  #remove(conn: Connection): void {
    const hash = hashKey(conn.key, conn.key.length)
    const existing = this.#buckets.get(hash)
    if (existing === conn) this.#buckets.delete(hash)
    else if (Array.isArray(existing)) {
      const i = existing.indexOf(conn)
      if (i >= 0) existing.splice(i, 1)
      if (existing.length === 1) this.#buckets.set(hash, existing[0]!)
      else if (existing.length === 0) this.#buckets.delete(hash)
    }
    this.#unlink(conn)
    this.#size--
    this.stats.connectionsActive = this.#size
  }

  #find(hash: number, key: Uint8Array): Connection | undefined {
    const b = this.#buckets.get(hash)
    if (b === undefined) return undefined
    if (!Array.isArray(b)) return sameKey(b.key, key) ? b : undefined
    for (const c of b) if (sameKey(c.key, key)) return c
    return undefined
  }

  /** Builds the canonical key (lower address+port first) in the scratch buffer. */
  #makeKey(p: DecodedPacket): { key: Uint8Array; fromLow: boolean; hash: number } {
    const d = p.data
    const len = p.addrLen
    let cmp = 0
    for (let i = 0; i < len && cmp === 0; i++) cmp = d[p.srcOffset + i]! - d[p.dstOffset + i]!
    if (cmp === 0) cmp = p.srcPort - p.dstPort
    const fromLow = cmp <= 0
    const k = this.#scratch
    const [aOff, aPort, bOff, bPort] = fromLow
      ? [p.srcOffset, p.srcPort, p.dstOffset, p.dstPort]
      : [p.dstOffset, p.dstPort, p.srcOffset, p.srcPort]
    k.set(d.subarray(aOff, aOff + len), 0)
    k.set(d.subarray(bOff, bOff + len), len)
    const o = 2 * len
    k[o] = aPort >> 8
    k[o + 1] = aPort & 0xff
    k[o + 2] = bPort >> 8
    k[o + 3] = bPort & 0xff
    k[o + 4] = p.ipProto
    const keyLen = o + 5
    const key = k.subarray(0, keyLen)
    return { key, fromLow, hash: hashKey(key, keyLen) }
  }

  #append(c: Connection): void {
    c.prev = this.#tail
    c.next = undefined
    if (this.#tail) this.#tail.next = c
    else this.#head = c
    this.#tail = c
  }

  #unlink(c: Connection): void {
    if (c.prev) c.prev.next = c.next
    else this.#head = c.next
    if (c.next) c.next.prev = c.prev
    else this.#tail = c.prev
    c.prev = c.next = undefined
  }

  #touch(c: Connection): void {
    if (this.#tail === c) return
    this.#unlink(c)
    this.#append(c)
  }
}

/** FNV-1a over the key bytes. */
function hashKey(k: Uint8Array, len: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < len; i++) h = Math.imul(h ^ k[i]!, 0x01000193)
  return h >>> 0
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
