/**
 * A real capture through the ring: loopback traffic recorded by tcpdump, fed in as capture batches,
 * read back packet by packet. tcpdump is driven here directly rather than through
 * `recordLoopback` of @tapwire/testing, because that library depends on @tapwire/pcap: importing
 * it from pcap's own tests would make a project-reference cycle.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { BatchBuilder } from '@tapwire/packet'
import { openCapture } from '../open-capture.js'
import { makeTempDir } from '../test-support.js'
import type { CaptureRecord } from '../types.js'
import { PcapRing } from './ring.js'
import { collect } from './test-helpers.js'
import { parseCapture } from '../parse-capture.js'

let tmp: ReturnType<typeof makeTempDir>
beforeEach(() => {
  tmp = makeTempDir()
})
afterEach(() => tmp.remove())

async function echoTraffic(port: number, rounds: number): Promise<void> {
  const sock = createConnection({ port, host: '127.0.0.1' })
  await new Promise<void>((r) => sock.once('connect', r))
  for (let i = 0; i < rounds; i++) {
    const msg = Buffer.alloc(100 + ((i * 131) % 1200), i & 0xff)
    await new Promise<void>((resolve) => {
      let got = 0
      const on = (d: Buffer): void => {
        got += d.length
        if (got >= msg.length) {
          sock.off('data', on)
          resolve()
        }
      }
      sock.on('data', on)
      sock.write(msg)
    })
  }
  sock.end()
  await new Promise<void>((r) => sock.once('close', r))
}

/** Records with tcpdump; resolves with the packets the kernel dropped (0: the file is complete). */
async function recordLoopback(
  file: string,
  filter: string,
  traffic: () => Promise<void>
): Promise<number> {
  const p = spawn(
    'tcpdump',
    ['-i', 'lo', '--immediate-mode', '-U', '-s', '0', '-B', '16384', '-w', file, filter],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let out = ''
  p.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  try {
    const deadline = Date.now() + 15_000
    while (!/listening on/.test(out)) {
      if (Date.now() > deadline || p.exitCode !== null)
        throw new Error(`tcpdump did not start: ${out}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    await traffic()
    await new Promise((r) => setTimeout(r, 300))
  } finally {
    p.kill('SIGINT')
    await exited
  }
  return Number(/(\d+) packets? dropped by kernel/.exec(out)?.[1] ?? 0)
}

it('stores a real loopback capture and gives back every packet unchanged', async () => {
  const server = createServer((s) => s.pipe(s))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const file = tmp.path('lo.pcap')
  try {
    // The reference recording must be complete (a busy machine can make tcpdump drop): 300
    // echo round trips are at least 600 packets; record again, a bounded number of times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const dropped = await recordLoopback(file, `tcp port ${port}`, () => echoTraffic(port, 300))
      if (dropped === 0 && parseCapture(readFileSync(file)).records.length >= 600) break
    }
  } finally {
    server.close()
  }
  const reader = await openCapture(file)
  const linkType = reader.info.interfaces[0]!.linkType
  const original: CaptureRecord[] = []
  for await (const r of reader) original.push({ ...r, data: r.data.slice() })
  // A real capture of the exchange: at least one packet per round trip. (A busy machine can make
  // tcpdump lose some; what is tested below is that the ring gives back exactly what it was fed.)
  expect(original.length).toBeGreaterThanOrEqual(300)

  const ring = await PcapRing.open(tmp.path('ring'), {
    maxBytes: 16 << 20,
    segmentBytes: 64 << 10,
    indexEvery: 32,
    linkType,
  })
  const b = new BatchBuilder(linkType)
  for (const r of original) {
    b.append(r.tsSec, r.tsNsec, r.data, r.origLen)
    if (b.count === 64) ring.append(b.finish())
  }
  if (b.count > 0) ring.append(b.finish())
  await ring.flush()
  expect(ring.stats().segments).toBeGreaterThan(1)
  const got = await collect(ring.slice(0, Date.now() + 60_000))
  expect(got.length).toBe(original.length)
  for (let i = 0; i < original.length; i++) {
    const o = original[i]!
    const g = got[i]!
    expect([g.tsSec, g.tsNsec, g.capLen, g.origLen, g.linkType]).toEqual([
      o.tsSec,
      o.tsNsec,
      o.capLen,
      o.origLen,
      o.linkType,
    ])
    expect(Buffer.from(g.data).equals(Buffer.from(o.data))).toBe(true)
  }
  await ring.close()
}, 60_000)
