import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import type { PgMessage } from './pg-framer.js'
import { BodyReader, PgFramer } from './pg-framer.js'

// Protocol codes of the untyped startup-phase messages (§55.7).
const PROTOCOL_3 = 196608 // 3.0: StartupMessage
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102

/** Bytes of each message body kept: enough for query text, statement and portal names. */
const KEEP_CLIENT = 16 * 1024
const KEEP_SERVER = 2 * 1024
const MAX_QUERY_CHARS = 4096
const MAX_STATEMENTS = 1024
const MAX_ITEMS = 1024
const MAX_TAGS = 8

interface ErrorInfo {
  code: string
  message: string
}

/** One extended-query message (Parse, Bind, Describe, Execute, Close, Sync) waiting for its answer. */
interface Item {
  type: string
  query: string
  reqSize: number
  reqTs: number
  respSize: number
  respTs: number | undefined
  tags: string[]
  rows: number
  done: boolean
  error: ErrorInfo | undefined
}

/** Client messages answered together: a Q up to ReadyForQuery, or extended messages up to Sync. */
interface Batch {
  kind: 'startup' | 'simple' | 'extended' | 'function' | 'cancel'
  items: Item[]
  /** The client finished sending this batch (Q, Sync, StartupMessage). */
  closed: boolean
  ssl: string
  error: ErrorInfo | undefined
}

const decoder = new TextDecoder('utf-8', { fatal: false })

const bound = (s: string): string =>
  s.length > MAX_QUERY_CHARS ? s.slice(0, MAX_QUERY_CHARS) + '…' : s

/** "SELECT 3" → ["SELECT", 3]; "INSERT 0 1" → ["INSERT", 1]; "CREATE TABLE" → ["CREATE TABLE", 0] (§55.7 CommandComplete). */
export function splitTag(tag: string): { verb: string; rows: number } {
  const m = /^(.*?)((?: \d+)*)$/.exec(tag)
  const verb = (m?.[1] ?? tag).trim()
  const nums = (m?.[2] ?? '').trim().split(' ').filter(Boolean)
  return { verb: verb || tag, rows: nums.length > 0 ? Number(nums[nums.length - 1]) : 0 }
}

function parseError(body: Uint8Array): ErrorInfo {
  // §55.8 "Error and Notice Message Fields": (Byte1 code, String value)* then a zero byte.
  const r = new BodyReader(body, decoder)
  const out: ErrorInfo = { code: '', message: '' }
  for (;;) {
    const f = r.byte()
    if (f === undefined || f === 0) break
    const v = r.cstring() ?? ''
    if (f === 0x43)
      out.code = v // 'C' SQLSTATE
    else if (f === 0x4d) out.message = v // 'M' primary message
  }
  return out
}

const newItem = (type: string, m: PgMessage, query = ''): Item => ({
  type,
  query,
  reqSize: m.size,
  reqTs: m.ts,
  respSize: 0,
  respTs: undefined,
  tags: [],
  rows: 0,
  done: false,
  error: undefined,
})

// §55.7 message type bytes, per side: what a message may start with after a capture gap.
const FRONTEND_TYPES = new Set([...'QPBEDCSHXFpdcf'].map((c) => c.charCodeAt(0)))
const BACKEND_TYPES = new Set([...'RSKZTDCEIN123nstAGHWVcd'].map((c) => c.charCodeAt(0)))
/**
 * Whether `data` starts with a whole typed message of this side, ending with the data or followed
 * by another plausible message start; a segment that begins mid-message rarely passes. A message
 * longer than the segment is not taken as a resync point (the next segment will do).
 */
function startsMessage(data: Uint8Array, types: ReadonlySet<number>): boolean {
  if (data.length < 5 || !types.has(data[0]!)) return false
  const len = ((data[1]! << 24) | (data[2]! << 16) | (data[3]! << 8) | data[4]!) >>> 0
  const next = 1 + len
  if (len < 4 || next > data.length) return false
  return next === data.length || types.has(data[next]!)
}

/** One PostgreSQL connection (protocol 3.0). */
class PgSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #client: PgFramer
  readonly #server: PgFramer
  readonly #batches: Batch[] = []
  readonly #statements = new Map<string, string>()
  readonly #portals = new Map<string, string>()
  #user = ''
  #database = ''
  /** Batches dropped from a full queue whose answers are still to come. */
  #skipBatches = 0
  /** TLS was accepted: the rest is ciphertext. */
  #encrypted = false
  /** Per direction: a capture gap lost the framing; waiting for a segment that starts a message. */
  readonly #resync: [boolean, boolean] = [false, false]

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    this.#client = new PgFramer('untyped', KEEP_CLIENT, (m) => this.#onClient(m))
    this.#server = new PgFramer('typed', KEEP_SERVER, (m) => this.#onServer(m))
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#encrypted) return
    const framer = dir === 0 ? this.#client : this.#server
    if (this.#resync[dir]) {
      // Senders write whole messages per segment in practice, so after a gap the framing comes
      // back at the first segment that starts like a message of this side (what Wireshark's
      // per-segment decoding relies on too); segments before it are skipped.
      if (!startsMessage(data, dir === 0 ? FRONTEND_TYPES : BACKEND_TYPES)) return
      this.#resync[dir] = false
      framer.reset()
      framer.broken = false
    }
    framer.push(data, tsMs)
  }

  onGap(dir: Direction): void {
    // What was waiting cannot be paired any more.
    this.#flushAll({ type: 'dissection', message: 'capture gap' })
    // In the startup phase (untyped messages, the one-byte SSL answer) there is nothing to resync
    // on: give the connection up. After it, every message is typed and self-delimiting.
    if (this.#client.mode !== 'typed' || this.#server.mode !== 'typed') this.#encrypted = true
    else this.#resync[dir] = true
  }

  onClose(): void {
    this.#flushAll({ type: 'connection', message: 'connection closed before ReadyForQuery' })
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    while (this.#batches.length > 0) {
      const b = this.#batches[0]!
      const first = b.items[0]
      if (
        !b.closed ||
        first === undefined ||
        first.respTs !== undefined ||
        nowMs - first.reqTs < timeout
      )
        break
      this.#batches.shift()
      this.#finish(b, { type: 'timeout', message: `no response within ${timeout} ms` })
    }
  }

  #flushAll(error: CallRecord['error']): void {
    for (const b of this.#batches.splice(0)) {
      // A cancel request is never answered; a batch with a response got cut short.
      this.#finish(b, b.kind === 'cancel' ? undefined : error)
    }
  }

  #newBatch(kind: Batch['kind']): Batch {
    if (this.#batches.length >= this.#ctx.limits.maxPendingRequests) {
      // Drop the oldest and skip its answer up to its ReadyForQuery, so later pairs stay in order.
      const dropped = this.#batches.shift()!
      if (dropped.kind !== 'cancel') this.#skipBatches++
      this.#finish(dropped, {
        type: 'pair-not-found',
        message: 'too many requests waiting for a response',
      })
    }
    const b: Batch = { kind, items: [], closed: false, ssl: '', error: undefined }
    this.#batches.push(b)
    return b
  }

  /** The batch the client is still adding extended-query messages to. */
  #openBatch(): Batch {
    const last = this.#batches[this.#batches.length - 1]
    return last !== undefined && last.kind === 'extended' && !last.closed
      ? last
      : this.#newBatch('extended')
  }

  #onClient(m: PgMessage): void {
    if (m.type === 0) return this.#onUntyped(m)
    const r = new BodyReader(m.body, decoder)
    const t = String.fromCharCode(m.type)
    switch (t) {
      case 'Q': {
        // Query (§55.7): one String, possibly several statements (§55.2.2.1).
        const b = this.#newBatch('simple')
        b.items.push(newItem('Query', m, bound(r.cstring() ?? '')))
        b.closed = true
        return
      }
      case 'P': {
        // Parse: statement name, query, parameter types.
        const name = r.cstring() ?? ''
        const query = bound(r.cstring() ?? '')
        this.#remember(this.#statements, name, query)
        return this.#addItem(newItem('Parse', m, query))
      }
      case 'B': {
        // Bind: portal name, statement name, parameters...
        const portal = r.cstring() ?? ''
        const stmt = r.cstring() ?? ''
        const query = this.#statements.get(stmt) ?? ''
        this.#remember(this.#portals, portal, query)
        return this.#addItem(newItem('Bind', m, query))
      }
      case 'D': {
        // Describe: 'S' statement or 'P' portal, then its name.
        const what = r.byte()
        const name = r.cstring() ?? ''
        const query = (what === 0x53 ? this.#statements : this.#portals).get(name) ?? ''
        return this.#addItem(newItem('Describe', m, query))
      }
      case 'E': {
        // Execute: portal name, row limit.
        const portal = r.cstring() ?? ''
        return this.#addItem(newItem('Execute', m, this.#portals.get(portal) ?? ''))
      }
      case 'C': {
        // Close: 'S' statement or 'P' portal, then its name.
        const what = r.byte()
        const name = r.cstring() ?? ''
        const map = what === 0x53 ? this.#statements : this.#portals
        const query = map.get(name) ?? ''
        map.delete(name)
        return this.#addItem(newItem('Close', m, query))
      }
      case 'S': {
        // Sync: ends the extended-query batch; ReadyForQuery answers it (§55.2.3).
        const b = this.#openBatch()
        this.#addItem(newItem('Sync', m))
        b.closed = true
        return
      }
      case 'F': {
        const b = this.#newBatch('function')
        b.items.push(newItem('FunctionCall', m))
        b.closed = true
        return
      }
      case 'H': // Flush: no response of its own
      case 'p': // PasswordMessage / SASLInitialResponse / SASLResponse: part of the startup
      case 'd': // CopyData
      case 'c': // CopyDone
      case 'f': {
        // CopyFail
        const last = this.#batches[this.#batches.length - 1]
        const item = last?.items[last.items.length - 1]
        if (item) item.reqSize += m.size
        return
      }
      default:
        // 'X' Terminate and anything unknown: nothing to pair.
        return
    }
  }

  #remember(map: Map<string, string>, name: string, query: string): void {
    map.delete(name)
    if (map.size >= MAX_STATEMENTS) map.delete(map.keys().next().value!)
    map.set(name, query)
  }

  #addItem(item: Item): void {
    const b = this.#openBatch()
    if (b.items.length < MAX_ITEMS) b.items.push(item)
    else b.items[b.items.length - 1]!.reqSize += item.reqSize
  }

  #onUntyped(m: PgMessage): void {
    const r = new BodyReader(m.body, decoder)
    const code = r.int32()
    const last = this.#batches[this.#batches.length - 1]
    const startup = last?.kind === 'startup' && !last.closed ? last : undefined
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      // §55.2.10 / §55.2.11: the server answers with one byte; the StartupMessage follows.
      const b = startup ?? this.#newBatch('startup')
      if (b.items.length === 0) b.items.push(newItem('Startup', m))
      else b.items[0]!.reqSize += m.size
      b.ssl = code === SSL_REQUEST ? 'SSLRequest' : 'GSSENCRequest'
      this.#server.mode = 'byte'
      return
    }
    if (code === CANCEL_REQUEST) {
      const b = this.#newBatch('cancel')
      b.items.push(newItem('CancelRequest', m))
      b.closed = true
      return
    }
    if (code !== undefined && code >>> 16 === PROTOCOL_3 >>> 16) {
      // StartupMessage: (name, value) pairs up to a zero byte (§55.7).
      for (;;) {
        const name = r.cstring()
        if (name === undefined || name === '') break
        const value = r.cstring() ?? ''
        if (name === 'user') this.#user = value
        else if (name === 'database') this.#database = value
      }
      // The database defaults to the user name (§55.7 StartupMessage).
      if (this.#database === '') this.#database = this.#user
      const b = startup ?? this.#newBatch('startup')
      if (b.items.length === 0) b.items.push(newItem('Startup', m))
      else b.items[0]!.reqSize += m.size
      b.closed = true
      this.#client.mode = 'typed'
      return
    }
    this.#client.broken = true
  }

  #onServer(m: PgMessage): void {
    if (this.#skipBatches > 0) {
      if (m.type === 0x5a) this.#skipBatches-- // 'Z' ends a dropped batch's answer
      return
    }
    const b = this.#batches.find((x) => x.kind !== 'cancel')
    if (b === undefined) return
    const t = String.fromCharCode(m.type)
    if (m.size === 1 && b.kind === 'startup' && b.ssl !== '' && b.ssl.length < 16) {
      // The one-byte answer to SSLRequest/GSSENCRequest.
      const item = b.items[0]!
      item.respSize += 1
      item.respTs ??= m.ts
      if (t === 'N') b.ssl += ' refused'
      else {
        b.ssl += ' accepted'
        this.#encrypted = true
        this.#batches.splice(this.#batches.indexOf(b), 1)
        this.#finish(b)
      }
      return
    }
    // The item this message answers: the first one not yet complete (extended), else the batch's.
    const item =
      b.kind === 'extended'
        ? (b.items.find((x) => !x.done) ?? b.items[b.items.length - 1])
        : b.items[0]
    if (item === undefined) return
    item.respSize += m.size
    item.respTs ??= m.ts
    const r = new BodyReader(m.body, decoder)
    switch (t) {
      case '1': // ParseComplete
      case '2': // BindComplete
      case '3': // CloseComplete
      case 'n': // NoData
        if (b.kind === 'extended') item.done = true
        return
      case 'T': // RowDescription: answers a Describe, or precedes rows
        if (b.kind === 'extended' && item.type === 'Describe') item.done = true
        return
      case 'D': // DataRow
        item.rows++
        return
      case 'C': {
        // CommandComplete: the command tag.
        const tag = r.cstring() ?? ''
        if (item.tags.length < MAX_TAGS) item.tags.push(tag)
        if (b.kind === 'extended') item.done = true
        return
      }
      case 'I': // EmptyQueryResponse
      case 's': // PortalSuspended
        if (b.kind === 'extended') item.done = true
        return
      case 'E': {
        const err = parseError(m.body)
        item.error ??= err
        b.error ??= err
        if (b.kind === 'extended') {
          // §55.2.3: after an error the backend discards messages up to Sync.
          for (const x of b.items) if (x.type !== 'Sync') x.done = true
        }
        if (b.kind === 'startup') {
          this.#batches.splice(this.#batches.indexOf(b), 1)
          this.#finish(b)
        }
        return
      }
      case 'Z': {
        // ReadyForQuery ends the batch (§55.2.2, §55.2.3).
        this.#batches.splice(this.#batches.indexOf(b), 1)
        this.#finish(b)
        return
      }
      default:
        // R, S, K, N, A, t, G, H, W, d, c, V: sizes only.
        return
    }
  }

  #finish(b: Batch, error?: CallRecord['error']): void {
    if (b.items.length === 0) return
    if (b.kind !== 'extended') return this.#emitItems(b, b.items, error)
    const executes = b.items.filter((x) => x.type === 'Execute')
    if (executes.length === 0) return this.#emitItems(b, b.items, error)
    // One entry per Execute, carrying the Parse/Bind/Describe before it (and the Sync after the last).
    let group: Item[] = []
    let seen = 0
    for (const x of b.items) {
      group.push(x)
      if (x.type === 'Execute' && ++seen < executes.length) {
        this.#emitItems(b, group, error)
        group = []
      }
    }
    this.#emitItems(b, group, error)
  }

  #emitItems(b: Batch, items: Item[], error?: CallRecord['error']): void {
    const main =
      items.find((x) => x.type === 'Execute') ?? items.find((x) => x.type === 'Parse') ?? items[0]!
    let reqSize = 0
    let respSize = 0
    let respTs: number | undefined
    let err: ErrorInfo | undefined
    for (const x of items) {
      reqSize += x.reqSize
      respSize += x.respSize
      if (x.respTs !== undefined && (respTs === undefined || x.respTs < respTs)) respTs = x.respTs
      err ??= x.error
    }
    // In a batch an error aborts every Execute after it (§55.2.3).
    if (
      err === undefined &&
      b.kind === 'extended' &&
      b.error !== undefined &&
      main.type === 'Execute' &&
      main.tags.length === 0
    )
      err = b.error
    const query = main.query || (items.find((x) => x.query !== '')?.query ?? '')
    const verbs = main.tags.map((t) => splitTag(t))
    let command: string
    if (b.kind === 'startup') command = 'STARTUP'
    else if (b.kind === 'cancel') command = 'CANCEL'
    else command = verbs.map((v) => v.verb).join(';')
    const method =
      b.kind === 'startup'
        ? 'Startup'
        : b.kind === 'cancel'
          ? 'CancelRequest'
          : command || main.type
    const failed = err !== undefined || (error !== undefined && b.kind !== 'cancel')
    const attrs: Attr[] = [
      { name: 'postgresql_command', str: command || main.type.toUpperCase() },
      { name: 'postgresql_query', str: query },
      { name: 'postgresql_database', str: this.#database },
      { name: 'postgresql_user', str: this.#user },
      { name: 'postgresql_request_size', num: reqSize },
      { name: 'postgresql_response_size', num: respSize },
      { name: 'postgresql_total_size', num: reqSize + respSize },
      { name: 'postgresql_success', flag: !failed },
    ]
    if (err) {
      attrs.push(
        { name: 'postgresql_error_code', str: err.code },
        { name: 'postgresql_error_message', str: err.message }
      )
    }
    let summary: string
    if (b.kind === 'startup')
      summary = `${this.#user}@${this.#database}${b.ssl ? ` (${b.ssl})` : ''}`
    else summary = query.length > 160 ? query.slice(0, 160) + '…' : query
    if (err) summary += ` → ${err.code} ${err.message}`
    else if (main.tags.length > 0) summary += ` → ${main.tags.join(', ')}`
    const call: CallRecord = {
      proto: 'postgresql',
      reqTs: items[0]!.reqTs,
      respTs,
      method,
      path: b.kind === 'startup' ? this.#database : query,
      status: failed ? 1 : 0,
      reqBodySize: reqSize,
      respBodySize: respSize,
      summary,
      attrs,
    }
    if (error && b.kind !== 'cancel') call.error = error
    this.#ctx.emit(call)
  }
}

/** StartupMessage, SSLRequest, GSSENCRequest or CancelRequest from the client (§55.7). */
function probePg(d: Uint8Array, dir: Direction): ProbeVerdict {
  if (dir !== 0) return 'no'
  if (d.length < 8) return 'more'
  const len = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0
  const code = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0
  if ((code === SSL_REQUEST || code === GSSENC_REQUEST) && len === 8) return 'match'
  if (code === CANCEL_REQUEST && len === 16) return 'match'
  if (code === PROTOCOL_3 && len >= 9 && len < 10_000) {
    // Parameters start with a printable name ("user", "database", ...).
    return d.length < 9 || (d[8]! >= 0x61 && d[8]! <= 0x7a)
      ? d.length < 9
        ? 'more'
        : 'match'
      : 'no'
  }
  return 'no'
}

/** PostgreSQL frontend/backend protocol 3.0 over TCP, port 5432 first and any port by content. */
export const postgresqlDissector: Dissector = {
  id: 'postgresql',
  transport: 'tcp',
  portHints: [5432],
  probe: (data, dir) => probePg(data, dir),
  newSession: (ctx) => new PgSession(ctx),
}
