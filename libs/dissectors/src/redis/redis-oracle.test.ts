import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  recordLoopback,
  requireTool,
  sleep,
  startRedis,
  tempDir,
  TestProcess,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Attr, Entry } from '@tapwire/wire'
import { redisDissector } from './redis-dissector.js'

const run = promisify(execFile)
const attr = (e: Entry, name: string): Attr | undefined => e.attrs?.find((a) => a.name === name)

/** Commands sent by redis-cli one per connection (the `argv` is what the server receives). */
const COMMANDS: string[][] = [
  ['SET', 'user:1', 'alice'],
  ['GET', 'user:1'],
  ['GET', 'missing'],
  ['INCR', 'counter'],
  ['SET', 'user:x', 'not a number'],
  ['INCR', 'user:x'],
  ['RPUSH', 'list', 'a', 'b', 'c'],
  ['LRANGE', 'list', '0', '-1'],
  ['GET', 'list'],
  ['HSET', 'h', 'f1', 'v1', 'f2', 'v2'],
  ['SADD', 'set', 'x', 'y'],
  ['ZADD', 'z', '1.5', 'm'],
  ['DEL', 'user:1'],
]

// Real redis-cli traffic (RESP2, RESP3 via HELLO 3, --pipe pipelining with inline commands,
// pub/sub) against a real redis-server. tshark's RESP dissector is the oracle for the commands.
describe('Redis against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'redis.pcap')
  let result: AnalyzeResult
  let port = 0
  const pipeInput = 'SET p:1 one\r\nGET p:1\r\nINCR p:n\r\nINCR p:n\r\nPING\r\n'

  beforeAll(async () => {
    const cli = requireTool('redis-cli', 'redis-tools')
    const server = await startRedis()
    port = server.port
    const base = ['-h', '127.0.0.1', '-p', String(port)]
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        for (const c of COMMANDS) await run(cli, [...base, ...c])
        // RESP3: redis-cli -3 sends HELLO 3 first; replies become maps, sets, doubles.
        await run(cli, [...base, '-3', 'HGETALL', 'h'])
        await run(cli, [...base, '-3', 'SMEMBERS', 'set'])
        await run(cli, [...base, '-3', 'ZSCORE', 'z', 'm'])
        // Pipelining: --pipe writes everything at once (inline commands here), then ECHO.
        await new Promise<void>((resolve, reject) => {
          const p = spawn(cli, [...base, '--pipe'], { stdio: ['pipe', 'ignore', 'ignore'] })
          p.once('exit', () => resolve())
          p.once('error', reject)
          p.stdin.end(pipeInput)
        })
        // Pub/sub, RESP2 and RESP3 subscribers; each published message is its own entry.
        const sub2 = new TestProcess('sub2', cli, [...base, 'SUBSCRIBE', 'news', 'sport'])
        const sub3 = new TestProcess('sub3', cli, [...base, '-3', 'SUBSCRIBE', 'news'])
        await sub2.waitFor(/sport/, 10_000)
        await sub3.waitFor(/news/, 10_000)
        await run(cli, [...base, 'PUBLISH', 'news', 'hello'])
        await run(cli, [...base, 'PUBLISH', 'sport', 'goal'])
        await sub2.waitFor(/goal/, 10_000)
        await sub3.waitFor(/hello/, 10_000)
        await sleep(100)
        await sub2.stop()
        await sub3.stop()
      })
    } finally {
      await server.stop()
    }
    result = await analyzeFile(file, { dissectors: [redisDissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  it('sees the commands tshark sees (verb and key of every client request)', async () => {
    // tshark's RESP dissector: client-side arrays whose bulk strings are the arguments.
    const rows = await tsharkFields(
      file,
      `tcp.dstport==${port} && resp.array`,
      ['tcp.stream', 'resp.bulk_string.value'],
      ['-d', `tcp.port==${port},resp`]
    )
    const hex = (s: string): string => Buffer.from(s.replace(/:/g, ''), 'hex').toString('latin1')
    const theirs = rows.flatMap((r) => (r[1] ? [r[1].split(',').map(hex)] : []))
    // One row per frame; each redis-cli command fits a frame, so the frame's strings are its args.
    const theirVerbs = theirs.map((args) => args[0]!.toUpperCase())
    const ours = result.entries.filter((e) => e.method !== 'message' && e.proto === 'redis')
    const ourMultibulk = ours.filter(
      (e) =>
        !['P:1', 'P:N'].includes(e.path!.toUpperCase()) &&
        !(e.method === 'PING' && e.path === '') &&
        e.method !== 'ECHO'
    )
    // --pipe sent inline commands, which tshark does not decode as arrays: compare the rest.
    expect(ourMultibulk.map((e) => e.method).sort()).toEqual(
      theirVerbs.filter((v) => v !== 'ECHO' && v !== 'PING').sort()
    )
    for (const args of theirs) {
      const verb = args[0]!.toUpperCase()
      if (['COMMAND', 'HELLO', 'ECHO', 'PING'].includes(verb)) continue
      const key = verb === 'SUBSCRIBE' || verb === 'PUBLISH' ? args[1] : args[1]
      expect(
        ours.some((e) => e.method === verb && e.path === key),
        `${verb} ${key}`
      ).toBe(true)
    }
  })

  it('pairs replies, marks errors and fills the KFL variables', () => {
    const byLine = (line: string): Entry =>
      result.entries.find((e) => attr(e, 'redis_command')?.str === line)!
    const get = byLine('GET user:1')
    expect(get.status).toBe(0)
    expect(get.respBody).toBe('"alice"')
    expect(attr(get, 'redis_type')!.str).toBe('GET')
    expect(attr(get, 'redis_key')!.str).toBe('user:1')
    expect(attr(get, 'redis_total_size')!.num).toBe(
      attr(get, 'redis_request_size')!.num! + attr(get, 'redis_response_size')!.num!
    )
    // *2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n and $5\r\nalice\r\n
    expect(attr(get, 'redis_request_size')!.num).toBe(25)
    expect(attr(get, 'redis_response_size')!.num).toBe(11)
    expect(byLine('GET missing').respBody).toBe('(nil)')
    const incr = byLine('INCR user:x')
    expect(incr.status).toBe(1)
    expect(incr.respBody).toContain('ERR value is not an integer')
    expect(byLine('GET list').respBody).toContain('WRONGTYPE')
    expect(byLine('LRANGE list 0 -1').respBody).toBe('["a", "b", "c"]')
    expect(byLine('SET user:x "not a number"').status).toBe(0)
  })

  it('decodes RESP3 replies after HELLO 3', () => {
    const hello = result.entries.filter((e) => e.method === 'HELLO')
    expect(hello.length).toBeGreaterThanOrEqual(3)
    expect(hello[0]!.respBody).toMatch(/^\{"server": "redis"/)
    const hgetall = result.entries.find((e) => e.method === 'HGETALL')!
    expect(hgetall.respBody).toBe('{"f1": "v1", "f2": "v2"}')
    const smembers = result.entries.find((e) => e.method === 'SMEMBERS')!
    expect(smembers.respBody).toMatch(/^\[("x", "y"|"y", "x")\]$/)
    // A RESP3 double (",1.5"), where RESP2 sends a bulk string.
    expect(result.entries.find((e) => e.method === 'ZSCORE')!.respBody).toBe('1.5')
  })

  it('splits pipelined inline commands and pairs them in order', () => {
    const piped = result.entries.filter((e) => e.path?.startsWith('p:'))
    expect(piped.map((e) => `${e.method} ${e.path} ${e.respBody}`)).toEqual([
      'SET p:1 OK',
      'GET p:1 "one"',
      'INCR p:n (integer) 1',
      'INCR p:n (integer) 2',
    ])
    // All of them were written before the first reply came back.
    const firstReply = Number(piped[0]!.ts) + piped[0]!.elapsedUs! / 1000
    expect(piped.every((e) => Number(e.ts) <= firstReply)).toBe(true)
    expect(result.entries.some((e) => e.method === 'ECHO')).toBe(true)
  })

  it('reports SUBSCRIBE confirmations and each pub/sub message as its own entry', () => {
    const subs = result.entries.filter((e) => e.method === 'SUBSCRIBE')
    expect(subs.map((e) => e.path).sort()).toEqual(['news', 'news'])
    const two = subs.find((e) => attr(e, 'redis_command')!.str === 'SUBSCRIBE news sport')!
    expect(two.respBody).toBe(
      '[["subscribe", "news", (integer) 1], ["subscribe", "sport", (integer) 2]]'
    )
    expect(two.errorType).toBe('')
    const messages = result.entries.filter((e) => e.method === 'message')
    expect(messages.map((m) => `${m.path}:${m.respBody}`).sort()).toEqual([
      'news:"hello"',
      'news:"hello"',
      'sport:"goal"',
    ])
    const publishes = result.entries.filter((e) => e.method === 'PUBLISH')
    expect(publishes.map((p) => p.respBody)).toEqual(['(integer) 2', '(integer) 1'])
    expect(result.stats.engine.dissectorErrors).toBe(0)
    expect(result.entries.every((e) => e.proto === 'redis')).toBe(true)
  })
})
