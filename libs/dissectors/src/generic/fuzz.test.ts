import { describe } from 'vitest'
import { fuzzSession } from '../test-support/fuzz.js'
import { bytes, te } from '../test-support/wire-bytes.js'
import { genericTcpDissector, genericUdpDissector } from './generic-dissector.js'

// The fallback sees whatever no dissector claimed: fuzz it with the same two properties.
describe('fallback TCP fuzzing', () => {
  fuzzSession(genericTcpDissector, [
    [
      { dir: 0, data: bytes(te('\x00hello')) },
      { dir: 1, data: bytes(te('world')) },
    ],
  ])
})
describe('fallback UDP fuzzing', () => {
  fuzzSession(genericUdpDissector, [[{ dir: 0, data: bytes(te('metric:1|c')) }]])
})
