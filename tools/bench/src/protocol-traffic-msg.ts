import amqp from 'amqplib'
import { Kafka, logLevel } from 'kafkajs'
import { MongoClient } from 'mongodb'
import { sleep, startKafkaPeer, startMongoPeer, startRabbitmq } from '@tapwire/testing'
import type { Recorded } from './protocol-util.js'
import { pool, recordComplete } from './protocol-util.js'

/**
 * MongoDB: the official Node driver against libs/testing's wire peer, 4 workers cycling
 * insert/find/update/delete on a collection each (so each find returns at most one document).
 */
export async function recordMongo(file: string, calls: number, deadline: number): Promise<Recorded> {
  const peer = await startMongoPeer()
  try {
    const made = await recordComplete(file, `tcp port ${peer.port}`, async () => {
      const client = new MongoClient(`mongodb://127.0.0.1:${peer.port}/?directConnection=true&heartbeatFrequencyMS=60000`, {
        serverSelectionTimeoutMS: 5000,
        maxPoolSize: 4,
      })
      await client.connect()
      try {
        const db = client.db('shop')
        return await pool(calls, 4, deadline, async (i) => {
          const col = db.collection(`orders${i % 4}`)
          const n = Math.floor(i / 4)
          switch (n % 4) {
            case 0:
              await col.insertOne({ item: `widget-${i}`, qty: i % 10 })
              break
            case 1:
              await col.find({ qty: { $gte: 0 } }).toArray()
              break
            case 2:
              await col.updateOne({ item: { $exists: true } }, { $set: { qty: 1 } })
              break
            default:
              await col.deleteMany({})
          }
        })
      } finally {
        await client.close()
      }
    })
    return { port: peer.port, made }
  } finally {
    await peer.close()
  }
}

/** Kafka: a kafkajs producer against libs/testing's broker peer, one Produce per send, 8 in flight. */
export async function recordKafka(file: string, calls: number, deadline: number): Promise<Recorded> {
  const peer = await startKafkaPeer()
  try {
    const made = await recordComplete(file, `tcp port ${peer.port}`, async () => {
      const kafka = new Kafka({ clientId: 'tapwire-bench', brokers: [`127.0.0.1:${peer.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } })
      const producer = kafka.producer({ allowAutoTopicCreation: false })
      await producer.connect()
      try {
        const topics = ['orders', 'payments', 'audit']
        return await pool(calls, 8, deadline, async (i) => {
          await producer.send({ topic: topics[i % topics.length]!, messages: [{ key: `k${i}`, value: JSON.stringify({ order: i, qty: i % 7 }) }] })
        })
      } finally {
        await producer.disconnect()
      }
    })
    return { port: peer.port, made }
  } finally {
    await peer.close()
  }
}

/**
 * AMQP 0-9-1: amqplib against a real RabbitMQ. Messages are published in rounds of 100 and
 * consumed with manual acks, so each message is three calls (basic.publish, basic.deliver,
 * basic.ack); a round waits for its deliveries, bounded by the deadline.
 */
export async function recordAmqp(file: string, calls: number, deadline: number): Promise<Recorded> {
  const broker = await startRabbitmq()
  try {
    const made = await recordComplete(file, `tcp port ${broker.port}`, async () => {
      const conn = await amqp.connect(broker.url)
      try {
        const ch = await conn.createChannel()
        await ch.prefetch(200)
        const q = await ch.assertQueue('', { exclusive: true, autoDelete: true })
        let delivered = 0
        await ch.consume(q.queue, (m) => {
          if (!m) return
          delivered++
          ch.ack(m)
        })
        const messages = Math.max(1, Math.ceil(calls / 3))
        let published = 0
        while (published < messages && Date.now() < deadline) {
          const round = Math.min(100, messages - published)
          for (let i = 0; i < round; i++)
            ch.publish('', q.queue, Buffer.from(JSON.stringify({ order: published + i })), { contentType: 'application/json' })
          published += round
          while (delivered < published && Date.now() < deadline) await sleep(5)
        }
        if (delivered < published) throw new Error(`amqp: ${published - delivered} of ${published} messages not delivered before the deadline`)
        await ch.close()
        return published + 2 * delivered
      } finally {
        await conn.close()
      }
    })
    return { port: broker.port, made }
  } finally {
    await broker.stop()
  }
}
