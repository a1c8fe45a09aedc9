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
import { LengthFramer } from '../generic/framer.js'
import type { RequestHeader } from './kafka-protocol.js'
import {
  API_KEY_NAMES,
  apiKeyName,
  errorName,
  MAX_PLAUSIBLE_VERSION,
  parseRequestBody,
  parseRequestHeader,
  parseResponseBody,
} from './kafka-protocol.js'

/** Largest message believed in detection (the broker default socket.request.max.bytes is 100 MiB). */
const MAX_MESSAGE = 100 * 1024 * 1024

interface Pending {
  header: RequestHeader
  topics: string[]
  size: number
  ts: number
  gaps: number
}

/**
 * Kafka over TCP (protocol guide, "Network"): every message is an INT32 size then the bytes;
 * requests start with a request header, responses with the correlation id only, so responses are
 * paired through a bounded map of waiting requests. Brokers may answer out of order across
 * connections but never within one; the map still copes with either.
 */
class KafkaSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #framers: [LengthFramer, LengthFramer]
  readonly #pending = new Map<number, Pending>()

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    const keep = Math.max(256, ctx.limits.maxBodyBytes)
    const frameLength = (h: Uint8Array): number => {
      const n = new DataView(h.buffer, h.byteOffset, 4).getInt32(0)
      return n < 0 || n > MAX_MESSAGE ? -1 : n + 4
    }
    this.#framers = [
      new LengthFramer({ headerLength: 4, frameLength, keep, onFrame: (f) => this.#onRequest(f) }),
      new LengthFramer({ headerLength: 4, frameLength, keep, onFrame: (f) => this.#onResponse(f) }),
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
      this.#emit(p, undefined, {
        type: 'connection',
        message: 'connection closed before a response',
      })
    this.#pending.clear()
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const [id, p] of this.#pending) {
      if (nowMs - p.ts < timeout) continue
      this.#pending.delete(id)
      this.#emit(p, undefined, { type: 'timeout', message: `no response within ${timeout} ms` })
    }
  }

  #onRequest(f: Frame): void {
    let header: RequestHeader
    try {
      header = parseRequestHeader(f.bytes)
    } catch {
      return
    }
    const body = parseRequestBody(header, f.bytes)
    const p: Pending = {
      header,
      topics: body.topics,
      size: f.total,
      ts: f.ts,
      gaps: f.gaps > 0 ? 1 : 0,
    }
    // Produce with acks=0 gets no response at all (protocol guide, ProduceRequest).
    if (header.apiKey === 0 && body.acks === 0) return this.#emit(p, undefined)
    const old = this.#pending.get(header.correlationId)
    if (old)
      this.#emit(old, undefined, {
        type: 'pair-not-found',
        message: 'correlation id reused before a response',
      })
    if (this.#pending.size >= this.#ctx.limits.maxPendingRequests) {
      const [oldestId, oldest] = this.#pending.entries().next().value as [number, Pending]
      this.#pending.delete(oldestId)
      this.#emit(oldest, undefined, {
        type: 'pair-not-found',
        message: 'too many requests waiting for a response',
      })
    }
    this.#pending.set(header.correlationId, p)
  }

  #onResponse(f: Frame): void {
    if (f.bytes.length < 8) return
    const correlationId = new DataView(f.bytes.buffer, f.bytes.byteOffset, 8).getInt32(4)
    const p = this.#pending.get(correlationId)
    if (p === undefined) return // its request was not seen (capture started mid-connection)
    this.#pending.delete(correlationId)
    const body = parseResponseBody(p.header.apiKey, p.header.apiVersion, f.bytes, 8)
    this.#emit(p, {
      ts: f.ts,
      size: f.total,
      errorCode: body.errorCode,
      topics: body.topics,
      gaps: f.gaps > 0 ? 1 : 0,
    })
  }

  #emit(
    p: Pending,
    resp:
      { ts: number; size: number; errorCode: number; topics: string[]; gaps: number } | undefined,
    error?: CallRecord['error']
  ): void {
    const h = p.header
    const name = apiKeyName(h.apiKey)
    const topics = p.topics.length > 0 ? p.topics : (resp?.topics ?? [])
    const unique = [...new Set(topics)]
    const summary = unique.join(', ')
    const attrs: Attr[] = [
      num('kafka_api_key', h.apiKey),
      str('kafka_api_key_name', name),
      num('kafka_api_version', h.apiVersion),
      num('kafka_correlation_id', h.correlationId),
      str('kafka_client_id', h.clientId ?? ''),
      num('kafka_size', p.size),
      flag('kafka_request', true),
      flag('kafka_response', resp !== undefined),
      str('kafka_request_summary', summary),
      num('kafka_request_size', p.size),
      num('kafka_response_size', resp?.size ?? 0),
    ]
    if (resp && resp.errorCode !== 0) {
      attrs.push(
        num('kafka_error_code', resp.errorCode),
        str('kafka_error', errorName(resp.errorCode))
      )
    }
    const detail = JSON.stringify({
      apiKey: h.apiKey,
      apiVersion: h.apiVersion,
      correlationId: h.correlationId,
      clientId: h.clientId,
      topics: unique,
    })
    const call: CallRecord = {
      proto: 'kafka',
      reqTs: p.ts,
      respTs: resp?.ts,
      method: name,
      path: unique[0] ?? '',
      version: String(h.apiVersion),
      status: resp?.errorCode ?? 0,
      reqBody: new TextEncoder().encode(detail),
      reqBodySize: p.size,
      respBodySize: resp?.size ?? 0,
      summary,
      attrs,
    }
    if (error) call.error = error
    const gaps = p.gaps + (resp?.gaps ?? 0)
    if (gaps > 0) call.gaps = gaps
    this.#ctx.emit(call)
  }
}

/**
 * Detection: a request header with a known api key, a plausible version and a printable client id
 * (kafkajs, librdkafka and the Java client always send one).
 */
function probe(data: Uint8Array, dir: Direction): ProbeVerdict {
  if (dir !== 0) return 'no'
  if (data.length < 4) return 'more'
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const size = dv.getInt32(0)
  if (size < 10 || size > MAX_MESSAGE) return 'no'
  if (data.length < 14) return 'more'
  const apiKey = dv.getInt16(4)
  const version = dv.getInt16(6)
  if (
    apiKey < 0 ||
    apiKey >= API_KEY_NAMES.length ||
    version < 0 ||
    version > MAX_PLAUSIBLE_VERSION
  )
    return 'no'
  const idLen = dv.getInt16(12)
  if (idLen < -1 || 10 + idLen > size) return 'no'
  const end = Math.min(data.length, 14 + Math.max(0, idLen))
  for (let i = 14; i < end; i++) if (data[i]! < 0x20 || data[i]! > 0x7e) return 'no'
  return 'match'
}

export const kafkaDissector: Dissector = {
  id: 'kafka',
  transport: 'tcp',
  portHints: [9092, 9093, 9094, 29092],
  probe,
  newSession: (ctx) => new KafkaSession(ctx),
}
