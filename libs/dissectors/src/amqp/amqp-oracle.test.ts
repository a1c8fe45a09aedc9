import { join } from 'node:path'
import amqp from 'amqplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import {
  entryAttr,
  recordAndAnalyze,
  sleep,
  startRabbitmq,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult, RabbitmqHandle } from '@tapwire/testing'
import { genericTcpDissector } from '../generic/generic-dissector.js'
import { amqpDissector } from './amqp-dissector.js'
import { methodName } from './amqp-methods.js'

const attr = entryAttr

// amqplib against Debian's rabbitmq-server; tshark's AMQP dissector is the oracle.
describe('AMQP 0-9-1 against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'amqp.pcap')
  let result: AnalyzeResult & { analyzeMs: number }
  let broker: RabbitmqHandle | undefined

  beforeAll(async () => {
    broker = await startRabbitmq()
    const b = broker
    result = await recordAndAnalyze(
      file,
      `tcp port ${b.port}`,
      async () => {
        const conn = await amqp.connect(b.url)
        const ch = await conn.createChannel()
        await ch.assertExchange('orders', 'topic', { durable: false })
        const q = await ch.assertQueue('order-events', { durable: false, autoDelete: true })
        await ch.bindQueue(q.queue, 'orders', 'order.*')
        for (let i = 0; i < 3; i++)
          ch.publish('orders', `order.created`, Buffer.from(JSON.stringify({ id: i })), {
            contentType: 'application/json',
          })
        ch.sendToQueue('order-events', Buffer.from('direct to queue'), {
          contentType: 'text/plain',
        })
        await sleep(200)
        const got = await ch.get('order-events', { noAck: true })
        expect(got && got.content.toString()).toBe('{"id":0}')
        let delivered = 0
        await ch.consume('order-events', (m) => {
          if (m) {
            delivered++
            ch.ack(m)
          }
        })
        for (let i = 0; i < 50 && delivered < 3; i++) await sleep(50)
        expect(delivered).toBe(3)
        await ch.close()
        // A missing queue: the broker closes the channel with 404 NOT_FOUND.
        const ch2 = await conn.createChannel()
        ch2.on('error', () => undefined)
        await ch2.checkQueue('no-such-queue').catch(() => undefined)
        await conn.close()
      },
      { dissectors: [amqpDissector, genericTcpDissector] }
    )
  }, 180_000)

  afterAll(async () => {
    await broker?.stop()
    dir.dispose()
  }, 60_000)

  it('sees every method frame tshark sees', async () => {
    const port = broker!.port
    const t0 = performance.now()
    const rows = await tsharkFields(
      file,
      'amqp.method.class',
      ['amqp.method.class', 'amqp.method.method'],
      ['-d', `tcp.port==${port},amqp`]
    )
    const tsharkMs = performance.now() - t0
    const theirs: string[] = []
    for (const r of rows) {
      const cs = r[0]!.split(',')
      const ms = r[1]!.split(',')
      cs.forEach((c, i) => theirs.push(methodName(Number(c), Number(ms[i]))))
    }
    const entries = result.entries.filter((e) => e.proto === 'amqp')
    const ours = entries.flatMap((e) => [
      e.method,
      ...(attr(e, 'amqp_response_method') ? [String(attr(e, 'amqp_response_method'))] : []),
    ])
    expect(ours.sort()).toEqual(theirs.sort())
    console.log(
      `amqp: ${entries.length} calls (${theirs.length} methods), analyzeFile ${result.analyzeMs.toFixed(1)} ms (${((entries.length / result.analyzeMs) * 1000).toFixed(0)} calls/s), tshark ${tsharkMs.toFixed(0)} ms`
    )
  })

  it('reports exchange and routing key of each publish as tshark decodes them', async () => {
    const rows = await tsharkFields(
      file,
      'amqp.method.class == 60 && amqp.method.method == 40',
      ['amqp.method.arguments.exchange', 'amqp.method.arguments.routing_key'],
      ['-d', `tcp.port==${broker!.port},amqp`]
    )
    // A frame whose PDUs tshark matched but left undecoded comes back as an empty row: skip it.
    const theirs = rows
      .filter((r) => r[1] !== '')
      .flatMap((r) => {
        const ex = r[0]!.split(',')
        const rk = r[1]!.split(',')
        return rk.map((k, i) => `${ex[i] ?? ''}|${k}`)
      })
    const publishes = result.entries.filter((e) => e.method === 'basic.publish')
    expect(
      publishes
        .map((e) => `${String(attr(e, 'amqp_exchange'))}|${String(attr(e, 'amqp_routing_key'))}`)
        .sort()
    ).toEqual(theirs.sort())
    expect(publishes.length).toBe(4)
    expect(publishes[0]!.reqBody).toBe('{"id":0}')
    expect(attr(publishes[0]!, 'amqp_content_type')).toBe('application/json')
    const deliveries = result.entries.filter((e) => e.method === 'basic.deliver')
    expect(deliveries.length).toBe(3)
    const get = result.entries.find((e) => e.method === 'basic.get')!
    expect(attr(get, 'amqp_response_method')).toBe('basic.get-ok')
    expect(get.respBody).toBe('{"id":0}')
    const declare = result.entries.find((e) => e.method === 'queue.declare')!
    expect(attr(declare, 'amqp_queue')).toBe('order-events')
    expect(declare.elapsedUs).toBeGreaterThan(0)
    const closed = result.entries.find((e) => e.method === 'channel.close' && e.status === 404)!
    expect(String(attr(closed, 'amqp_reply_text'))).toMatch(/NOT_FOUND/)
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })

  it('the KFL example selects exactly the publishes', () => {
    const f = compile('amqp && amqp_method == "basic.publish"')
    const selected = result.entries.filter(f.predicate)
    expect(selected.length).toBe(4)
    expect(selected.every((e) => e.method === 'basic.publish')).toBe(true)
  })
})
