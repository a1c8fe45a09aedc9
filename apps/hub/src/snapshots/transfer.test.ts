import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '@tapwire/testing'
import type { PcapChunk, PcapSliceRequest } from '@tapwire/wire'
import { NodeOfflineError, SliceTransferError, fetchSlice } from './transfer.js'
import type { SliceTransport } from './transfer.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/**
 * An agent that follows the pull protocol over an in-memory slice, with faults to inject:
 * a damaged chunk, a lost reply (timeout), a lost session (agent restart: resume from offset),
 * or a wrong end-to-end digest.
 */
function fakeAgent(
  slice: Uint8Array,
  faults: {
    corruptAt?: number[]
    timeoutAt?: number[]
    wrongDigestTimes?: number
    packets?: number
  } = {}
) {
  const seen: { offset: number; transferId: string }[] = []
  const load = { outstanding: 0, maxOutstanding: 0 }
  let wrong = faults.wrongDigestTimes ?? 0
  const transport: SliceTransport = async (_node, req: PcapSliceRequest) => {
    load.maxOutstanding = Math.max(load.maxOutstanding, ++load.outstanding)
    await new Promise((r) => setImmediate(r))
    load.outstanding--
    const offset = Number(req.resumeOffset ?? 0)
    seen.push({ offset, transferId: req.transferId ?? '' })
    if (faults.timeoutAt?.includes(offset)) {
      faults.timeoutAt.splice(faults.timeoutAt.indexOf(offset), 1)
      throw new Error('TIMEOUT')
    }
    const size = req.chunkSize ?? 262144
    const data = slice.slice(offset, offset + size)
    const chunk: PcapChunk = {
      transferId: req.transferId ?? '',
      offset,
      data: new Uint8Array(data),
      chunkSha256: sha(data),
      last: offset + data.length >= slice.length,
    }
    if (faults.corruptAt?.includes(offset) && data.length > 0) {
      faults.corruptAt.splice(faults.corruptAt.indexOf(offset), 1)
      chunk.data![0]! ^= 0xff
    }
    if (chunk.last) {
      chunk.totalSize = slice.length
      chunk.sha256 = wrong-- > 0 ? sha(randomBytes(8)) : sha(slice)
      chunk.packetCount = faults.packets ?? 7
    }
    return chunk
  }
  return { transport, seen, load }
}

describe('fetchSlice (chunked, pulled, verified)', () => {
  const dir = tempDir('tapwire-transfer-')
  afterAll(() => dir.dispose())
  const slice = randomBytes(1_000_000)
  const path = join(dir.path, 'n.pcap')

  it('pulls chunks in offset order, `pipeline` requests in flight at most, and verifies size and SHA-256', async () => {
    for (const pipeline of [1, 4]) {
      const a = fakeAgent(slice)
      const r = await fetchSlice({
        node: 'n',
        startMs: 1,
        endMs: 2,
        path,
        transport: a.transport,
        chunkBytes: 65536,
        pipeline,
      })
      expect(r).toMatchObject({
        bytes: slice.length,
        packets: 7,
        sha256: sha(slice),
        chunkRetries: 0,
        restarts: 0,
      })
      expect(r.chunks).toBe(Math.ceil(slice.length / 65536))
      const offsets = a.seen.map((s) => s.offset)
      // Every chunk asked once, in order; past the last one, at most the rest of the window.
      expect(offsets.slice(0, r.chunks)).toEqual(
        Array.from({ length: r.chunks }, (_, i) => i * 65536)
      )
      expect(offsets.length - r.chunks).toBeLessThanOrEqual(pipeline - 1)
      expect(a.load.maxOutstanding).toBe(pipeline)
      expect(Buffer.compare(readFileSync(path), slice)).toBe(0)
    }
  })

  it('re-aligns its window when the agent serves shorter chunks than asked', async () => {
    const a = fakeAgent(slice)
    const capped: SliceTransport = (node, req, t) =>
      a.transport(node, { ...req, chunkSize: Math.min(req.chunkSize ?? 0, 50_000) }, t)
    const r = await fetchSlice({ node: 'n', startMs: 1, endMs: 2, path, transport: capped, chunkBytes: 65536 })
    expect(r.sha256).toBe(sha(slice))
    expect(r.chunks).toBe(Math.ceil(slice.length / 50_000))
    expect(Buffer.compare(readFileSync(path), slice)).toBe(0)
  })

  it('asks again for a damaged chunk (its own checksum fails) and for a lost reply, at the same offset', async () => {
    // One request at a time: each fault is seen, and retried at its own offset.
    const a = fakeAgent(slice, { corruptAt: [131072], timeoutAt: [262144] })
    const r = await fetchSlice({
      node: 'n',
      startMs: 1,
      endMs: 2,
      path,
      transport: a.transport,
      chunkBytes: 65536,
      retryDelayMs: 1,
      pipeline: 1,
    })
    expect(r.chunkRetries).toBe(2)
    expect(r.sha256).toBe(sha(slice))
    const offsets = a.seen.map((s) => s.offset)
    expect(offsets.filter((o) => o === 131072).length).toBe(2)
    expect(offsets.filter((o) => o === 262144).length).toBe(2)
    expect(Buffer.compare(readFileSync(path), slice)).toBe(0)
    // Pipelined: a fault drops the window and asking resumes at the failed chunk; same file.
    const b = fakeAgent(slice, { corruptAt: [131072, 524288], timeoutAt: [655360] })
    const r2 = await fetchSlice({
      node: 'n',
      startMs: 1,
      endMs: 2,
      path,
      transport: b.transport,
      chunkBytes: 65536,
      retryDelayMs: 1,
    })
    expect(r2.chunkRetries).toBeGreaterThanOrEqual(2)
    expect(r2.sha256).toBe(sha(slice))
    expect(Buffer.compare(readFileSync(path), slice)).toBe(0)
  })

  it('restarts the whole slice when the end-to-end digest disagrees, and gives up after maxRestarts', async () => {
    const once = fakeAgent(slice, { wrongDigestTimes: 1 })
    const r = await fetchSlice({
      node: 'n',
      startMs: 1,
      endMs: 2,
      path,
      transport: once.transport,
      chunkBytes: 262144,
    })
    expect(r.restarts).toBe(1)
    expect(new Set(once.seen.map((s) => s.transferId)).size).toBe(2)
    const always = fakeAgent(slice, { wrongDigestTimes: 99 })
    await expect(
      fetchSlice({
        node: 'n',
        startMs: 1,
        endMs: 2,
        path,
        transport: always.transport,
        maxRestarts: 1,
      })
    ).rejects.toThrow(/checksum mismatch/)
  })

  it('fails fast when the node is offline, and after too many failures in a row', async () => {
    const offline: SliceTransport = () => Promise.reject(new NodeOfflineError('n'))
    await expect(
      fetchSlice({ node: 'n', startMs: 1, endMs: 2, path, transport: offline })
    ).rejects.toBeInstanceOf(NodeOfflineError)
    const dead: SliceTransport = () => Promise.reject(new Error('TIMEOUT'))
    await expect(
      fetchSlice({
        node: 'n',
        startMs: 1,
        endMs: 2,
        path,
        transport: dead,
        maxChunkRetries: 2,
        retryDelayMs: 1,
      })
    ).rejects.toBeInstanceOf(SliceTransferError)
    const erring: SliceTransport = () =>
      Promise.resolve({ error: 'raw capture is not enabled on this node' })
    await expect(
      fetchSlice({ node: 'n', startMs: 1, endMs: 2, path, transport: erring })
    ).rejects.toThrow(/agent: raw capture is not enabled/)
  })
})
