import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import { flag, num, str } from '../generic/attrs.js'
import type { Frame } from '../generic/framer.js'
import { LengthFramer, Reader } from '../generic/framer.js'
import type { BsonDoc } from './bson.js'
import { decodeDocument, get, isDoc, renderJson } from './bson.js'

// MongoDB wire protocol (mongodb.com/docs/manual/reference/mongodb-wire-protocol): a 16-byte
// little-endian header (messageLength, requestID, responseTo, opCode) then the opcode's body.
export const OP_REPLY = 1
export const OP_UPDATE = 2001
export const OP_INSERT = 2002
export const OP_QUERY = 2004
export const OP_GET_MORE = 2005
export const OP_DELETE = 2006
export const OP_KILL_CURSORS = 2007
export const OP_COMPRESSED = 2012
export const OP_MSG = 2013

const OPCODE_NAMES: Record<number, string> = {
  [OP_REPLY]: 'OP_REPLY',
  [OP_UPDATE]: 'OP_UPDATE',
  [OP_INSERT]: 'OP_INSERT',
  [OP_QUERY]: 'OP_QUERY',
  [OP_GET_MORE]: 'OP_GET_MORE',
  [OP_DELETE]: 'OP_DELETE',
  [OP_KILL_CURSORS]: 'OP_KILL_CURSORS',
  [OP_COMPRESSED]: 'OP_COMPRESSED',
  [OP_MSG]: 'OP_MSG',
}

export const opcodeName = (op: number): string => OPCODE_NAMES[op] ?? `OP_${op}`

/** maxMessageSizeBytes of every server since 3.6. */
const MAX_MESSAGE = 48_000_000
/** OP_MSG flagBits: checksumPresent (bit 0), moreToCome (bit 1). */
const CHECKSUM_PRESENT = 1
const MORE_TO_COME = 2

export interface MongoMessage {
  requestId: number
  responseTo: number
  opcode: number
  /** The command or reply document (OP_MSG kind 0 body, OP_QUERY query, first OP_REPLY doc). */
  body: BsonDoc | undefined
  /** OP_MSG kind 1 document sequences: identifier and document count. */
  sequences: Array<{ id: string; count: number }>
  moreToCome: boolean
  /** OP_QUERY's full collection name ("admin.$cmd"). */
  namespace?: string
  /** OP_COMPRESSED: the wrapped opcode. */
  originalOpcode?: number
}

/** Parses one message's first bytes (the framer may have cut it: trailing documents then go). */
export function parseMessage(b: Uint8Array): MongoMessage {
  const r = new Reader(b)
  r.i32(true)
  const m: MongoMessage = {
    requestId: r.i32(true),
    responseTo: r.i32(true),
    opcode: r.i32(true),
    body: undefined,
    sequences: [],
    moreToCome: false,
  }
  try {
    if (m.opcode === OP_MSG) {
      const flags = r.u32(true)
      m.moreToCome = (flags & MORE_TO_COME) !== 0
      const end = Math.min(
        b.length,
        new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true) -
          (flags & CHECKSUM_PRESENT ? 4 : 0)
      )
      while (r.pos < end) {
        const kind = r.u8()
        if (kind === 0) {
          const { doc, end: after } = decodeDocument(b, r.pos)
          m.body ??= doc
          r.pos = after
        } else if (kind === 1) {
          const start = r.pos
          const size = r.i32(true)
          const seqEnd = start + size
          const idStart = r.pos
          while (r.u8() !== 0) {
            // identifier cstring
          }
          const id = new TextDecoder().decode(b.subarray(idStart, r.pos - 1))
          let count = 0
          while (r.pos < Math.min(seqEnd, b.length)) {
            r.pos = decodeDocument(b, r.pos).end
            count++
          }
          m.sequences.push({ id, count })
          r.pos = seqEnd
        } else break // kind 2 is internal to sharding; unknown kinds end the parse
      }
    } else if (m.opcode === OP_QUERY) {
      r.i32(true)
      const nsStart = r.pos
      while (r.u8() !== 0) {
        // fullCollectionName cstring
      }
      m.namespace = new TextDecoder().decode(b.subarray(nsStart, r.pos - 1))
      r.skip(8)
      m.body = decodeDocument(b, r.pos).doc
    } else if (m.opcode === OP_REPLY) {
      r.skip(20) // responseFlags, cursorID, startingFrom, numberReturned
      if (r.left > 0) m.body = decodeDocument(b, r.pos).doc
    } else if (m.opcode === OP_COMPRESSED) {
      m.originalOpcode = r.i32(true)
    }
  } catch {
    // Truncated or malformed documents: keep what was read.
  }
  return m
}

/** Command name, database and collection of a request (OP_MSG or OP_QUERY on `db.$cmd`). */
export function describeCommand(m: MongoMessage): {
  command: string
  database: string
  collection: string
} {
  let body = m.body
  // Legacy OP_QUERY may wrap the command: { $query: {...}, $readPreference: ... }.
  const wrapped = body && get(body, '$query')
  if (body && body.keys[0] === '$query' && wrapped && isDoc(wrapped)) body = wrapped
  const command = body?.keys[0] ?? ''
  let database = ''
  let collection = ''
  if (m.opcode === OP_QUERY && m.namespace) {
    const dot = m.namespace.indexOf('.')
    database = dot < 0 ? m.namespace : m.namespace.slice(0, dot)
    const rest = dot < 0 ? '' : m.namespace.slice(dot + 1)
    if (rest !== '$cmd') collection = rest
  }
  const db = body && get(body, '$db')
  if (typeof db === 'string') database = db
  const first = body?.values[0]
  if (typeof first === 'string' && collection === '') collection = first
  return { command, database, collection }
}

interface Pending {
  msg: MongoMessage
  ts: number
  size: number
  gaps: number
}

class MongoSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #framers: [LengthFramer, LengthFramer]
  readonly #pending = new Map<number, Pending>()

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    const keep = Math.max(1024, ctx.limits.maxBodyBytes)
    const frameLength = (h: Uint8Array): number => {
      const n = new DataView(h.buffer, h.byteOffset, 4).getInt32(0, true)
      return n < 16 || n > MAX_MESSAGE ? -1 : n
    }
    this.#framers = [
      new LengthFramer({
        headerLength: 4,
        frameLength,
        keep,
        onFrame: (f) => this.#onMessage(0, f),
      }),
      new LengthFramer({
        headerLength: 4,
        frameLength,
        keep,
        onFrame: (f) => this.#onMessage(1, f),
      }),
    ]
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    this.#framers[dir].push(data, tsMs)
  }

  onGap(dir: Direction, length: number): void {
    this.#framers[dir].gap(length)
  }

  onClose(): void {
    for (const p of this.#pending.values())
      this.#emit(p, undefined, { type: 'connection', message: 'connection closed before a reply' })
    this.#pending.clear()
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const [id, p] of this.#pending) {
      if (nowMs - p.ts < timeout) continue
      this.#pending.delete(id)
      this.#emit(p, undefined, { type: 'timeout', message: `no reply within ${timeout} ms` })
    }
  }

  #onMessage(dir: Direction, f: Frame): void {
    if (f.bytes.length < 16) return
    const msg = parseMessage(f.bytes)
    const gaps = f.gaps > 0 ? 1 : 0
    if (dir === 1 || msg.opcode === OP_REPLY) {
      const p = this.#pending.get(msg.responseTo)
      // Exhaust cursors and awaitable hello answer one request many times: only the first pairs.
      if (p === undefined) return
      this.#pending.delete(msg.responseTo)
      this.#emit(p, { msg, ts: f.ts, size: f.total, gaps })
      return
    }
    const p: Pending = { msg, ts: f.ts, size: f.total, gaps }
    // moreToCome on a request: the server sends no reply (fire-and-forget writes, w:0).
    if (msg.moreToCome) return this.#emit(p, undefined)
    if (this.#pending.size >= this.#ctx.limits.maxPendingRequests) {
      const [id, oldest] = this.#pending.entries().next().value as [number, Pending]
      this.#pending.delete(id)
      this.#emit(oldest, undefined, {
        type: 'pair-not-found',
        message: 'too many requests waiting for a reply',
      })
    }
    this.#pending.set(msg.requestId, p)
  }

  #emit(
    p: Pending,
    resp: { msg: MongoMessage; ts: number; size: number; gaps: number } | undefined,
    error?: CallRecord['error']
  ): void {
    const { command, database, collection } = describeCommand(p.msg)
    const op = opcodeName(p.msg.opcode)
    const method = command !== '' ? command : op
    const attrs: Attr[] = [
      str('mongodb_command', command),
      str('mongodb_database', database),
      str('mongodb_collection', collection),
      str('mongodb_opcode', op),
      num('mongodb_request_size', p.size),
      num('mongodb_response_size', resp?.size ?? 0),
      num('mongodb_total_size', p.size + (resp?.size ?? 0)),
    ]
    let status = 0
    const reply = resp?.msg.body
    if (reply) {
      const ok = get(reply, 'ok')
      const success = ok === 1 || ok === true
      attrs.push(flag('mongodb_success', success))
      const code = get(reply, 'code')
      const errmsg = get(reply, 'errmsg')
      const codeName = get(reply, 'codeName')
      if (!success) status = typeof code === 'number' && code !== 0 ? code : 1
      if (typeof code === 'number') attrs.push(num('mongodb_error_code', code))
      if (typeof errmsg === 'string') attrs.push(str('mongodb_error_message', errmsg))
      if (typeof codeName === 'string') attrs.push(str('mongodb_error_code_name', codeName))
    }
    const limit = this.#ctx.limits.maxBodyBytes
    const enc = new TextEncoder()
    const render = (m: MongoMessage): Uint8Array | undefined => {
      if (m.body === undefined) return undefined
      let s = renderJson(m.body, limit)
      if (m.sequences.length > 0) s += ` ${m.sequences.map((q) => `+${q.count} ${q.id}`).join(' ')}`
      return enc.encode(s)
    }
    const reqBody = render(p.msg)
    const respBody = resp ? render(resp.msg) : undefined
    const call: CallRecord = {
      proto: 'mongodb',
      reqTs: p.ts,
      respTs: resp?.ts,
      method,
      path: collection !== '' ? collection : database,
      status,
      reqBodySize: p.size,
      respBodySize: resp?.size ?? 0,
      summary: [method, database && collection ? `${database}.${collection}` : database]
        .filter((x) => x !== '')
        .join(' '),
      attrs,
    }
    if (reqBody) call.reqBody = reqBody
    if (respBody) call.respBody = respBody
    if (error) call.error = error
    const gaps = p.gaps + (resp?.gaps ?? 0)
    if (gaps > 0) call.gaps = gaps
    this.#ctx.emit(call)
  }
}

/**
 * Detection: a plausible message length, a known request opcode, and for OP_MSG / OP_QUERY a
 * well-formed start (section kind 0 document length / cstring namespace).
 */
function probe(data: Uint8Array, dir: Direction): ProbeVerdict {
  if (dir !== 0) return 'no'
  if (data.length < 16) return data.length >= 4 && !plausibleLength(data) ? 'no' : 'more'
  if (!plausibleLength(data)) return 'no'
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const responseTo = dv.getInt32(8, true)
  const opcode = dv.getInt32(12, true)
  if (responseTo !== 0) return 'no'
  if (opcode === OP_MSG) {
    if (data.length < 25) return 'more'
    const flags = dv.getUint32(16, true)
    if ((flags & 0xfffc) !== 0 || (data[20] !== 0 && data[20] !== 1)) return 'no'
    const docLen = dv.getInt32(21, true)
    return docLen >= 5 && docLen <= dv.getInt32(0, true) ? 'match' : 'no'
  }
  if (opcode === OP_QUERY) {
    if (data.length < 24) return 'more'
    // fullCollectionName: printable up to NUL, containing a dot.
    let dot = false
    for (let i = 20; i < Math.min(data.length, 20 + 256); i++) {
      const c = data[i]!
      if (c === 0) return dot ? 'match' : 'no'
      if (c === 0x2e) dot = true
      else if (c < 0x20 || c > 0x7e) return 'no'
    }
    return data.length < 276 ? 'more' : 'no'
  }
  if (opcode === OP_COMPRESSED) return data.length >= 25 ? 'match' : 'more'
  return 'no'
}

function plausibleLength(data: Uint8Array): boolean {
  const n = new DataView(data.buffer, data.byteOffset, 4).getInt32(0, true)
  return n >= 16 && n <= MAX_MESSAGE
}

export const mongodbDissector: Dissector = {
  id: 'mongodb',
  transport: 'tcp',
  portHints: [27017, 27018, 27019],
  probe,
  newSession: (ctx) => new MongoSession(ctx),
}
