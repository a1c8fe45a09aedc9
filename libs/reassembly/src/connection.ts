import { TcpHalf } from './tcp-half.js'
import type { CloseReason, Direction, Peer, StreamConsumer } from './types.js'

export type ConnectionState = 'syn_sent' | 'established' | 'mid_stream' | 'closing' | 'closed' | 'reset'

/** Per-direction counters for the spec's l4_conn / l4_flow objects. */
export interface DirectionStats {
  pkts: number
  bytes: number
}

/**
 * A TCP connection or UDP flow between a client and a server. Roles come from the handshake when
 * it was captured, else from port heuristics; a dissector that knows better may swap them.
 */
export class Connection {
  readonly id: number
  readonly transport: 'tcp' | 'udp'
  client: Peer
  server: Peer
  /** Whether the client is the side whose address sorts first in the flow key. */
  clientIsLow: boolean
  state: ConnectionState
  readonly firstTs: number
  lastTs: number
  /** Indexed by Direction. */
  readonly stats: [DirectionStats, DirectionStats] = [
    { pkts: 0, bytes: 0 },
    { pkts: 0, bytes: 0 },
  ]
  readonly halves: [TcpHalf, TcpHalf] = [new TcpHalf(), new TcpHalf()]
  consumer: StreamConsumer | undefined
  closed = false
  closeReason: CloseReason | undefined
  /** Bytes of the flow key (for collision checks in the table). */
  readonly key: Uint8Array
  /** Doubly linked LRU list, most recent at the tail. */
  prev: Connection | undefined
  next: Connection | undefined
  /** The dissector pinned on this connection (for conn_l7_detected). */
  l7: string | undefined
  /** Time of the client's SYN, when the handshake was captured. */
  synTs: number | undefined
  /** The server answered the SYN (a SYN-ACK was captured). */
  synAckSeen = false
  /** Which side sent a RST (0 client, 1 server), if one did. */
  rstFrom: Direction | undefined
  /** SYN to the client's ACK of the SYN-ACK, microseconds; undefined when not captured. */
  handshakeUs: number | undefined
  /** For the table's owner (e.g. the peer flow this connection belongs to). */
  owner: unknown

  constructor(id: number, transport: 'tcp' | 'udp', client: Peer, server: Peer, clientIsLow: boolean, key: Uint8Array, tsMs: number, state: ConnectionState) {
    this.id = id
    this.transport = transport
    this.client = client
    this.server = server
    this.clientIsLow = clientIsLow
    this.key = key
    this.firstTs = tsMs
    this.lastTs = tsMs
    this.state = state
  }

  get gaps(): number {
    return this.halves[0].gaps + this.halves[1].gaps
  }

  /** Swaps client and server (a dissector saw a response travel the "client" way). */
  swapRoles(): void {
    const c = this.client
    this.client = this.server
    this.server = c
    this.clientIsLow = !this.clientIsLow
    this.stats.reverse()
    this.halves.reverse()
    if (this.rstFrom !== undefined) this.rstFrom = (1 - this.rstFrom) as Direction
  }

  /** Direction of a packet whose sender is the low (first-sorted) side when `fromLow`. */
  dirOf(fromLow: boolean): Direction {
    return fromLow === this.clientIsLow ? 0 : 1
  }
}
