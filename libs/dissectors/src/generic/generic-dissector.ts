import type { Attr } from '@tapwire/wire'
import type { CloseReason, Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  ConnectionInfo,
  Dissector,
  DissectorSession,
  SessionContext,
} from '../engine/types.js'
import { latin1 } from '../util/bytes.js'
import { num, str } from './attrs.js'

/** Payload bytes kept per direction for `tcp_payload` / `udp_payload` and the body previews. */
const PREVIEW_BYTES = 1024
class Side {
  bytes = 0
  chunks = 0
  gaps = 0
  first: number | undefined
  readonly preview: Uint8Array[] = []
  kept = 0

  add(data: Uint8Array, ts: number, keep: number): void {
    this.first ??= ts
    this.bytes += data.length
    this.chunks++
    if (this.kept < keep) {
      const take = data.subarray(0, keep - this.kept)
      this.preview.push(take.slice())
      this.kept += take.length
    }
  }

  joined(): Uint8Array {
    const out = new Uint8Array(this.kept)
    let o = 0
    for (const p of this.preview) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}

/**
 * How a connection ended, in the terms of RFC 9293: refused (the SYN was answered by a RST),
 * unanswered (no SYN-ACK before the idle timeout), or reset by one side.
 */
function closeError(conn: ConnectionInfo, reason: CloseReason | undefined, sent: number, received: number): { errorType: string; message: string } {
  const handshakeSeen = conn.synTs !== undefined
  if (handshakeSeen && !conn.synAckSeen && sent + received === 0) {
    if (reason === 'rst') return { errorType: 'refused', message: 'connection refused (RST in answer to SYN)' }
    if (reason === 'timeout') return { errorType: 'timeout', message: 'no answer to SYN' }
  }
  if (reason !== 'rst') return { errorType: '', message: '' }
  const by = conn.rstFrom === 1 ? ' by the server' : conn.rstFrom === 0 ? ' by the client' : ''
  const message =
    sent + received === 0
      ? `connection reset${by} before any data`
      : received === 0
        ? `connection reset${by} before the server sent any data`
        : `connection reset${by} after ${sent} bytes sent and ${received} received`
  return { errorType: 'reset', message }
}

/** One TCP connection no dissector recognised: one entry when it closes (RFC 9293 states). */
export class GenericTcpSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #sides: [Side, Side] = [new Side(), new Side()]
  #last = 0
  #done = false

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    this.#sides[dir].add(data, tsMs, Math.min(PREVIEW_BYTES, this.#ctx.limits.maxBodyBytes))
    this.#last = tsMs
  }

  onGap(dir: Direction, length: number, tsMs: number): void {
    const s = this.#sides[dir]
    s.bytes += length
    s.gaps++
    this.#last = tsMs
  }

  onClose(tsMs: number, reason?: CloseReason): void {
    if (this.#done) return
    this.#done = true
    const conn = this.#ctx.conn
    const [c, s] = this.#sides
    const start = conn.synTs ?? conn.firstTs ?? c.first ?? s.first ?? tsMs
    const { errorType, message } = closeError(conn, reason, c.bytes, s.bytes)
    const attrs: Attr[] = [
      str('tcp_method', 'connection'),
      str('tcp_payload', latin1(c.joined())),
      str('tcp_error_type', errorType),
      str('tcp_error_message', message),
      str('tcp_close_reason', reason ?? ''),
      num('tcp_bytes_sent', c.bytes),
      num('tcp_bytes_received', s.bytes),
    ]
    const call: CallRecord = {
      proto: 'tcp',
      reqTs: start,
      respTs: Math.max(start, this.#last, tsMs),
      method: 'connection',
      reqBody: c.joined(),
      respBody: s.joined(),
      reqBodySize: c.bytes,
      respBodySize: s.bytes,
      reqBodyTruncated: c.bytes > c.kept,
      respBodyTruncated: s.bytes > s.kept,
      summary: `${c.bytes} B sent, ${s.bytes} B received${errorType ? `, ${errorType}` : ''}`,
      attrs,
    }
    if (errorType) call.error = { type: errorType === 'timeout' ? 'timeout' : 'connection', message }
    if (c.gaps + s.gaps > 0) call.gaps = c.gaps + s.gaps
    this.#ctx.emit(call)
  }
}

/** One UDP flow no dissector recognised: one entry when the flow times out or capture ends. */
export class GenericUdpSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #sides: [Side, Side] = [new Side(), new Side()]
  #firstLength = 0
  #last = 0
  #done = false

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#sides[0].chunks + this.#sides[1].chunks === 0) this.#firstLength = data.length + 8
    this.#sides[dir].add(data, tsMs, Math.min(PREVIEW_BYTES, this.#ctx.limits.maxBodyBytes))
    this.#last = tsMs
  }

  onGap(): void {
    // Datagrams have no sequence numbers: nothing to count.
  }

  onClose(tsMs: number): void {
    if (this.#done) return
    this.#done = true
    const [c, s] = this.#sides
    const start = c.first ?? s.first ?? tsMs
    const call: CallRecord = {
      proto: 'udp',
      reqTs: start,
      respTs: Math.max(start, this.#last),
      method: 'flow',
      reqBody: c.joined(),
      respBody: s.joined(),
      reqBodySize: c.bytes,
      respBodySize: s.bytes,
      reqBodyTruncated: c.bytes > c.kept,
      respBodyTruncated: s.bytes > s.kept,
      summary: `${c.chunks} datagrams sent (${c.bytes} B), ${s.chunks} received (${s.bytes} B)`,
      attrs: [
        // UDP length of the first datagram (RFC 768: header plus data).
        num('udp_length', this.#firstLength),
        str('udp_payload', latin1(c.chunks > 0 ? c.joined() : s.joined())),
        num('udp_datagrams_sent', c.chunks),
        num('udp_datagrams_received', s.chunks),
      ],
    }
    this.#ctx.emit(call)
  }
}

/** Fallback for TCP connections no dissector recognised. */
export const genericTcpDissector: Dissector = {
  id: 'tcp',
  transport: 'tcp',
  portHints: [],
  fallback: true,
  // Never probed (the engine pins a fallback when everything else declined).
  probe: () => 'match',
  newSession: (ctx) => new GenericTcpSession(ctx),
}

/** Fallback for UDP flows no dissector recognised. */
export const genericUdpDissector: Dissector = {
  id: 'udp',
  transport: 'udp',
  portHints: [],
  fallback: true,
  probe: () => 'match',
  newSession: (ctx) => new GenericUdpSession(ctx),
}
