import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { run } from './cli.js'
import { download, parseContentRange } from './download.js'

// A stand-in for the hub's PCAP export that can honour or ignore Range, so resume is tested
// against both behaviours the CLI must handle.
const PCAP = randomBytes(300_000)
let honourRange = true
let seenRanges: (string | undefined)[] = []
let server: Server
let base: string
let dir: string

beforeAll(async () => {
  server = createServer((req, res) => {
    if (!req.url?.startsWith('/mcp/snapshots/inc-1/pcap')) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no snapshot here' } }))
      return
    }
    seenRanges.push(req.headers.range)
    const m = honourRange ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null
    if (m) {
      const start = Number(m[1])
      if (start >= PCAP.length) {
        res.writeHead(416, { 'content-range': `bytes */${PCAP.length}` })
        res.end()
        return
      }
      res.writeHead(206, {
        'content-type': 'application/vnd.tcpdump.pcap',
        'content-range': `bytes ${start}-${PCAP.length - 1}/${PCAP.length}`,
        'content-length': String(PCAP.length - start),
      })
      res.end(PCAP.subarray(start))
      return
    }
    res.writeHead(200, {
      'content-type': 'application/vnd.tcpdump.pcap',
      'content-length': String(PCAP.length),
    })
    res.end(PCAP)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  dir = await mkdtemp(join(tmpdir(), 'tapwire-dl-'))
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  await rm(dir, { recursive: true, force: true })
})
beforeEach(() => {
  honourRange = true
  seenRanges = []
})

const url = () => new URL(`${base}/mcp/snapshots/inc-1/pcap`)

describe('resumable download', () => {
  it('downloads from scratch with a progress bar on a TTY', async () => {
    const file = join(dir, 'a.pcap')
    let drawn = ''
    const r = await download({ hub: base }, url(), file, {
      progress: { isTTY: true, write: (s) => (drawn += s) },
    })
    expect(r).toEqual({ bytes: PCAP.length, resumedFrom: 0, complete: true })
    expect((await readFile(file)).equals(PCAP)).toBe(true)
    expect(seenRanges).toEqual([undefined])
    expect(drawn).toContain('100%')
  })

  it('resumes a partial file with Range and appends', async () => {
    const file = join(dir, 'b.pcap')
    await writeFile(file, PCAP.subarray(0, 123_456))
    const r = await download({ hub: base }, url(), file)
    expect(r).toEqual({ bytes: PCAP.length, resumedFrom: 123_456, complete: true })
    expect(seenRanges).toEqual(['bytes=123456-'])
    expect((await readFile(file)).equals(PCAP)).toBe(true)
  })

  it('restarts when the server ignores Range', async () => {
    honourRange = false
    const file = join(dir, 'c.pcap')
    await writeFile(file, PCAP.subarray(0, 1000))
    const logs: string[] = []
    const r = await download({ hub: base }, url(), file, { log: (m) => logs.push(m) })
    expect(r.resumedFrom).toBe(0)
    expect((await readFile(file)).equals(PCAP)).toBe(true)
    expect(logs.join()).toContain('does not support resuming')
  })

  it('a complete file is left alone; a longer one is fetched again', async () => {
    const done = join(dir, 'd.pcap')
    await writeFile(done, PCAP)
    expect(await download({ hub: base }, url(), done)).toEqual({
      bytes: PCAP.length,
      resumedFrom: PCAP.length,
      complete: true,
    })
    const wrong = join(dir, 'e.pcap')
    await writeFile(wrong, Buffer.concat([PCAP, Buffer.from('junk')]))
    await download({ hub: base }, url(), wrong)
    expect((await readFile(wrong)).equals(PCAP)).toBe(true)
  })

  it('parses Content-Range', () => {
    expect(parseContentRange('bytes 10-19/100')).toEqual({ start: 10, total: 100 })
    expect(parseContentRange('bytes */100')).toEqual({ total: 100 })
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0 })
    expect(parseContentRange(null)).toEqual({})
  })
})

describe('tapwire snapshot download', () => {
  it('writes --out and exits 0; an unknown snapshot exits 1 with the hub message', async () => {
    let err = ''
    const io = {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err += s) },
      stdin: new PassThrough(),
      env: {},
    }
    const file = join(dir, 'cli.pcap')
    expect(await run(['--hub', base, 'snapshot', 'download', 'inc-1', '--out', file], io)).toBe(0)
    expect((await readFile(file)).equals(PCAP)).toBe(true)
    expect(
      await run(['--hub', base, 'snapshot', 'download', 'nope', '--out', join(dir, 'x.pcap')], io)
    ).toBe(1)
    expect(err).toContain('NOT_FOUND (HTTP 404): no snapshot here')
  })
})
