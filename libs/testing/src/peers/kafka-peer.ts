import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'

/**
 * A single-broker Kafka test peer: just enough of the wire protocol (Kafka protocol guide) for
 * kafkajs's producer to connect, fetch metadata and produce — ApiVersions v0-2, Metadata v0-1,
 * Produce v3. Topics named `forbidden*` answer Produce with TOPIC_AUTHORIZATION_FAILED (29).
 */
export interface KafkaPeer {
  port: number
  /** Produce requests received, by topic. */
  produced: Map<string, number>
  close(): Promise<void>
}

class Out {
  parts: Buffer[] = []
  i8(v: number): this {
    const b = Buffer.alloc(1)
    b.writeInt8(v)
    this.parts.push(b)
    return this
  }
  i16(v: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(v)
    this.parts.push(b)
    return this
  }
  i32(v: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(v)
    this.parts.push(b)
    return this
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(v)
    this.parts.push(b)
    return this
  }
  str(s: string | null): this {
    if (s === null) return this.i16(-1)
    const b = Buffer.from(s)
    this.i16(b.length)
    this.parts.push(b)
    return this
  }
  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

class In {
  pos = 0
  constructor(readonly b: Buffer) {}
  i8(): number {
    return this.b.readInt8((this.pos += 1) - 1)
  }
  i16(): number {
    return this.b.readInt16BE((this.pos += 2) - 2)
  }
  i32(): number {
    return this.b.readInt32BE((this.pos += 4) - 4)
  }
  str(): string | null {
    const n = this.i16()
    if (n < 0) return null
    const s = this.b.toString('utf8', this.pos, this.pos + n)
    this.pos += n
    return s
  }
  skipBytes(): void {
    const n = this.i32()
    if (n > 0) this.pos += n
  }
}

const SUPPORTED: Array<[number, number, number]> = [
  [0, 3, 3], // Produce
  [3, 0, 1], // Metadata
  [18, 0, 2], // ApiVersions
]

export async function startKafkaPeer(): Promise<KafkaPeer> {
  const produced = new Map<string, number>()
  const sockets = new Set<Socket>()
  let port = 0
  const handle = (msg: Buffer): Buffer | undefined => {
    const r = new In(msg)
    const apiKey = r.i16()
    const version = r.i16()
    const correlationId = r.i32()
    r.str() // client_id
    const o = new Out().i32(correlationId)
    if (apiKey === 18) {
      const supported = SUPPORTED.find(([k]) => k === apiKey)!
      if (version > supported[2]) {
        o.i16(35).i32(0)
        return o.done()
      }
      o.i16(0).i32(SUPPORTED.length)
      for (const [k, min, max] of SUPPORTED) o.i16(k).i16(min).i16(max)
      if (version >= 1) o.i32(0)
      return o.done()
    }
    if (apiKey === 3) {
      const n = r.i32()
      const topics: string[] = []
      for (let i = 0; i < n; i++) topics.push(r.str() ?? '')
      o.i32(1).i32(0).str('127.0.0.1').i32(port)
      if (version >= 1) o.str(null).i32(0) // rack, controller_id
      o.i32(topics.length)
      for (const t of topics) {
        o.i16(0).str(t)
        if (version >= 1) o.i8(0) // is_internal
        o.i32(1).i16(0).i32(0).i32(0).i32(1).i32(0).i32(1).i32(0) // partition 0, leader 0, replicas [0], isr [0]
      }
      return o.done()
    }
    if (apiKey === 0) {
      r.str() // transactional_id
      const acks = r.i16()
      r.i32()
      const n = r.i32()
      const results: Array<[string, number[]]> = []
      for (let i = 0; i < n; i++) {
        const topic = r.str() ?? ''
        const parts: number[] = []
        const pn = r.i32()
        for (let p = 0; p < pn; p++) {
          parts.push(r.i32())
          r.skipBytes()
        }
        produced.set(topic, (produced.get(topic) ?? 0) + 1)
        results.push([topic, parts])
      }
      if (acks === 0) return undefined
      o.i32(results.length)
      for (const [topic, parts] of results) {
        o.str(topic).i32(parts.length)
        for (const p of parts)
          o.i32(p)
            .i16(topic.startsWith('forbidden') ? 29 : 0)
            .i64(BigInt(produced.get(topic) ?? 0))
            .i64(-1n)
      }
      o.i32(0)
      return o.done()
    }
    // Anything else: UNSUPPORTED_VERSION in the first field of most responses.
    o.i16(35)
    return o.done()
  }
  const server: Server = createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => sock.destroy())
    let buf = Buffer.alloc(0)
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 4) {
        const size = buf.readInt32BE(0)
        if (buf.length < 4 + size) break
        const msg = buf.subarray(4, 4 + size)
        buf = buf.subarray(4 + size)
        const resp = handle(msg)
        if (resp) {
          const len = Buffer.alloc(4)
          len.writeInt32BE(resp.length)
          sock.write(Buffer.concat([len, resp]))
        }
      }
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  port = (server.address() as AddressInfo).port
  return {
    port,
    produced,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy()
        server.close(() => res())
      }),
  }
}
