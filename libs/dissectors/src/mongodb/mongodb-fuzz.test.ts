import { describe, expect, it } from 'vitest'
import { PROBE_CONN, feed, fuzzSession } from '../test-support/fuzz.js'
import { bytes, le32, te } from '../test-support/wire-bytes.js'
import { mongodbDissector } from './mongodb-dissector.js'

/** An OP_MSG (2013) request: { insert: "orders", $db: "shop" }. */
function insertMsg(): Uint8Array {
  const doc = [
    ...te('\x02insert\x00'),
    ...le32(7),
    ...te('orders\x00'),
    ...te('\x02$db\x00'),
    ...le32(5),
    ...te('shop\x00'),
    0,
  ]
  const bson = [...le32(doc.length + 4), ...doc]
  const body = [...le32(1), ...le32(0), ...le32(2013), 0, 0, 0, 0, 0, ...bson]
  return bytes([...le32(body.length + 4), ...body])
}

describe('MongoDB fuzzing', () => {
  it('the seed decodes as an insert into orders', () => {
    expect(feed(mongodbDissector, [{ dir: 0, data: insertMsg() }])[0]).toMatchObject({
      method: 'insert',
      path: 'orders',
    })
    expect(mongodbDissector.probe(insertMsg(), 0, PROBE_CONN)).toBe('match')
  })
  fuzzSession(mongodbDissector, [[{ dir: 0, data: insertMsg() }]])
})
