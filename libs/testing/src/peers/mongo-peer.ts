import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { BSON } from 'mongodb'
import type { Document } from 'mongodb'

/**
 * A MongoDB test peer speaking the real wire protocol (OP_QUERY/OP_REPLY for the legacy handshake,
 * OP_MSG for everything else) well enough for the official Node driver: hello/isMaster, insert,
 * find, update, delete, ping, endSessions; the command `boom` fails with CommandNotFound (59).
 */
export interface MongoPeer {
  port: number
  close(): Promise<void>
}

const OP_REPLY = 1
const OP_QUERY = 2004
const OP_MSG = 2013

export async function startMongoPeer(): Promise<MongoPeer> {
  const collections = new Map<string, Document[]>()
  const sockets = new Set<Socket>()
  let nextRequestId = 1000
  let connectionId = 0

  const hello = (conn: number): Document => ({
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId: conn,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  })

  const command = (body: Document, sequences: Map<string, Document[]>, conn: number): Document => {
    const name = Object.keys(body)[0] ?? ''
    const db = typeof body.$db === 'string' ? body.$db : 'admin'
    const ns = `${db}.${String(body[name])}`
    switch (name.toLowerCase()) {
      case 'hello':
      case 'ismaster':
        return hello(conn)
      case 'insert': {
        const docs = (body.documents as Document[] | undefined) ?? sequences.get('documents') ?? []
        const list = collections.get(ns) ?? []
        list.push(...docs)
        collections.set(ns, list)
        return { n: docs.length, ok: 1 }
      }
      case 'find': {
        const docs = collections.get(ns) ?? []
        return { cursor: { firstBatch: docs, id: BSON.Long.fromNumber(0), ns }, ok: 1 }
      }
      case 'update': {
        const updates = (body.updates as Document[] | undefined) ?? sequences.get('updates') ?? []
        const n = Math.min(updates.length, (collections.get(ns) ?? []).length)
        return { n, nModified: n, ok: 1 }
      }
      case 'delete': {
        const n = (collections.get(ns) ?? []).length
        collections.delete(ns)
        return { n, ok: 1 }
      }
      case 'boom':
        return { ok: 0, errmsg: "no such command: 'boom'", code: 59, codeName: 'CommandNotFound' }
      default:
        return { ok: 1 }
    }
  }

  const frame = (responseTo: number, opcode: number, body: Buffer): Buffer => {
    const h = Buffer.alloc(16)
    h.writeInt32LE(16 + body.length, 0)
    h.writeInt32LE(nextRequestId++, 4)
    h.writeInt32LE(responseTo, 8)
    h.writeInt32LE(opcode, 12)
    return Buffer.concat([h, body])
  }

  const handle = (msg: Buffer, conn: number): Buffer | undefined => {
    const requestId = msg.readInt32LE(4)
    const opcode = msg.readInt32LE(12)
    if (opcode === OP_QUERY) {
      let p = 20
      while (msg[p] !== 0) p++
      p += 1 + 8
      const query = BSON.deserialize(msg.subarray(p, p + msg.readInt32LE(p)))
      const reply = command(query, new Map(), conn)
      const head = Buffer.alloc(20)
      head.writeInt32LE(0, 0) // responseFlags
      head.writeBigInt64LE(0n, 4) // cursorID
      head.writeInt32LE(0, 12) // startingFrom
      head.writeInt32LE(1, 16) // numberReturned
      return frame(requestId, OP_REPLY, Buffer.concat([head, Buffer.from(BSON.serialize(reply))]))
    }
    if (opcode !== OP_MSG) return undefined
    const flags = msg.readUInt32LE(16)
    const end = msg.length - (flags & 1 ? 4 : 0)
    let p = 20
    let body: Document = {}
    const sequences = new Map<string, Document[]>()
    while (p < end) {
      const kind = msg[p++]
      if (kind === 0) {
        const n = msg.readInt32LE(p)
        body = BSON.deserialize(msg.subarray(p, p + n))
        p += n
      } else {
        const size = msg.readInt32LE(p)
        const seqEnd = p + size
        let q = p + 4
        const idStart = q
        while (msg[q] !== 0) q++
        const id = msg.toString('utf8', idStart, q)
        q++
        const docs: Document[] = []
        while (q < seqEnd) {
          const n = msg.readInt32LE(q)
          docs.push(BSON.deserialize(msg.subarray(q, q + n)))
          q += n
        }
        sequences.set(id, docs)
        p = seqEnd
      }
    }
    if (flags & 2) return undefined // moreToCome: no reply
    const reply = command(body, sequences, conn)
    const flagBits = Buffer.alloc(5) // flagBits 0, section kind 0
    return frame(requestId, OP_MSG, Buffer.concat([flagBits, Buffer.from(BSON.serialize(reply))]))
  }

  const server = createServer((sock) => {
    const conn = ++connectionId
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => sock.destroy())
    let buf = Buffer.alloc(0)
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 4) {
        const n = buf.readInt32LE(0)
        if (buf.length < n) break
        const out = handle(buf.subarray(0, n), conn)
        buf = buf.subarray(n)
        if (out) sock.write(out)
      }
    })
  })
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy()
        server.close(() => res())
      }),
  }
}
