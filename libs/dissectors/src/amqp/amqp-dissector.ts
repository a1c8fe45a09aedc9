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
import { BoundedBytes } from '../util/bytes.js'
import type { ContentHeader, MethodArgs } from './amqp-methods.js'
import {
  CARRIES_CONTENT,
  methodName,
  parseArgs,
  parseContentHeader,
  REPLIES,
} from './amqp-methods.js'

// AMQP 0-9-1 specification §4.2: the client opens with "AMQP" 0 0 9 1, then both sides exchange
// frames: type (1 method, 2 content header, 3 body, 8 heartbeat), channel, size, payload, 0xCE.
const PROTOCOL_HEADER = [0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]
const FRAME_END = 0xce
const FRAME_METHOD = 1
const FRAME_HEADER = 2
const FRAME_BODY = 3
const FRAME_HEARTBEAT = 8
/** RabbitMQ's default frame_max is 128 KiB; the spec allows up to 2^32-1, so stay generous. */
const MAX_FRAME = 16 * 1024 * 1024

interface Message {
  dir: Direction
  channel: number
  name: string
  args: MethodArgs
  ts: number
  size: number
  endTs: number
  content?: ContentHeader
  body?: BoundedBytes
}

interface Pending {
  req: Message
  replies: readonly string[]
}

/** A method with content in progress on one channel and direction (spec §4.2.6: frames in order). */
interface Assembling {
  msg: Message
  paired: Message | undefined
  remaining: number
}

class AmqpSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #framers: [LengthFramer, LengthFramer]
  /** Client bytes of the protocol header still to skip. */
  #headerLeft = PROTOCOL_HEADER.length
  readonly #pending = new Map<number, Pending[]>()
  #pendingCount = 0
  /** Content in progress, by `channel * 2 + dir`. */
  readonly #content = new Map<number, Assembling>()

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    const frameLength = (h: Uint8Array): number => {
      const size = new DataView(h.buffer, h.byteOffset, 7).getUint32(3)
      return size > MAX_FRAME ? -1 : 7 + size + 1
    }
    const keep = Math.max(1024, ctx.limits.maxBodyBytes + 8)
    this.#framers = [
      new LengthFramer({ headerLength: 7, frameLength, keep, onFrame: (f) => this.#onFrame(0, f) }),
      new LengthFramer({ headerLength: 7, frameLength, keep, onFrame: (f) => this.#onFrame(1, f) }),
    ]
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (dir === 0 && this.#headerLeft > 0) {
      const skip = Math.min(this.#headerLeft, data.length)
      this.#headerLeft -= skip
      data = data.subarray(skip)
      if (data.length === 0) return
    }
    this.#framers[dir].push(data, tsMs)
  }

  onGap(dir: Direction, length: number): void {
    this.#framers[dir].gap(length)
  }

  onClose(): void {
    for (const a of this.#content.values()) this.#finishContent(a)
    this.#content.clear()
    for (const list of this.#pending.values()) {
      for (const p of list)
        this.#emit(p.req, undefined, {
          type: 'connection',
          message: 'connection closed before a reply',
        })
    }
    this.#pending.clear()
    this.#pendingCount = 0
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const [ch, list] of this.#pending) {
      while (list.length > 0 && nowMs - list[0]!.req.ts >= timeout) {
        const p = list.shift()!
        this.#pendingCount--
        this.#emit(p.req, undefined, { type: 'timeout', message: `no reply within ${timeout} ms` })
      }
      if (list.length === 0) this.#pending.delete(ch)
    }
  }

  #onFrame(dir: Direction, f: Frame): void {
    const b = f.bytes
    const type = b[0]!
    const channel = (b[1]! << 8) | b[2]!
    const payloadEnd = Math.min(b.length, f.total - 1)
    if (!f.truncated && b[f.total - 1] !== FRAME_END) return // spec §4.2.3: a bad frame-end is a fatal framing error
    const r = new Reader(b, 7, payloadEnd)
    if (type === FRAME_HEARTBEAT) return
    if (type === FRAME_METHOD) return this.#onMethod(dir, channel, r, f)
    const key = channel * 2 + dir
    const a = this.#content.get(key)
    if (a === undefined) return
    if (type === FRAME_HEADER) {
      try {
        a.msg.content = parseContentHeader(r)
      } catch {
        a.msg.content = { bodySize: 0 }
      }
      a.remaining = a.msg.content.bodySize
      a.msg.size += f.total
      a.msg.body = new BoundedBytes(this.#ctx.limits.maxBodyBytes)
      if (a.remaining === 0) this.#completeContent(key, a)
    } else if (type === FRAME_BODY) {
      const payload = b.subarray(7, payloadEnd)
      a.msg.body?.push(payload)
      const size = f.total - 8
      if (size > payload.length) a.msg.body?.skip(size - payload.length)
      a.msg.size += f.total
      a.msg.endTs = f.ts
      a.remaining -= size
      if (a.remaining <= 0) this.#completeContent(key, a)
    }
  }

  #onMethod(dir: Direction, channel: number, r: Reader, f: Frame): void {
    let classId: number
    let methodId: number
    try {
      classId = r.u16()
      methodId = r.u16()
    } catch {
      return
    }
    const name = methodName(classId, methodId)
    const msg: Message = {
      dir,
      channel,
      name,
      args: parseArgs(name, r),
      ts: f.ts,
      endTs: f.ts,
      size: f.total,
    }
    // A new method on this channel and direction ends any content still assembling there.
    const key = channel * 2 + dir
    const prev = this.#content.get(key)
    if (prev) this.#completeContent(key, prev)

    const list = this.#pending.get(channel)
    const idx = list?.findIndex((p) => p.req.dir !== dir && p.replies.includes(name)) ?? -1
    if (list && idx >= 0) {
      const p = list.splice(idx, 1)[0]!
      this.#pendingCount--
      if (list.length === 0) this.#pending.delete(channel)
      if (CARRIES_CONTENT.has(name)) this.#content.set(key, { msg, paired: p.req, remaining: -1 })
      else this.#emit(p.req, msg)
      return
    }
    const replies = REPLIES[name]
    if (replies && !msg.args.noWait) {
      if (this.#pendingCount >= this.#ctx.limits.maxPendingRequests) this.#dropOldest()
      const l = this.#pending.get(channel) ?? []
      l.push({ req: msg, replies })
      this.#pending.set(channel, l)
      this.#pendingCount++
      return
    }
    if (name.endsWith('-ok') || name === 'basic.get-empty') return // a reply whose request was not seen
    // Asynchronous methods (basic.publish, basic.deliver, basic.ack...) are one-way entries.
    if (CARRIES_CONTENT.has(name)) this.#content.set(key, { msg, paired: undefined, remaining: -1 })
    else this.#emit(msg, undefined)
  }

  #dropOldest(): void {
    for (const [ch, list] of this.#pending) {
      const p = list.shift()
      if (list.length === 0) this.#pending.delete(ch)
      if (p) {
        this.#pendingCount--
        this.#emit(p.req, undefined, {
          type: 'pair-not-found',
          message: 'too many requests waiting for a reply',
        })
        return
      }
    }
  }

  #completeContent(key: number, a: Assembling): void {
    this.#content.delete(key)
    this.#finishContent(a)
  }

  #finishContent(a: Assembling): void {
    if (a.paired) this.#emit(a.paired, a.msg)
    else this.#emit(a.msg, undefined)
  }

  #emit(req: Message, resp: Message | undefined, error?: CallRecord['error']): void {
    const a = req.args
    const ra = resp?.args ?? {}
    const exchange = a.exchange ?? ra.exchange
    const routingKey = a.routingKey ?? ra.routingKey
    const queue = a.queue ?? ra.queue
    const replyCode = a.replyCode ?? ra.replyCode
    const replyText = a.replyText ?? ra.replyText
    const parts: string[] = []
    if (exchange !== undefined) parts.push(`exchange=${exchange === '' ? '(default)' : exchange}`)
    if (routingKey !== undefined) parts.push(`routing_key=${routingKey}`)
    if (queue !== undefined) parts.push(`queue=${queue}`)
    if (a.consumerTag ?? ra.consumerTag)
      parts.push(`consumer_tag=${a.consumerTag ?? ra.consumerTag ?? ''}`)
    if (a.virtualHost !== undefined) parts.push(`vhost=${a.virtualHost}`)
    if (replyCode !== undefined) parts.push(`${replyCode} ${replyText ?? ''}`.trim())
    const summary = parts.join(' ')
    const respSize = resp?.size ?? 0
    const attrs: Attr[] = [
      str('amqp_method', req.name),
      str('amqp_summary', summary),
      flag('amqp_request', true),
      flag('amqp_response', resp !== undefined),
      num('amqp_request_length', req.size),
      num('amqp_response_length', respSize),
      num('amqp_total_size', req.size + respSize),
      num('amqp_channel', req.channel),
    ]
    if (resp) attrs.push(str('amqp_response_method', resp.name))
    if (exchange !== undefined) attrs.push(str('amqp_exchange', exchange))
    if (routingKey !== undefined) attrs.push(str('amqp_routing_key', routingKey))
    if (queue !== undefined) attrs.push(str('amqp_queue', queue))
    if (replyCode !== undefined)
      attrs.push(num('amqp_reply_code', replyCode), str('amqp_reply_text', replyText ?? ''))
    const content = req.content ?? resp?.content
    if (content?.contentType !== undefined)
      attrs.push(str('amqp_content_type', content.contentType))
    const call: CallRecord = {
      proto: 'amqp',
      reqTs: req.ts,
      respTs: resp?.ts,
      method: req.name,
      path: routingKey ?? queue ?? exchange ?? '',
      // close methods carry the reason: 200 is a normal close, anything else an error (spec §1.2.5).
      status: replyCode !== undefined && replyCode !== 200 ? replyCode : 0,
      reqBodySize: req.body?.total ?? 0,
      respBodySize: resp?.body?.total ?? 0,
      summary,
      attrs,
    }
    if (req.body) {
      call.reqBody = req.body.bytes()
      call.reqBodyTruncated = req.body.truncated
    }
    if (resp?.body) {
      call.respBody = resp.body.bytes()
      call.respBodyTruncated = resp.body.truncated
    }
    if (content?.contentType)
      call.reqHeaders = [{ name: 'content-type', value: content.contentType }]
    if (error) call.error = error
    this.#ctx.emit(call)
  }
}

/** Detection: the client's protocol header, or (mid-stream) a whole method frame with its frame-end. */
function probe(data: Uint8Array, dir: Direction): ProbeVerdict {
  if (dir === 0) {
    let i = 0
    for (; i < Math.min(data.length, PROTOCOL_HEADER.length); i++)
      if (data[i] !== PROTOCOL_HEADER[i]) break
    if (i === PROTOCOL_HEADER.length) return 'match'
    if (i === data.length) return 'more'
    if (i >= 4) return 'no'
  }
  if (data.length < 7) return data[0] === FRAME_METHOD ? 'more' : 'no'
  if (data[0] !== FRAME_METHOD) return 'no'
  const size = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(3)
  if (size < 4 || size > MAX_FRAME) return 'no'
  if (data.length < 8 + size) return size < 4096 ? 'more' : 'no'
  if (data[7 + size] !== FRAME_END) return 'no'
  const classId = (data[7]! << 8) | data[8]!
  return methodName(classId, (data[9]! << 8) | data[10]!).includes('.') &&
    /^[a-z]/.test(methodName(classId, 0))
    ? 'match'
    : 'no'
}

export const amqpDissector: Dissector = {
  id: 'amqp',
  transport: 'tcp',
  portHints: [5672],
  probe,
  newSession: (ctx) => new AmqpSession(ctx),
}
