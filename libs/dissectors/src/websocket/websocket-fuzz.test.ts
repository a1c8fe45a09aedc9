import { describe, expect, it } from 'vitest'
import { fuzzSession } from '../test-support/fuzz.js'
import { concatBytes, frame, recordingContext, upgradeInit } from './test-support.js'
import { websocketDissector, WsOpcode } from './websocket-dissector.js'

const MASK = [1, 2, 3, 4] as const
/** The session starts from an upgrade: it cannot be reached otherwise. */
const INIT = upgradeInit('/ws')

const conversation = [
  {
    dir: 0 as const,
    data: concatBytes(
      frame({ opcode: WsOpcode.TEXT, payload: 'part1-', fin: false, mask: MASK }),
      frame({ opcode: WsOpcode.PING, payload: 'p', mask: MASK }),
      frame({ opcode: WsOpcode.CONTINUATION, payload: 'end', mask: MASK })
    ),
  },
  {
    dir: 1 as const,
    data: frame({ opcode: WsOpcode.BINARY, payload: new Uint8Array(300).fill(7), lengthBits: 16 }),
  },
  {
    dir: 0 as const,
    data: frame({
      opcode: WsOpcode.CLOSE,
      payload: Uint8Array.of(0x03, 0xe8, 0x62, 0x79, 0x65),
      mask: MASK,
    }),
  },
]

describe('WebSocket fuzzing', () => {
  it('the seed decodes: one text message, one binary, a ping and a close', () => {
    const r = recordingContext([websocketDissector])
    const s = websocketDissector.newSession(r.ctx, INIT)
    for (const c of conversation) s.onData(c.dir, c.data, 2000)
    s.onClose(3000)
    expect(r.calls.map((c) => c.method).sort()).toEqual(['binary', 'close', 'ping', 'text'])
  })
  fuzzSession(websocketDissector, [conversation], INIT)
})
