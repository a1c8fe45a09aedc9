import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Chunk } from '../test-support/fuzz.js'
import { feed, mutated, params, randomChunks } from '../test-support/fuzz.js'
import { redisDissector } from './redis-dissector.js'
import type { RespValue } from './resp-parser.js'
import { renderResp, RespParser } from './resp-parser.js'

// Fuzzing: random bytes and mutated well-formed conversations never make a session throw, and
// emitted calls stay bounded (harness in ../test-support/fuzz.ts).

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
void enc

const seeds: Chunk[][] = [
  [
    {
      dir: 0,
      data: enc('*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'),
    },
    { dir: 1, data: enc('$5\r\nalice\r\n+OK\r\n') },
  ],
  [
    { dir: 0, data: enc('*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n') },
    { dir: 1, data: enc('%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n') },
    { dir: 0, data: enc('*2\r\n$3\r\nGET\r\n$1\r\na\r\n') },
    // RESP3 spec example: an attribute before the reply.
    {
      dir: 1,
      data: enc(
        '|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n'
      ),
    },
  ],
  [
    { dir: 0, data: enc('*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n') },
    {
      dir: 1,
      data: enc(
        '>3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n'
      ),
    },
  ],
  [
    { dir: 0, data: enc('PING\r\nGET a\r\n') },
    { dir: 1, data: enc('+PONG\r\n-ERR boom\r\n~2\r\n#t\r\n_\r\n') },
  ],
]

describe('Redis fuzzing', () => {
  it('random bytes never throw', () => {
    fc.assert(
      fc.property(randomChunks, (chunks) => void feed(redisDissector, chunks)),
      params
    )
  })

  it('mutated conversations never throw; calls bounded by commands', () => {
    fc.assert(
      fc.property(mutated(seeds), (chunks) => {
        const calls = feed(redisDissector, chunks)
        const bytes = chunks.reduce((n, c) => n + c.data.length, 0)
        expect(calls.length).toBeLessThanOrEqual(bytes)
      }),
      params
    )
  })

  it('seeds decode: attributes skipped, pushes as messages, RESP3 types', () => {
    const calls = seeds.flatMap((s) => feed(redisDissector, s))
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'GET user:1 0',
      'SET k 0',
      'HELLO  0',
      'GET a 0',
      'SUBSCRIBE ch 0',
      'message ch 0',
      'PING  0',
      'GET a 1',
    ])
    const attr = calls[3]!
    expect(new TextDecoder().decode(attr.respBody)).toBe('[(integer) 2039123, (integer) 9543892]')
  })

  it('rejects oversized bulk strings and deep nesting without throwing', () => {
    const errors: string[] = []
    const values: RespValue[] = []
    const p = new RespParser(
      { onValue: (v) => void values.push(v), onError: (r) => void errors.push(r) },
      false
    )
    p.push(enc('$536870913\r\n'), 0)
    expect(errors).toEqual(['bulk length out of range'])
    const deep = new RespParser(
      { onValue: (v) => void values.push(v), onError: (r) => void errors.push(r) },
      false
    )
    deep.push(enc('*1\r\n'.repeat(100)), 0)
    expect(errors[1]).toBe('nesting too deep')
    expect(values).toEqual([])
  })

  it('keeps memory bounded on a 64 MiB value streamed in pieces', () => {
    const values: RespValue[] = []
    const p = new RespParser(
      { onValue: (v) => void values.push(v), onError: () => undefined },
      false,
      1024
    )
    const chunk = new Uint8Array(1 << 20).fill(0x78)
    const before = process.memoryUsage().heapUsed
    p.push(enc(`$${64 << 20}\r\n`), 0)
    for (let i = 0; i < 64; i++) p.push(chunk, i)
    p.push(enc('\r\n'), 65)
    expect(values.length).toBe(1)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20)
    expect(renderResp(values[0]!).length).toBeLessThan(300)
  })
})
