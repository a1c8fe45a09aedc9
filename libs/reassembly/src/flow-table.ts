import { formatAddress, IpProto, TcpFlag } from '@tapwire/packet'
import type { DecodedPacket } from '@tapwire/packet'
import { Connection } from './connection.js'
import { seqAdd, seqDiff } from './seq.js'
import type { TcpHalf } from './tcp-half.js'
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

/** Closed TCP connections remembered to recognise late retransmissions (about 50 bytes each). */
const MAX_CLOSED_REMEMBERED = 16_384

/** How long a connection's L4 record outlives its FIN/RST exchange (packet time). */
const LINGER_MS = 1000

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
  /**
   * Recently closed TCP connections (RFC 9293 §3.6.1 TIME-WAIT): where each side's stream ended,
   * so a late retransmission does not open a phantom mid-stream connection. Bounded, oldest first.
   */
  /** Connections whose streams ended, kept until this packet time to count trailing packets. */
  readonly #lingering = new Map<Connection, number>()
  readonly #closedRecently = new Map<number, { key: Uint8Array; lowEnd: number | undefined; highEnd: number | undefined; ts: number }>()
  // Scratch keys (IPv4, IPv6): addresses, ports, proto in a canonical (low side first) order.
  // #makeKey fills one and leaves its direction and hash in the two fields after them.
  readonly #key4 = new Uint8Array(13)
  readonly #key6 = new Uint8Array(37)
  #keyFromLow = false
  #keyHash = 0

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

  /**
   * Feeds one decoded TCP or UDP packet; `wireLen` is its length on the wire (counters count wire
   * bytes, as tshark's conversation statistics do). Other protocols are ignored.
   */
  process(p: DecodedPacket, tsMs: number, wireLen = p.data.length): void {
    if (p.ipProto !== IpProto.TCP && p.ipProto !== IpProto.UDP) return
    const key = this.#makeKey(p)
    const fromLow = this.#keyFromLow
    const hash = this.#keyHash
    let conn = this.#find(hash, key)
    const isTcp = p.ipProto === IpProto.TCP
    if (conn !== undefined && isTcp && (p.tcpFlags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN && conn.state !== 'syn_sent') {
      // A fresh SYN on a known 5-tuple: the port was reused; the old connection is over.
      this.#close(conn, tsMs, 'fin')
      this.#release(conn, tsMs)
      conn = undefined
    }
    if (conn?.closed) {
      // A trailing packet of a connection that ended (last ACK, retransmitted FIN): count it only.
      const st = conn.stats[conn.dirOf(fromLow)]
      st.pkts++
      st.bytes += wireLen
      conn.lastTs = tsMs
      return
    }
    if (conn === undefined && isTcp && this.#isLateRetransmission(p, key, hash, fromLow, tsMs)) {
      this.stats.retransmissions++
      return
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
    st.bytes += wireLen
    // Bare ACKs (a third of TCP packets or more) share one empty payload instead of a new view.
    const start = p.payloadOffset
    const payload = p.payloadLength === 0 ? EMPTY : p.data.subarray(start, start + p.payloadLength)
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
    if (flags & TcpFlag.SYN) {
      half.onSyn(p.tcpSeq)
      if (!(flags & TcpFlag.ACK) && conn.synTs === undefined) conn.synTs = tsMs
      if (flags & TcpFlag.ACK) conn.synAckSeen = true
    } else if (conn.state === 'syn_sent' && flags & TcpFlag.ACK) {
      // The client's ACK of the SYN-ACK completes the three-way handshake (RFC 9293 §3.5).
      conn.state = 'established'
      if (dir === 0 && conn.synTs !== undefined && conn.handshakeUs === undefined) {
        conn.handshakeUs = Math.max(0, Math.round((tsMs - conn.synTs) * 1000))
      }
    }
    // The ACK first: the sender had received the acknowledged bytes before it sent this segment,
    // so a hole it covers (and the data buffered behind it) comes before this payload. A response
    // must not reach the dissector ahead of the request it answers.
    if (flags & TcpFlag.ACK) {
      const other = (1 - dir) as Direction
      const otherHalf = conn.halves[other]
      const gaps = otherHalf.gaps
      const gapBytes = otherHalf.gapBytes
      this.#account(-otherHalf.onPeerAck(p.tcpAck, tsMs, consumer, other))
      this.#countGaps(otherHalf, gaps, gapBytes)
    }
    // Data before the RST still counts; the RST then closes the connection.
    const seq = flags & TcpFlag.SYN ? (p.tcpSeq + 1) >>> 0 : p.tcpSeq
    const before = half.retransmissions
    const gaps = half.gaps
    const gapBytes = half.gapBytes
    const bufferedBefore = half.buffered
    half.onSegment(seq, payload, (flags & TcpFlag.FIN) !== 0, tsMs, consumer, dir)
    this.stats.retransmissions += half.retransmissions - before
    // The net change: in-order data also drains segments buffered behind a hole it fills (a
    // fuzz run found the total leaking when only the bytes added were counted).
    this.#account(half.buffered - bufferedBefore)
    if (half.buffered > this.limits.maxBufferedPerConnection) {
      this.stats.bufferOverflows++
      this.#account(-half.skipHole(tsMs, consumer, dir))
    }
    this.#countGaps(half, gaps, gapBytes)
    if (flags & TcpFlag.RST) {
      conn.state = 'reset'
      conn.rstFrom = dir
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
    for (const [c, until] of this.#lingering) if (nowMs >= until) this.#release(c, nowMs)
    for (let c = this.#head; c; ) {
      const next = c.next
      const idle = c.transport === 'tcp' ? this.limits.tcpIdleMs : this.limits.udpIdleMs
      const idleFor = nowMs - c.lastTs
      if (c.closed) {
        // Lingering: released by the loop above.
      } else if (idleFor >= idle) this.#close(c, nowMs, 'timeout')
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
      if (c.closed) this.#release(c, tsMs)
      else this.#close(c, tsMs, 'flush')
      c = next
    }
  }

  /**
   * Ends a connection. Its streams end at once (the dissector sees onClose); after FIN or RST its
   * L4 record lingers for `LINGER_MS` of packet time (like TIME-WAIT, RFC 9293 §3.6.1) so trailing
   * packets (the last ACK, retransmitted FINs) are still counted, as tshark's conversations count
   * them. Other reasons (timeout, eviction, flush) release it right away.
   */
  #close(conn: Connection, tsMs: number, reason: CloseReason): void {
    if (!conn.closed) {
      // Each half once, by its direction at that moment: delivering one half's bytes may make a
      // dissector swap the roles (Connection.swapRoles reverses `halves`), found by fuzzing.
      for (const half of [...conn.halves]) {
        const dir = conn.halves.indexOf(half) as Direction
        const gaps = half.gaps
        const gapBytes = half.gapBytes
        this.#account(-half.flush(tsMs, conn.consumer, dir))
        this.#countGaps(half, gaps, gapBytes)
      }
      conn.closed = true
      conn.closeReason = reason
      if (conn.state !== 'reset') conn.state = 'closed'
      try {
        conn.consumer?.onClose(tsMs, reason)
      } finally {
        conn.consumer = undefined
      }
      if ((reason === 'fin' || reason === 'rst') && conn.transport === 'tcp') {
        this.#lingering.set(conn, tsMs + LINGER_MS)
        return
      }
    }
    this.#release(conn, tsMs)
  }

  /** Takes a closed connection out of the table for good. */
  #release(conn: Connection, tsMs: number): void {
    if (!this.#lingering.delete(conn) && !conn.closed) return
    if (conn.closeReason === 'fin' || conn.closeReason === 'rst') this.#rememberClosed(conn, tsMs)
    if (!this.#inTable(conn)) return
    this.#remove(conn)
    this.#opts.onClosed?.(conn)
  }


  #isLateRetransmission(p: DecodedPacket, key: Uint8Array, hash: number, fromLow: boolean, tsMs: number): boolean {
    const c = this.#closedRecently.get(hash)
    if (c === undefined || !sameKey(c.key, key)) return false
    if (p.tcpFlags & TcpFlag.SYN || tsMs - c.ts > this.limits.tcpIdleMs) {
      // A new connection on the same ports, or long enough ago: forget the old one.
      this.#closedRecently.delete(hash)
      return false
    }
    const end = fromLow ? c.lowEnd : c.highEnd
    // Entirely before where that side's stream ended (FIN and RST count).
    return end !== undefined && seqDiff(seqAdd(p.tcpSeq, p.payloadLength), end) <= 0
  }

  #rememberClosed(conn: Connection, tsMs: number): void {
    if (conn.transport !== 'tcp') return
    const end = (dir: Direction): number | undefined => {
      const h = conn.halves[dir]
      return h.finSeq !== undefined ? seqAdd(h.finSeq, 1) : h.nextSeq
    }
    const lowDir = conn.dirOf(true)
    const hash = hashKey(conn.key, conn.key.length)
    this.#closedRecently.delete(hash)
    this.#closedRecently.set(hash, { key: conn.key, lowEnd: end(lowDir), highEnd: end((1 - lowDir) as Direction), ts: tsMs })
    if (this.#closedRecently.size > MAX_CLOSED_REMEMBERED) {
      const oldest = this.#closedRecently.keys().next().value
      if (oldest !== undefined) this.#closedRecently.delete(oldest)
    }
  }

  #shedBuffers(tsMs: number): void {
    for (let c = this.#head; c && this.#buffered > this.limits.maxBufferedTotal * 0.75; c = c.next) {
      for (const half of [...c.halves]) {
        const dir = c.halves.indexOf(half) as Direction
        if (half.buffered === 0) continue
        this.stats.bufferOverflows++
        const gaps = half.gaps
        const gapBytes = half.gapBytes
        this.#account(-half.flush(tsMs, c.consumer, dir))
        this.#countGaps(half, gaps, gapBytes)
      }
    }
  }

  /** Adds the gaps a half reported since it had `gaps` of `gapBytes` to the table's counters. */
  #countGaps(half: TcpHalf, gaps: number, gapBytes: number): void {
    if (half.gaps === gaps) return
    this.stats.tcpGaps += half.gaps - gaps
    this.stats.tcpGapBytes += half.gapBytes - gapBytes
  }

  #account(delta: number): void {
    this.#buffered += delta
    this.stats.bufferedBytes = this.#buffered
  }

  #open(p: DecodedPacket, key: Uint8Array, hash: number, fromLow: boolean, tsMs: number): Connection {
    if (this.#size >= this.limits.maxConnections && this.#head) {
      this.stats.evictedConnections++
      const oldest = this.#head
      this.#close(oldest, tsMs, 'evicted')
      this.#release(oldest, tsMs)
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

  #inTable(conn: Connection): boolean {
    return conn.prev !== undefined || conn.next !== undefined || this.#head === conn
  }

  #find(hash: number, key: Uint8Array): Connection | undefined {
    const b = this.#buckets.get(hash)
    if (b === undefined) return undefined
    if (!Array.isArray(b)) return sameKey(b.key, key) ? b : undefined
    for (const c of b) if (sameKey(c.key, key)) return c
    return undefined
  }

  /**
   * Builds the canonical key (lower address+port first) in a scratch buffer and returns it; its
   * FNV-1a hash (as `hashKey` computes it) and whether the sender is the low side are left in
   * `#keyHash` and `#keyFromLow`. Byte loops, no views or result objects: this runs per packet.
   */
  #makeKey(p: DecodedPacket): Uint8Array {
    const d = p.data
    const len = p.addrLen
    const src = p.srcOffset
    const dst = p.dstOffset
    let cmp = 0
    for (let i = 0; i < len && cmp === 0; i++) cmp = d[src + i]! - d[dst + i]!
    if (cmp === 0) cmp = p.srcPort - p.dstPort
    const fromLow = cmp <= 0
    const k = len === 4 ? this.#key4 : this.#key6
    const aOff = fromLow ? src : dst
    const bOff = fromLow ? dst : src
    const aPort = fromLow ? p.srcPort : p.dstPort
    const bPort = fromLow ? p.dstPort : p.srcPort
    let h = FNV_OFFSET
    for (let i = 0; i < len; i++) {
      const x = d[aOff + i]!
      k[i] = x
      h = Math.imul(h ^ x, FNV_PRIME)
    }
    for (let i = 0; i < len; i++) {
      const x = d[bOff + i]!
      k[len + i] = x
      h = Math.imul(h ^ x, FNV_PRIME)
    }
    const o = 2 * len
    k[o] = aPort >> 8
    k[o + 1] = aPort & 0xff
    k[o + 2] = bPort >> 8
    k[o + 3] = bPort & 0xff
    k[o + 4] = p.ipProto
    for (let i = o; i < o + 5; i++) h = Math.imul(h ^ k[i]!, FNV_PRIME)
    this.#keyFromLow = fromLow
    this.#keyHash = h >>> 0
    return k
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

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193
const EMPTY = new Uint8Array(0)

/** FNV-1a over the key bytes. */
function hashKey(k: Uint8Array, len: number): number {
  let h = FNV_OFFSET
  for (let i = 0; i < len; i++) h = Math.imul(h ^ k[i]!, FNV_PRIME)
  return h >>> 0
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
