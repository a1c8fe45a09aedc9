import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import {
  entryAttr,
  recordAndAnalyze,
  startKafkaPeer,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import { genericTcpDissector } from '../generic/generic-dissector.js'
import { kafkaDissector } from './kafka-dissector.js'

const attr = entryAttr

// Real kafkajs producer traffic against the Kafka test peer, recorded by tcpdump; tshark's Kafka
// dissector is the oracle.
describe('Kafka against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'kafka.pcap')
  let result: AnalyzeResult & { analyzeMs: number }
  let port = 0

  beforeAll(async () => {
    const peer = await startKafkaPeer()
    port = peer.port
    result = await recordAndAnalyze(
      file,
      `tcp port ${port}`,
      async () => {
        const kafka = new Kafka({
          clientId: 'tapwire-test',
          brokers: [`127.0.0.1:${port}`],
          logLevel: logLevel.NOTHING,
          retry: { retries: 0 },
        })
        const producer = kafka.producer({ allowAutoTopicCreation: false })
        await producer.connect()
        for (let i = 0; i < 5; i++)
          await producer.send({
            topic: 'orders',
            messages: [{ key: `k${i}`, value: `order ${i}` }],
          })
        await producer.send({ topic: 'payments', messages: [{ value: 'paid' }] })
        await producer
          .send({ topic: 'forbidden-audit', messages: [{ value: 'nope' }] })
          .catch(() => undefined)
        await producer.disconnect()
      },
      { dissectors: [kafkaDissector, genericTcpDissector] }
    )
    await peer.close()
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds the requests tshark finds, with api key, correlation id, client id and topics', async () => {
    const decodeAs = ['-d', `tcp.port==${port},kafka`]
    const t0 = performance.now()
    const rows = await tsharkFields(
      file,
      `kafka && tcp.dstport == ${port}`,
      ['kafka.api_key', 'kafka.correlation_id', 'kafka.client_id', 'kafka.topic_name'],
      decodeAs
    )
    const tsharkMs = performance.now() - t0
    const kafka = result.entries.filter((e) => e.proto === 'kafka')
    expect(kafka.length).toBe(rows.length)
    expect(kafka.length).toBeGreaterThanOrEqual(7)
    const ours = kafka
      .map((e) =>
        [
          String(attr(e, 'kafka_api_key')),
          String(attr(e, 'kafka_correlation_id')),
          attr(e, 'kafka_client_id'),
          (e.summary ?? '').replace(/, /g, ','),
        ].join('|')
      )
      .sort()
    const theirs = rows.map((r) => [r[0], r[1], r[2], r[3] ?? ''].join('|')).sort()
    expect(ours).toEqual(theirs)
    console.log(
      `kafka: ${kafka.length} calls, analyzeFile ${result.analyzeMs.toFixed(1)} ms (${((kafka.length / result.analyzeMs) * 1000).toFixed(0)} calls/s), tshark ${tsharkMs.toFixed(0)} ms`
    )
  })

  it('pairs responses, reports errors and sizes', async () => {
    const decodeAs = ['-d', `tcp.port==${port},kafka`]
    const errors = await tsharkFields(
      file,
      `kafka.error != 0`,
      ['kafka.correlation_id', 'kafka.error'],
      decodeAs
    )
    const kafka = result.entries.filter((e) => e.proto === 'kafka')
    const failed = kafka.filter((e) => e.status !== 0)
    expect(failed.map((e) => `${String(attr(e, 'kafka_correlation_id'))}|${e.status}`)).toEqual(
      errors.map((r) => `${r[0]}|${r[1]}`)
    )
    expect(failed[0]?.path).toBe('forbidden-audit')
    for (const e of kafka) {
      expect(attr(e, 'kafka_response')).toBe(true)
      expect(e.errorType).toBe('')
      expect(attr(e, 'kafka_response_size')).toBeGreaterThan(0)
    }
    const produce = kafka.filter((e) => e.method === 'PRODUCE')
    expect(produce.map((e) => e.path)).toEqual([
      'orders',
      'orders',
      'orders',
      'orders',
      'orders',
      'payments',
      'forbidden-audit',
    ])
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })

  it('the KFL example selects exactly the Produce entries', () => {
    const f = compile('kafka && kafka_api_key_name == "PRODUCE"')
    const selected = result.entries.filter(f.predicate)
    expect(selected.length).toBe(7)
    expect(selected.every((e) => e.method === 'PRODUCE')).toBe(true)
  })
})
