import { join } from 'node:path'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  entryAttr,
  recordAndAnalyze,
  startMongoPeer,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import { genericTcpDissector } from '../generic/generic-dissector.js'
import { mongodbDissector } from './mongodb-dissector.js'

const attr = entryAttr

// The official MongoDB Node driver against the MongoDB test peer; tshark's mongo dissector is the
// oracle for opcodes and command names.
describe('MongoDB against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'mongo.pcap')
  let result: AnalyzeResult & { analyzeMs: number }
  let port = 0

  beforeAll(async () => {
    const peer = await startMongoPeer()
    port = peer.port
    result = await recordAndAnalyze(
      file,
      `tcp port ${port}`,
      async () => {
        const client = new MongoClient(
          `mongodb://127.0.0.1:${port}/?directConnection=true&heartbeatFrequencyMS=60000`,
          { serverSelectionTimeoutMS: 5000 }
        )
        await client.connect()
        const col = client.db('shop').collection('orders')
        await col.insertOne({ item: 'widget', qty: 3 })
        await col.insertMany([{ item: 'gadget' }, { item: 'gizmo' }])
        const found = await col.find({ qty: { $gt: 1 } }).toArray()
        expect(found.length).toBe(3)
        await col.updateOne({ item: 'widget' }, { $set: { qty: 4 } })
        await col.deleteMany({ item: 'gizmo' })
        await client
          .db('shop')
          .command({ boom: 1 })
          .catch(() => undefined)
        await client.close()
      },
      { dissectors: [mongodbDissector, genericTcpDissector] }
    )
    await peer.close()
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds every request tshark finds, with the same opcode and command', async () => {
    const decodeAs = ['-d', `tcp.port==${port},mongo`]
    const t0 = performance.now()
    const rows = await tsharkFields(
      file,
      `mongo && tcp.dstport == ${port}`,
      ['mongo.request_id', 'mongo.opcode', 'mongo.element.name', 'mongo.full_collection_name'],
      decodeAs
    )
    const tsharkMs = performance.now() - t0
    const mongo = result.entries.filter((e) => e.proto === 'mongodb')
    expect(mongo.length).toBe(rows.length)
    const ops: Record<string, string> = {
      '2013': 'OP_MSG',
      '2004': 'OP_QUERY',
      '2012': 'OP_COMPRESSED',
    }
    const ours = mongo
      .map((e) => `${String(attr(e, 'mongodb_opcode'))}|${String(attr(e, 'mongodb_command'))}`)
      .sort()
    // OP_QUERY's document follows the namespace; tshark lists element names in order, the first is the command.
    const theirs = rows.map((r) => `${ops[r[1]!] ?? r[1]}|${(r[2] ?? '').split(',')[0]}`).sort()
    expect(ours).toEqual(theirs)
    for (const c of ['insert', 'find', 'update', 'delete', 'boom'])
      expect(ours).toContain(`OP_MSG|${c}`)
    console.log(
      `mongodb: ${mongo.length} calls, analyzeFile ${result.analyzeMs.toFixed(1)} ms (${((mongo.length / result.analyzeMs) * 1000).toFixed(0)} calls/s), tshark ${tsharkMs.toFixed(0)} ms`
    )
  })

  it('reports database, collection, replies and errors', () => {
    const mongo = result.entries.filter((e) => e.proto === 'mongodb')
    const insert = mongo.filter((e) => e.method === 'insert')
    expect(insert.length).toBe(2)
    for (const e of insert) {
      expect(attr(e, 'mongodb_database')).toBe('shop')
      expect(attr(e, 'mongodb_collection')).toBe('orders')
      expect(e.path).toBe('orders')
      expect(attr(e, 'mongodb_success')).toBe(true)
      expect(e.status).toBe(0)
    }
    const find = mongo.find((e) => e.method === 'find')!
    expect(find.respBody).toContain('"firstBatch"')
    const boom = mongo.find((e) => e.method === 'boom')!
    expect(boom.status).toBe(59)
    expect(attr(boom, 'mongodb_success')).toBe(false)
    expect(attr(boom, 'mongodb_error_code')).toBe(59)
    expect(attr(boom, 'mongodb_error_code_name')).toBe('CommandNotFound')
    expect(attr(boom, 'mongodb_error_message')).toBe("no such command: 'boom'")
    for (const e of mongo) expect(e.errorType).toBe('')
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })
})
