import { createHash } from 'node:crypto'
import { createWriteStream, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from 'nats'
import type { NatsConnection } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BatchBuilder } from '@tapwire/packet'
import { PcapRing } from '@tapwire/pcap'
import { startNatsServer, tempDir } from '@tapwire/testing'
import type { NatsServerHandle } from '@tapwire/testing'
import type { PcapChunk } from '@tapwire/wire'
import {
  decodePcapChunk,
  decodePcapSliceRequest,
  encodePcapChunk,
  encodePcapSliceRequest,
} from '@tapwire/wire'
import { SliceServer } from './slice-server.js'

/** The hub's pull loop in miniature (the real one, with retries, is apps/hub/src/snapshots/transfer.ts). */
async function pull(
  nc: NatsConnection,
  subject: string,
  startTs: number,
  endTs: number,
  path: string
) {
  const hash = createHash('sha256')
  const out = createWriteStream(path)
  let offset = 0
  let chunks = 0
  for (;;) {
    const m = await nc.request(
      subject,
      encodePcapSliceRequest({
        transferId: 't1',
        startTs,
        endTs,
        resumeOffset: offset,
        chunkSize: 262144,
      }),
      { timeout: 10_000 }
    )
    const c = decodePcapChunk(m.data)
    if (c.error) throw new Error(c.error)
    const data = c.data ?? new Uint8Array(0)
    expect(createHash('sha256').update(data).digest('hex')).toBe(c.chunkSha256)
    hash.update(data)
    if (!out.write(data)) await new Promise<void>((r) => out.once('drain', () => r()))
    offset += data.length
    chunks++
    if (c.last) {
      await new Promise<void>((r) => out.end(() => r()))
      return {
        bytes: offset,
        packets: Number(c.packetCount),
        sha256: hash.digest('hex'),
        agentSha: c.sha256,
        total: Number(c.totalSize),
        chunks,
      }
    }
  }
}

const BASE = 1_700_000_000

/** `count` Ethernet frames of `size` bytes, 10 µs apart, in batches of 1024. */
function batches(count: number, size: number): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  let b = new BatchBuilder(1, 2 << 20)
  const frame = new Uint8Array(size)
  for (let i = 0; i < count; i++) {
    new DataView(frame.buffer).setUint32(14, i)
    const ns = i * 10_000
    b.append(BASE + Math.floor(ns / 1e9), ns % 1e9, frame)
    if (b.count === 1024) {
      out.push(b.finish())
      b = new BatchBuilder(1, 2 << 20)
    }
  }
  if (b.count > 0) out.push(b.finish())
  return out
}

describe('SliceServer over NATS', () => {
  const dir = tempDir('tapwire-slice-')
  let nats: NatsServerHandle
  let agentNc: NatsConnection
  let hubNc: NatsConnection
  let ring: PcapRing
  let server: SliceServer
  const packets = 120_000
  const size = 1000

  beforeAll(async () => {
    nats = await startNatsServer()
    ring = await PcapRing.open(join(dir.path, 'ring'), {
      maxBytes: 512 << 20,
      linkType: 1,
      maxQueueBytes: 256 << 20,
    })
    for (const b of batches(packets, size)) ring.append(b)
    await ring.flush()
    server = new SliceServer(() => ring)
    agentNc = await connect({ servers: nats.url })
    hubNc = await connect({ servers: nats.url })
    agentNc.subscribe('tapwire.agent.n1.pcap', {
      callback: (_err, msg) => {
        void server
          .handle(decodePcapSliceRequest(msg.data))
          .then((c) => msg.respond(encodePcapChunk(c)))
      },
    })
    await agentNc.flush()
  }, 60_000)

  afterAll(async () => {
    server?.close()
    await agentNc?.close()
    await hubNc?.close()
    await ring?.close()
    await nats?.dispose()
    dir.dispose()
  })

  it('transfers a ~120 MB slice byte-identical to writeSlice, and reports the rate', async () => {
    const start = BASE * 1000
    const end = start + 2000
    const ref = join(dir.path, 'ref.pcap')
    const expected = await ring.writeSlice(start, end, createWriteStream(ref))
    const t = performance.now()
    const r = await pull(hubNc, 'tapwire.agent.n1.pcap', start, end, join(dir.path, 'got.pcap'))
    expect(r.agentSha).toBe(r.sha256)
    expect(r.total).toBe(r.bytes)
    const secs = (performance.now() - t) / 1000
    expect(r.packets).toBe(expected.packets)
    expect(r.packets).toBe(packets)
    expect(r.bytes).toBe(expected.bytes)
    expect(r.sha256).toBe(expected.sha256)
    expect(
      createHash('sha256')
        .update(readFileSync(join(dir.path, 'got.pcap')))
        .digest('hex')
    ).toBe(expected.sha256)
    expect(server.sessions).toBeLessThanOrEqual(1)
    console.log(
      `slice transfer over NATS: ${(r.bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(2)} s = ${(r.bytes / 1e6 / secs).toFixed(1)} MB/s (${r.chunks} chunks)`
    )
  }, 120_000)

  it('resumes from an offset: a new session regenerates and skips, the digest still covers every byte', async () => {
    const start = BASE * 1000 + 100
    const end = start + 200
    const whole = await ring.writeSlice(start, end, createWriteStream(join(dir.path, 'w.pcap')))
    const full = readFileSync(join(dir.path, 'w.pcap'))
    // First 3 chunks under one id, then a "restarted hub" resumes under another id at offset 3 chunks.
    let offset = 0
    for (let i = 0; i < 3; i++) {
      const c = await server.handle({
        transferId: 'a',
        startTs: start,
        endTs: end,
        resumeOffset: offset,
        chunkSize: 65536,
      })
      offset += c.data!.length
    }
    const parts: Uint8Array[] = []
    let last
    for (;;) {
      last = await server.handle({
        transferId: 'b',
        startTs: start,
        endTs: end,
        resumeOffset: offset,
        chunkSize: 65536,
      })
      expect(last.error ?? '').toBe('')
      expect(Number(last.offset)).toBe(offset)
      parts.push(last.data!)
      offset += last.data!.length
      if (last.last) break
    }
    expect(Buffer.compare(Buffer.concat([full.subarray(0, 3 * 65536), ...parts]), full)).toBe(0)
    expect(last.sha256).toBe(whole.sha256)
    expect(Number(last.totalSize)).toBe(whole.bytes)
    // Asking again for the last chunk (reply lost) resends it.
    const again = await server.handle({
      transferId: 'b',
      startTs: start,
      endTs: end,
      resumeOffset: Number(last.offset),
      chunkSize: 65536,
    })
    expect(again.sha256).toBe(whole.sha256)
  })

  it('serves pipelined requests of one transfer in order; past the end, empty last chunks (no regeneration)', async () => {
    const start = BASE * 1000 + 300
    const end = start + 150
    const whole = await ring.writeSlice(start, end, createWriteStream(join(dir.path, 'p.pcap')))
    const full = readFileSync(join(dir.path, 'p.pcap'))
    const C = 65536
    const n = Math.ceil(full.length / C)
    // Every chunk plus three past the end asked at once, as the hub's window does near the end.
    const replies = await Promise.all(
      Array.from({ length: n + 3 }, async (_, i) =>
        decodePcapChunk(
          (
            await hubNc.request(
              'tapwire.agent.n1.pcap',
              encodePcapSliceRequest({
                transferId: 'pipe',
                startTs: start,
                endTs: end,
                resumeOffset: i * C,
                chunkSize: C,
              }),
              { timeout: 10_000 }
            )
          ).data
        )
      )
    )
    for (const [i, r] of replies.entries()) {
      expect(r.error ?? '').toBe('')
      expect(Number(r.offset)).toBe(i * C)
      expect(createHash('sha256').update(r.data).digest('hex')).toBe(r.chunkSha256)
    }
    const body = replies.slice(0, n)
    expect(body.map((r) => r.last === true)).toEqual(body.map((_, i) => i === n - 1))
    expect(Buffer.compare(Buffer.concat(body.map((r) => r.data)), full)).toBe(0)
    expect(body[n - 1]!.sha256).toBe(whole.sha256)
    for (const r of replies.slice(n)) {
      expect(r.data.length).toBe(0)
      expect(r.last).toBe(true)
      expect(r.sha256).toBe(whole.sha256)
      expect(Number(r.totalSize)).toBe(whole.bytes)
    }
  })

  it('resends any of the last 4 chunks whose reply was lost, then goes on without regenerating', async () => {
    const start = BASE * 1000 + 500
    const end = start + 100
    await ring.writeSlice(start, end, createWriteStream(join(dir.path, 'r.pcap')))
    const full = readFileSync(join(dir.path, 'r.pcap'))
    const C = 16384
    const ask = (i: number): Promise<PcapChunk> =>
      server.handle({ transferId: 'resend', startTs: start, endTs: end, resumeOffset: i * C, chunkSize: C })
    const first = await Promise.all([0, 1, 2, 3, 4].map(ask))
    // The reply for chunk 2 was lost: asked again, the very same chunk comes back.
    expect(await ask(2)).toBe(first[2])
    const rest: PcapChunk[] = []
    for (let i = 5; rest.at(-1)?.last !== true; i++) {
      const c = await ask(i)
      expect(c.error ?? '').toBe('')
      rest.push(c)
    }
    expect(Buffer.compare(Buffer.concat([...first, ...rest].map((c) => c.data!)), full)).toBe(0)
    // Chunk 0 is out of the window by now: asking for it means a resume (a new, regenerated stream).
    const again = await ask(0)
    expect(Buffer.compare(again.data!, full.subarray(0, C))).toBe(0)
  })

  it('answers errors instead of throwing: no ring, no id, offset beyond the end', async () => {
    const none = new SliceServer(() => undefined)
    expect((await none.handle({ transferId: 'x', startTs: 0, endTs: 1 })).error).toMatch(
      /not enabled/
    )
    none.close()
    expect((await server.handle({ startTs: 0, endTs: 1 })).error).toMatch(/transfer_id/)
    const r = await server.handle({
      transferId: 'far',
      startTs: BASE * 1000,
      endTs: BASE * 1000 + 1,
      resumeOffset: 1e9,
    })
    expect(r.error).toMatch(/beyond the slice end/)
  })
})
