// AMQP 0-9-1 classes and methods (AMQP 0-9-1 specification, amqp0-9-1.xml; RabbitMQ's extensions
// exchange.bind/unbind, basic.nack, confirm, connection.blocked and update-secret included).
import type { Reader } from '../generic/framer.js'
import { text } from '../generic/framer.js'

const CLASSES: Record<number, [string, Record<number, string>]> = {
  10: [
    'connection',
    {
      10: 'start',
      11: 'start-ok',
      20: 'secure',
      21: 'secure-ok',
      30: 'tune',
      31: 'tune-ok',
      40: 'open',
      41: 'open-ok',
      50: 'close',
      51: 'close-ok',
      60: 'blocked',
      61: 'unblocked',
      70: 'update-secret',
      71: 'update-secret-ok',
    },
  ],
  20: [
    'channel',
    { 10: 'open', 11: 'open-ok', 20: 'flow', 21: 'flow-ok', 40: 'close', 41: 'close-ok' },
  ],
  30: ['access', { 10: 'request', 11: 'request-ok' }],
  40: [
    'exchange',
    {
      10: 'declare',
      11: 'declare-ok',
      20: 'delete',
      21: 'delete-ok',
      30: 'bind',
      31: 'bind-ok',
      40: 'unbind',
      51: 'unbind-ok',
    },
  ],
  50: [
    'queue',
    {
      10: 'declare',
      11: 'declare-ok',
      20: 'bind',
      21: 'bind-ok',
      30: 'purge',
      31: 'purge-ok',
      40: 'delete',
      41: 'delete-ok',
      50: 'unbind',
      51: 'unbind-ok',
    },
  ],
  60: [
    'basic',
    {
      10: 'qos',
      11: 'qos-ok',
      20: 'consume',
      21: 'consume-ok',
      30: 'cancel',
      31: 'cancel-ok',
      40: 'publish',
      50: 'return',
      60: 'deliver',
      70: 'get',
      71: 'get-ok',
      72: 'get-empty',
      80: 'ack',
      90: 'reject',
      100: 'recover-async',
      110: 'recover',
      111: 'recover-ok',
      120: 'nack',
    },
  ],
  85: ['confirm', { 10: 'select', 11: 'select-ok' }],
  90: [
    'tx',
    {
      10: 'select',
      11: 'select-ok',
      20: 'commit',
      21: 'commit-ok',
      30: 'rollback',
      31: 'rollback-ok',
    },
  ],
}

/** "class.method" as the specification names them ("basic.publish"); unknown ids stay numeric. */
export function methodName(classId: number, methodId: number): string {
  const c = CLASSES[classId]
  if (c === undefined) return `${classId}.${methodId}`
  return `${c[0]}.${c[1][methodId] ?? String(methodId)}`
}

/** Replies a synchronous method waits for (spec: <response name=...>); absent for asynchronous methods. */
export const REPLIES: Record<string, readonly string[]> = {
  'connection.start': ['connection.start-ok'],
  'connection.secure': ['connection.secure-ok'],
  'connection.tune': ['connection.tune-ok'],
  'connection.open': ['connection.open-ok'],
  'connection.close': ['connection.close-ok'],
  'connection.update-secret': ['connection.update-secret-ok'],
  'channel.open': ['channel.open-ok'],
  'channel.flow': ['channel.flow-ok'],
  'channel.close': ['channel.close-ok'],
  'access.request': ['access.request-ok'],
  'exchange.declare': ['exchange.declare-ok'],
  'exchange.delete': ['exchange.delete-ok'],
  'exchange.bind': ['exchange.bind-ok'],
  'exchange.unbind': ['exchange.unbind-ok'],
  'queue.declare': ['queue.declare-ok'],
  'queue.bind': ['queue.bind-ok'],
  'queue.purge': ['queue.purge-ok'],
  'queue.delete': ['queue.delete-ok'],
  'queue.unbind': ['queue.unbind-ok'],
  'basic.qos': ['basic.qos-ok'],
  'basic.consume': ['basic.consume-ok'],
  'basic.cancel': ['basic.cancel-ok'],
  'basic.get': ['basic.get-ok', 'basic.get-empty'],
  'basic.recover': ['basic.recover-ok'],
  'confirm.select': ['confirm.select-ok'],
  'tx.select': ['tx.select-ok'],
  'tx.commit': ['tx.commit-ok'],
  'tx.rollback': ['tx.rollback-ok'],
}

/** Methods followed by a content header and body frames (spec: content="1"). */
export const CARRIES_CONTENT = new Set([
  'basic.publish',
  'basic.return',
  'basic.deliver',
  'basic.get-ok',
])

export interface MethodArgs {
  exchange?: string
  routingKey?: string
  queue?: string
  consumerTag?: string
  replyCode?: number
  replyText?: string
  virtualHost?: string
  messageCount?: number
  deliveryTag?: string
  noWait?: boolean
}

const shortstr = (r: Reader): string => text(r.bytes(r.u8()))
const longstr = (r: Reader): void => r.skip(r.u32())
const table = longstr

/** The arguments the common methods carry (field order from the spec's method definitions). */
export function parseArgs(name: string, r: Reader): MethodArgs {
  const a: MethodArgs = {}
  try {
    switch (name) {
      case 'connection.open':
        a.virtualHost = shortstr(r)
        break
      case 'connection.close':
      case 'channel.close':
        a.replyCode = r.u16()
        a.replyText = shortstr(r)
        break
      case 'exchange.declare':
        r.skip(2)
        a.exchange = shortstr(r)
        shortstr(r) // type
        a.noWait = (r.u8() & 0x10) !== 0 // passive, durable, auto-delete, internal, no-wait
        break
      case 'exchange.delete':
        r.skip(2)
        a.exchange = shortstr(r)
        a.noWait = (r.u8() & 0x02) !== 0
        break
      case 'exchange.bind':
      case 'exchange.unbind':
        r.skip(2)
        shortstr(r) // destination
        a.exchange = shortstr(r) // source
        a.routingKey = shortstr(r)
        a.noWait = (r.u8() & 0x01) !== 0
        break
      case 'queue.declare':
        r.skip(2)
        a.queue = shortstr(r)
        a.noWait = (r.u8() & 0x10) !== 0 // passive, durable, exclusive, auto-delete, no-wait
        break
      case 'queue.declare-ok':
        a.queue = shortstr(r)
        a.messageCount = r.u32()
        break
      case 'queue.bind':
        r.skip(2)
        a.queue = shortstr(r)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        a.noWait = (r.u8() & 0x01) !== 0
        break
      case 'queue.unbind':
        r.skip(2)
        a.queue = shortstr(r)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        break
      case 'queue.purge':
        r.skip(2)
        a.queue = shortstr(r)
        a.noWait = (r.u8() & 0x01) !== 0
        break
      case 'queue.delete':
        r.skip(2)
        a.queue = shortstr(r)
        a.noWait = (r.u8() & 0x04) !== 0 // if-unused, if-empty, no-wait
        break
      case 'queue.purge-ok':
      case 'queue.delete-ok':
        a.messageCount = r.u32()
        break
      case 'basic.consume':
        r.skip(2)
        a.queue = shortstr(r)
        a.consumerTag = shortstr(r)
        a.noWait = (r.u8() & 0x08) !== 0 // no-local, no-ack, exclusive, no-wait
        table(r)
        break
      case 'basic.consume-ok':
      case 'basic.cancel-ok':
        a.consumerTag = shortstr(r)
        break
      case 'basic.cancel':
        a.consumerTag = shortstr(r)
        a.noWait = (r.u8() & 0x01) !== 0
        break
      case 'basic.publish':
        r.skip(2)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        break
      case 'basic.return':
        a.replyCode = r.u16()
        a.replyText = shortstr(r)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        break
      case 'basic.deliver':
        a.consumerTag = shortstr(r)
        a.deliveryTag = r.u64().toString()
        r.skip(1)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        break
      case 'basic.get':
        r.skip(2)
        a.queue = shortstr(r)
        break
      case 'basic.get-ok':
        a.deliveryTag = r.u64().toString()
        r.skip(1)
        a.exchange = shortstr(r)
        a.routingKey = shortstr(r)
        a.messageCount = r.u32()
        break
      case 'basic.ack':
      case 'basic.reject':
      case 'basic.nack':
        a.deliveryTag = r.u64().toString()
        break
      case 'confirm.select':
        a.noWait = (r.u8() & 0x01) !== 0
        break
    }
  } catch {
    // Truncated arguments: keep what was read.
  }
  return a
}

export interface ContentHeader {
  bodySize: number
  contentType?: string
  contentEncoding?: string
}

/** Content header frame payload: class-id, weight, body-size, property flags then the set properties. */
export function parseContentHeader(r: Reader): ContentHeader {
  r.skip(4)
  const h: ContentHeader = { bodySize: Number(r.u64()) }
  try {
    const flags = r.u16()
    if (flags & 0x8000) h.contentType = shortstr(r)
    if (flags & 0x4000) h.contentEncoding = shortstr(r)
  } catch {
    // Properties cut short: the size is what matters.
  }
  return h
}
