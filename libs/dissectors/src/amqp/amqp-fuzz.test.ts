import { describe, expect, it } from 'vitest'
import { PROBE_CONN, feed, fuzzSession } from '../test-support/fuzz.js'
import { be32, bytes, te } from '../test-support/wire-bytes.js'
import { amqpDissector } from './amqp-dissector.js'

/** The AMQP 0-9-1 protocol header, then basic.publish (60/40) to exchange "orders", key "a.b". */
function publish(): Uint8Array {
  const args = [0, 60, 0, 40, 0, 0, 6, ...te('orders'), 3, ...te('a.b'), 0]
  return bytes([...te('AMQP'), 0, 0, 9, 1, 1, 0, 1, ...be32(args.length), ...args, 0xce])
}

describe('AMQP fuzzing', () => {
  it('the seed decodes as basic.publish', () => {
    expect(feed(amqpDissector, [{ dir: 0, data: publish() }])[0]).toMatchObject({
      method: 'basic.publish',
      path: 'a.b',
    })
    expect(amqpDissector.probe(publish(), 0, PROBE_CONN)).toBe('match')
  })
  fuzzSession(amqpDissector, [[{ dir: 0, data: publish() }]])
})
