/** Directions are relative to the roles: 0 = client → server, 1 = server → client. */
export type Direction = 0 | 1

export type CloseReason = 'fin' | 'rst' | 'timeout' | 'evicted' | 'flush'

export interface Peer {
  ip: string
  port: number
}

/** Receives a connection's reassembled bytes in order, once per direction. */
export interface StreamConsumer {
  /** Contiguous bytes; `data` is only valid during the call (copy what you keep). */
  onData(dir: Direction, data: Uint8Array, tsMs: number): void
  /** `length` bytes in `dir` were never captured ("previous segment not captured"). */
  onGap(dir: Direction, length: number, tsMs: number): void
  onClose(tsMs: number, reason: CloseReason): void
}

export interface FlowLimits {
  /** Out-of-order bytes buffered per connection before the hole is declared a gap. */
  maxBufferedPerConnection: number
  /** Out-of-order bytes buffered in total before the oldest connections' holes are declared gaps. */
  maxBufferedTotal: number
  /** Connections tracked at once; beyond it the least recently active is evicted. */
  maxConnections: number
  /** Idle time after which a TCP connection is closed (ms of packet time). */
  tcpIdleMs: number
  /** Idle time after which a UDP flow is closed. */
  udpIdleMs: number
}

export const DEFAULT_FLOW_LIMITS: FlowLimits = {
  maxBufferedPerConnection: 1 << 20,
  maxBufferedTotal: 64 << 20,
  maxConnections: 100_000,
  tcpIdleMs: 120_000,
  udpIdleMs: 30_000,
}
