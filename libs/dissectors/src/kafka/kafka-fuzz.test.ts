import { describe, expect, it } from 'vitest'
import { PROBE_CONN, feed, fuzzSession } from '../test-support/fuzz.js'
import { be32, bytes, te } from '../test-support/wire-bytes.js'
import { kafkaDissector } from './kafka-dissector.js'

/** A Produce v3 request (api key 0, correlation id 7, client "test") for topic "orders". */
export function produceRequest(correlationId = 7): Uint8Array {
  const body = [
    0,
    0,
    0,
    3,
    ...be32(correlationId),
    0,
    4,
    ...te('test'),
    0xff,
    0xff,
    0,
    1,
    0,
    0,
    0x75,
    0x30,
    0,
    0,
    0,
    1,
    0,
    6,
    ...te('orders'),
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]
  return bytes([...be32(body.length), ...body])
}

describe('Kafka fuzzing', () => {
  it('the seed decodes as a Produce to orders', () => {
    expect(feed(kafkaDissector, [{ dir: 0, data: produceRequest() }])[0]).toMatchObject({
      method: 'PRODUCE',
      path: 'orders',
    })
    expect(kafkaDissector.probe(produceRequest(), 0, PROBE_CONN)).toBe('match')
  })

  fuzzSession(kafkaDissector, [[{ dir: 0, data: produceRequest() }]])

  it('pending requests stay bounded: a flood of unanswered requests reports the overflow', () => {
    const chunks = Array.from({ length: 100 }, (_, i) => ({
      dir: 0 as const,
      data: produceRequest(i),
    }))
    const calls = feed(kafkaDissector, chunks)
    expect(calls).toHaveLength(100)
    // feed() allows 32 pending requests: the oldest beyond that are reported unanswered.
    expect(calls.filter((c) => c.error?.type === 'pair-not-found')).toHaveLength(100 - 32)
  })
})
