import type { Attr, Header } from '@tapwire/wire'
import type { CloseReason, Direction, Peer } from '@tapwire/reassembly'

/** One request/response exchange (or a lone message with an error) as a dissector reports it. */
export interface CallRecord {
  /** Lower-case protocol id: http, grpc, ws, gql, redis, dns... */
  proto: string
  /** Packet time (Unix ms) of the first byte of the request. */
  reqTs: number
  /** Packet time of the first byte of the response; undefined without a response. */
  respTs?: number | undefined
  method?: string
  path?: string
  url?: string
  status?: number
  version?: string
  reqHeaders?: Header[] | undefined
  respHeaders?: Header[] | undefined
  /** The first bytes of each body (bounded by `limits.maxBodyBytes`). */
  reqBody?: Uint8Array | undefined
  respBody?: Uint8Array | undefined
  reqBodySize?: number
  respBodySize?: number
  reqHeaderSize?: number
  respHeaderSize?: number
  reqBodyTruncated?: boolean
  respBodyTruncated?: boolean
  error?: { type: CallErrorType; message: string }
  attrs?: Attr[]
  summary?: string
  /** Sequence gaps that fell inside this call's bytes. */
  gaps?: number
}

export type CallErrorType = 'timeout' | 'connection' | 'dissection' | 'pair-not-found'

export interface DissectorLimits {
  /** Bytes of each body kept for previews and drill-down. */
  maxBodyBytes: number
  /** A header block longer than this is malformed (and memory stays bounded). */
  maxHeaderBytes: number
  /** Requests waiting for a response longer than this become timeout entries. */
  responseTimeoutMs: number
  /** Requests waiting on one connection at once (pipelining); beyond it the oldest is dropped. */
  maxPendingRequests: number
}

export const DEFAULT_DISSECTOR_LIMITS: DissectorLimits = {
  maxBodyBytes: 64 * 1024,
  maxHeaderBytes: 64 * 1024,
  responseTimeoutMs: 30_000,
  maxPendingRequests: 256,
}

export interface ConnectionInfo {
  readonly id: number
  readonly transport: 'tcp' | 'udp'
  readonly client: Peer
  readonly server: Peer
  /** Packet time of the connection's first packet. */
  readonly firstTs?: number
  /** TCP: time of the client's SYN, when the handshake was captured. */
  readonly synTs?: number | undefined
  /** TCP: the server answered the SYN. */
  readonly synAckSeen?: boolean
  /** TCP: which side sent a RST, if one did (0 client, 1 server). */
  readonly rstFrom?: Direction | undefined
}

export interface SessionContext {
  readonly conn: ConnectionInfo
  readonly limits: DissectorLimits
  emit(call: CallRecord): void
  /**
   * Hands the rest of the connection to another dissector (HTTP/1 `101 Switching Protocols` to
   * WebSocket or h2c). Returns the new session, or undefined when no dissector has that id; the
   * caller passes it any bytes it already holds that belong to the new protocol.
   */
  upgrade(dissectorId: string, init?: unknown): DissectorSession | undefined
  /**
   * Adds `n` to a counter kept across connections (EngineStats.counters; the agent exports them
   * as metrics), e.g. `http2_resyncs`: what a dissector did that no call shows by itself.
   */
  count(counter: string, n?: number): void
}

/** A dissector's state for one connection. Directions: 0 client → server, 1 server → client. */
export interface DissectorSession {
  onData(dir: Direction, data: Uint8Array, tsMs: number): void
  onGap(dir: Direction, length: number, tsMs: number): void
  /** Connection over: complete what can be completed, report the rest as errors. */
  onClose(tsMs: number, reason?: CloseReason): void
  /** Packet-time clock for timeouts. */
  onTick?(nowMs: number): void
}

/**
 * `match`: this protocol, roles as they are. `match-reversed`: this protocol, but the bytes came
 * from the server side (client and server must be swapped). `more`: cannot tell yet.
 */
export type ProbeVerdict = 'match' | 'match-reversed' | 'no' | 'more'

/** One protocol, the way Wireshark's dissector tables have one entry per protocol. */
export interface Dissector {
  readonly id: string
  readonly transport: 'tcp' | 'udp'
  /** Ports that make this dissector be tried first; detection by content still decides. */
  readonly portHints: readonly number[]
  /**
   * A fallback is never probed: it takes a connection (of its transport) that every other
   * dissector declined, or that closed before any decided, so nothing that moved is invisible.
   */
  readonly fallback?: boolean
  /** Looks at the first bytes seen in `dir`; must not keep `data`. */
  probe(data: Uint8Array, dir: Direction, conn: ConnectionInfo): ProbeVerdict
  /** `init` carries state from an upgrade (see SessionContext.upgrade); undefined otherwise. */
  newSession(ctx: SessionContext, init?: unknown): DissectorSession
}
