import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import type { RespValue } from './resp-parser.js'
import { renderResp, respText, RespParser } from './resp-parser.js'

interface PendingCommand {
  verb: string
  key: string
  line: string
  args: string[]
  size: number
  ts: number
  /** Replies this command gets: one per channel for (P|S)SUBSCRIBE / UNSUBSCRIBE (RESP "Pub/Sub"). */
  expect: number
  replies: RespValue[]
  respSize: number
  respTs: number | undefined
}

/** Commands whose first argument is not a key (or is a secret that must not be shown). */
const NO_KEY = new Set([
  'PING',
  'ECHO',
  'AUTH',
  'HELLO',
  'SELECT',
  'INFO',
  'CONFIG',
  'CLIENT',
  'COMMAND',
  'MULTI',
  'EXEC',
  'DISCARD',
  'DBSIZE',
  'FLUSHALL',
  'FLUSHDB',
  'QUIT',
  'SAVE',
  'BGSAVE',
  'BGREWRITEAOF',
  'TIME',
  'LASTSAVE',
  'MONITOR',
  'SCRIPT',
  'FUNCTION',
  'DEBUG',
  'ACL',
  'CLUSTER',
  'SCAN',
  'RESET',
  'WAIT',
  'MEMORY',
  'LATENCY',
  'SLOWLOG',
  'MODULE',
  'ROLE',
  'REPLICAOF',
  'SLAVEOF',
  'SHUTDOWN',
  'SWAPDB',
  'READONLY',
  'READWRITE',
  'UNWATCH',
  'EVAL',
  'EVALSHA',
  'FCALL',
  'PUBSUB',
  'LOLWUT',
])
const SUBSCRIBE = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE'])
const UNSUBSCRIBE = new Set(['UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE'])
const MESSAGE_KINDS = new Set(['message', 'pmessage', 'smessage'])
const SUBSCRIPTION_KINDS = new Set([
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
])
const MAX_KEY_BYTES = 64
const MAX_LINE_CHARS = 1024
/** Subscriptions remembered per connection (to know how many replies an argument-less UNSUBSCRIBE gets). */
const MAX_SUBSCRIPTIONS = 4096

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: false })

/** At most `max` UTF-8 bytes of `s`, cut on a character boundary. */
function truncateBytes(s: string, max: number): string {
  if (s.length * 3 <= max) return s
  const b = encoder.encode(s)
  if (b.length <= max) return s
  let end = max
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--
  return decoder.decode(b.subarray(0, end))
}

function commandLine(args: string[], verb: string): string {
  const shown = verb === 'AUTH' ? [args[0] ?? '', '****'] : args
  let line = ''
  for (let i = 0; i < shown.length && line.length < MAX_LINE_CHARS; i++) {
    let a = shown[i]!
    // HELLO 3 AUTH user pass: hide the password.
    if (verb === 'HELLO' && i > 0 && shown[i - 2]?.toUpperCase() === 'AUTH') a = '****'
    line += (i > 0 ? ' ' : '') + (a === '' || /[\s"]/.test(a) ? JSON.stringify(a) : a)
  }
  return line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) + '…' : line
}

/** One Redis connection: commands pair with replies in order (RESP "Request-Response model", pipelining). */
class RedisSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #req: RespParser
  readonly #resp: RespParser
  readonly #pending: PendingCommand[] = []
  readonly #channels = new Set<string>()
  readonly #patterns = new Set<string>()
  readonly #shards = new Set<string>()
  /** RESP2 pub/sub mode: replies may be message arrays instead of command replies. */
  #subscribed = false
  /** Replies still to come for commands dropped from a full queue (RESP replies are in order). */
  #skipReplies = 0

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    this.#req = new RespParser(
      { onValue: (v, size, ts) => this.#onCommand(v, size, ts), onError: () => undefined },
      true
    )
    this.#resp = new RespParser(
      { onValue: (v, size, ts) => this.#onReply(v, size, ts), onError: () => undefined },
      false
    )
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (dir === 0) this.#req.push(data, tsMs)
    else this.#resp.push(data, tsMs)
  }

  onGap(dir: Direction): void {
    // The stream lost bytes: framing is gone, and so is the request/reply order.
    if (dir === 0) this.#req.reset()
    else this.#resp.reset()
    this.#skipReplies = 0
    for (const p of this.#pending.splice(0))
      this.#emit(p, { type: 'dissection', message: 'capture gap' })
  }

  onClose(): void {
    for (const p of this.#pending.splice(0)) {
      if (p.replies.length > 0) this.#emit(p)
      else if (p.verb === 'QUIT') this.#emit(p)
      else this.#emit(p, { type: 'connection', message: 'connection closed before a reply' })
    }
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    while (this.#pending.length > 0 && nowMs - this.#pending[0]!.ts >= timeout) {
      const p = this.#pending.shift()!
      if (p.replies.length > 0) this.#emit(p)
      else this.#emit(p, { type: 'timeout', message: `no reply within ${timeout} ms` })
    }
  }

  #onCommand(v: RespValue, size: number, ts: number): void {
    if (v.t !== 'agg' || v.items === null || v.items.length === 0) return
    const args = v.items.map((x) => respText(x) ?? '')
    const verb = args[0]!.toUpperCase()
    const key = NO_KEY.has(verb) ? '' : truncateBytes(args[1] ?? '', MAX_KEY_BYTES)
    let expect = 1
    if (SUBSCRIBE.has(verb)) expect = Math.max(1, v.len - 1)
    else if (UNSUBSCRIBE.has(verb))
      expect = v.len > 1 ? v.len - 1 : Math.max(1, this.#subscriptionSet(verb).size)
    if (this.#pending.length >= this.#ctx.limits.maxPendingRequests) {
      // Drop the oldest, and skip its replies when they come, so later pairs stay in order.
      const dropped = this.#pending.shift()!
      this.#skipReplies += Math.max(0, dropped.expect - dropped.replies.length)
      this.#emit(dropped, {
        type: 'pair-not-found',
        message: 'too many commands waiting for a reply',
      })
    }
    this.#pending.push({
      verb,
      key,
      line: commandLine(args, verb),
      args: args.slice(0, 16),
      size,
      ts,
      expect,
      replies: [],
      respSize: 0,
      respTs: undefined,
    })
  }

  #subscriptionSet(kind: string): Set<string> {
    const k = kind.toLowerCase()
    return k.startsWith('p')
      ? this.#patterns
      : k.startsWith('s') && !k.startsWith('sub')
        ? this.#shards
        : this.#channels
  }

  #onReply(v: RespValue, size: number, ts: number): void {
    const isPush = v.t === 'agg' && v.kind === '>'
    const first = v.t === 'agg' && v.items ? respText(v.items[0])?.toLowerCase() : undefined
    const head = this.#pending[0]?.verb
    // RESP2 has no push type: arrays are pub/sub frames in subscribed mode or answering (UN)SUBSCRIBE.
    const pubsub =
      this.#subscribed || (head !== undefined && (SUBSCRIBE.has(head) || UNSUBSCRIBE.has(head)))
    if (v.t === 'agg' && v.items && first !== undefined && (isPush || (pubsub && v.kind === '*'))) {
      if (MESSAGE_KINDS.has(first)) return this.#onMessage(first, v.items, size, ts)
      if (SUBSCRIPTION_KINDS.has(first)) return this.#onSubscription(first, v.items, v, size, ts)
      // RESP3 out-of-band pushes (client tracking "invalidate", ...) are their own entries.
      if (isPush) return this.#standalone(first, respText(v.items[1]) ?? '', v, size, ts)
    }
    if (this.#skipReplies > 0) {
      this.#skipReplies--
      return
    }
    const p = this.#pending.shift()
    // A reply with no command (capture started mid-stream, MONITOR output) is not a call.
    if (p === undefined) return
    p.replies.push(v)
    p.respSize += size
    p.respTs = ts
    this.#emit(p)
  }

  /** `["message", channel, payload]` / `["pmessage", pattern, channel, payload]` (RESP "Pub/Sub"). */
  #onMessage(kind: string, items: RespValue[], size: number, ts: number): void {
    const channel = respText(kind === 'pmessage' ? items[2] : items[1]) ?? ''
    const payload = respText(kind === 'pmessage' ? items[3] : items[2]) ?? ''
    this.#standalone(
      'message',
      channel,
      { t: 'bulk', s: payload, len: payload.length },
      size,
      ts,
      kind
    )
  }

  #onSubscription(kind: string, items: RespValue[], v: RespValue, size: number, ts: number): void {
    const name = respText(items[1])
    const count = items[2]?.t === 'int' ? items[2].n : 0
    const set = this.#subscriptionSet(kind)
    if (kind.includes('unsub')) {
      if (name !== undefined) set.delete(name)
    } else if (name !== undefined && set.size < MAX_SUBSCRIPTIONS) set.add(name)
    this.#subscribed = count > 0
    const p = this.#pending[0]
    if (p === undefined || p.verb !== kind.toUpperCase()) return
    p.replies.push(v)
    p.respSize += size
    p.respTs ??= ts
    if (
      p.replies.length >= p.expect ||
      (kind.includes('unsub') && count === 0 && p.args.length <= 1)
    ) {
      this.#pending.shift()
      this.#emit(p)
    }
  }

  #standalone(
    method: string,
    channel: string,
    v: RespValue,
    size: number,
    ts: number,
    kind = method
  ): void {
    const key = truncateBytes(channel, MAX_KEY_BYTES)
    const shown = renderResp(v)
    const call: CallRecord = {
      proto: 'redis',
      reqTs: ts,
      respTs: ts,
      method,
      path: key,
      status: 0,
      reqBodySize: 0,
      respBodySize: size,
      respBody: encoder.encode(shown),
      summary: `${kind} ${channel}: ${shown}`,
      attrs: [
        { name: 'redis_type', str: method },
        { name: 'redis_command', str: kind },
        { name: 'redis_key', str: key },
        { name: 'redis_request_size', num: 0 },
        { name: 'redis_response_size', num: size },
        { name: 'redis_total_size', num: size },
      ],
    }
    this.#ctx.emit(call)
  }

  #emit(p: PendingCommand, error?: CallRecord['error']): void {
    const reply =
      p.replies.length === 1
        ? p.replies[0]
        : p.replies.length > 1
          ? ({ t: 'agg', kind: '*', items: p.replies, len: p.replies.length } as RespValue)
          : undefined
    const failed = p.replies.some((r) => r.t === 'error')
    const shown = reply ? renderResp(reply) : ''
    const attrs: Attr[] = [
      { name: 'redis_type', str: p.verb },
      { name: 'redis_command', str: p.line },
      { name: 'redis_key', str: p.key },
      { name: 'redis_request_size', num: p.size },
      { name: 'redis_response_size', num: p.respSize },
      { name: 'redis_total_size', num: p.size + p.respSize },
    ]
    const call: CallRecord = {
      proto: 'redis',
      reqTs: p.ts,
      respTs: p.respTs,
      method: p.verb,
      path: p.key,
      status: failed ? 1 : 0,
      reqBody: encoder.encode(p.line),
      reqBodySize: p.size,
      respBody: encoder.encode(shown),
      respBodySize: p.respSize,
      summary: reply ? `${p.line} → ${shown.slice(0, 120)}` : p.line,
      attrs,
    }
    if (error) call.error = error
    this.#ctx.emit(call)
  }
}

const INLINE_VERBS =
  /^(PING|GET|SET|DEL|INCR|DECR|EXISTS|KEYS|INFO|AUTH|SELECT|HELLO|QUIT|MGET|MSET|HGET|HSET|LPUSH|RPUSH|LPOP|RPOP|EXPIRE|TTL|SUBSCRIBE|PUBLISH|ECHO|FLUSHALL|FLUSHDB|DBSIZE|CLIENT|CONFIG)(\s|\r?$)/i

/** Multibulk `*<n>\r\n$<len>\r\n...` (or a known inline command) from the client. */
function probeRedis(data: Uint8Array, dir: Direction, serverPort: number): ProbeVerdict {
  if (data.length === 0) return 'more'
  if (dir === 1) {
    // The server never speaks first; a reply first means the capture began mid-connection.
    if (serverPort !== 6379) return 'no'
    return data[0] === 0x2b || data[0] === 0x2d || data[0] === 0x3a || data[0] === 0x24
      ? 'match'
      : 'no'
  }
  if (data[0] === 0x2a) {
    let i = 1
    while (i < data.length && i < 12 && data[i]! >= 0x30 && data[i]! <= 0x39) i++
    if (i === 1 && data.length > 1) return 'no'
    if (i + 2 >= data.length) return data.length < 16 ? 'more' : 'no'
    if (data[i] !== 0x0d || data[i + 1] !== 0x0a) return 'no'
    return data[i + 2] === 0x24 ? 'match' : 'no'
  }
  let line = ''
  for (let i = 0; i < Math.min(data.length, 64); i++) {
    const c = data[i]!
    if (c === 0x0a) break
    line += String.fromCharCode(c)
  }
  if (INLINE_VERBS.test(line) && !/ HTTP\/\d/.test(line) && data.includes(0x0a)) return 'match'
  return 'no'
}

/** Redis RESP2/RESP3 over TCP, port 6379 first and any port by content. */
export const redisDissector: Dissector = {
  id: 'redis',
  transport: 'tcp',
  portHints: [6379, 6380, 26379],
  probe: (data, dir, conn) => probeRedis(data, dir, conn.server.port),
  newSession: (ctx) => new RedisSession(ctx),
}
