import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import type { DnsMessage } from './dns-message.js'
import { parseDns, plausibleDns, rcodeName, typeName } from './dns-message.js'

interface PendingQuery {
  msg: DnsMessage
  size: number
  ts: number
}

/** Largest DNS message over TCP: the 2-byte length prefix (RFC 1035 §4.2.2). */
const MAX_TCP_MESSAGE = 0xffff

/**
 * One DNS "connection": a UDP 5-tuple (one datagram per `onData`, RFC 1035 §4.2.1) or a TCP
 * stream of length-prefixed messages (§4.2.2). Queries pair with responses by message id.
 */
class DnsSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #tcp: boolean
  readonly #pending = new Map<number, PendingQuery>()
  /** TCP framing state per direction: bytes of the message being assembled. */
  readonly #frames: [TcpFramer, TcpFramer]

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    this.#tcp = ctx.conn.transport === 'tcp'
    this.#frames = [new TcpFramer(), new TcpFramer()]
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (!this.#tcp) return this.#onMessage(dir, data, tsMs)
    this.#frames[dir].push(data, tsMs, (msg, ts) => this.#onMessage(dir, msg, ts))
  }

  onGap(dir: Direction): void {
    // A hole in a TCP stream loses the framing: resynchronise at the next segment.
    if (this.#tcp) this.#frames[dir].reset()
  }

  onClose(_tsMs: number): void {
    const type = this.#tcp ? 'connection' : 'timeout'
    const message = this.#tcp
      ? 'connection closed before a response'
      : 'no response before the flow ended'
    for (const q of this.#pending.values()) this.#emit(q, undefined, { type, message })
    this.#pending.clear()
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const [id, q] of this.#pending) {
      if (nowMs - q.ts < timeout) continue
      this.#pending.delete(id)
      this.#emit(q, undefined, { type: 'timeout', message: `no response within ${timeout} ms` })
    }
  }

  #onMessage(dir: Direction, data: Uint8Array, tsMs: number): void {
    const msg = parseDns(data)
    if (msg === undefined) return
    if (!msg.response) {
      if (dir !== 0) return
      const old = this.#pending.get(msg.id)
      if (old !== undefined) {
        // Same id again: a retransmission (the earlier one went unanswered so far).
        this.#pending.delete(msg.id)
        this.#emit(old, undefined, {
          type: 'timeout',
          message: 'query retransmitted without a response',
        })
      }
      if (this.#pending.size >= this.#ctx.limits.maxPendingRequests) {
        const [oldestId, oldest] = this.#pending.entries().next().value as [number, PendingQuery]
        this.#pending.delete(oldestId)
        this.#emit(oldest, undefined, {
          type: 'pair-not-found',
          message: 'too many queries waiting for a response',
        })
      }
      this.#pending.set(msg.id, { msg, size: data.length, ts: tsMs })
      return
    }
    const q = this.#pending.get(msg.id)
    // A response without its query (capture started late, or spoofed) is not a call.
    if (q === undefined) return
    this.#pending.delete(msg.id)
    this.#emit(q, { msg, size: data.length, ts: tsMs })
  }

  #emit(q: PendingQuery, r: PendingQuery | undefined, error?: CallRecord['error']): void {
    const first = q.msg.questions[0]
    const qtype = first ? typeName(first.type) : 'QUERY'
    const name = first?.name ?? ''
    const answers = r ? r.msg.answers.map((a) => a.data) : []
    const respSize = r?.size ?? 0
    const attrs: Attr[] = [
      { name: 'dns_questions', list: { values: q.msg.questions.map((x) => x.name) } },
      { name: 'dns_answers', list: { values: answers } },
      {
        name: 'dns_question_types',
        list: { values: q.msg.questions.map((x) => typeName(x.type)) },
      },
      { name: 'dns_request', flag: true },
      { name: 'dns_response', flag: r !== undefined },
      { name: 'dns_request_length', num: q.size },
      { name: 'dns_response_length', num: respSize },
      { name: 'dns_total_size', num: q.size + respSize },
    ]
    let summary = `${qtype} ${name}`
    if (r)
      summary +=
        r.msg.rcode === 0
          ? answers.length > 0
            ? ` → ${answers.slice(0, 4).join(', ')}`
            : ' (no answers)'
          : ` ${rcodeName(r.msg.rcode)}`
    const call: CallRecord = {
      proto: 'dns',
      reqTs: q.ts,
      respTs: r?.ts,
      method: qtype,
      path: name,
      status: r ? r.msg.rcode : 0,
      reqBodySize: q.size,
      respBodySize: respSize,
      summary,
      attrs,
    }
    if (error) call.error = error
    this.#ctx.emit(call)
  }
}

/** Splits a TCP byte stream into 2-byte-length-prefixed DNS messages (RFC 1035 §4.2.2). */
class TcpFramer {
  #buf = new Uint8Array(0)
  #ts = 0

  reset(): void {
    this.#buf = new Uint8Array(0)
  }

  push(data: Uint8Array, tsMs: number, onMessage: (msg: Uint8Array, ts: number) => void): void {
    let buf: Uint8Array
    if (this.#buf.length === 0) {
      buf = data
      this.#ts = tsMs
    } else {
      buf = new Uint8Array(this.#buf.length + data.length)
      buf.set(this.#buf)
      buf.set(data, this.#buf.length)
    }
    let pos = 0
    while (buf.length - pos >= 2) {
      const len = (buf[pos]! << 8) | buf[pos + 1]!
      if (buf.length - pos < 2 + len) break
      onMessage(buf.subarray(pos + 2, pos + 2 + len), this.#ts)
      pos += 2 + len
      this.#ts = tsMs
    }
    // At most one partial message (≤ 64 KiB + 2) is ever kept.
    const rest = buf.subarray(pos)
    this.#buf =
      rest.length > 0 && rest.length <= MAX_TCP_MESSAGE + 2 ? rest.slice() : new Uint8Array(0)
  }
}

function probeMessage(msg: Uint8Array, dir: Direction): ProbeVerdict {
  if (!plausibleDns(msg)) return 'no'
  const response = (msg[2]! & 0x80) !== 0
  // A query travels client → server; a response seen first means the roles are swapped.
  return response === (dir === 1) ? 'match' : 'match-reversed'
}

/** DNS over UDP (RFC 1035 §4.2.1): port 53 first, and any port whose datagrams parse as DNS. */
export const dnsUdpDissector: Dissector = {
  id: 'dns',
  transport: 'udp',
  portHints: [53, 5353, 5355],
  probe: (data, dir) => probeMessage(data, dir),
  newSession: (ctx) => new DnsSession(ctx),
}

/** DNS over TCP (RFC 1035 §4.2.2, RFC 7766): length-prefixed messages. */
export const dnsTcpDissector: Dissector = {
  id: 'dns-tcp',
  transport: 'tcp',
  portHints: [53],
  probe(data, dir) {
    if (data.length < 2) return 'more'
    const len = (data[0]! << 8) | data[1]!
    if (len < 17) return 'no'
    if (data.length < 2 + Math.min(len, 64)) return 'more'
    // The question sits near the start: judge on what arrived if the message is long.
    return probeMessage(data.subarray(2, 2 + len), dir)
  },
  newSession: (ctx) => new DnsSession(ctx),
}
