/**
 * Throughput of the ring, printed for the record: the synchronous part of append (what the capture
 * thread pays), the write-behind rate to disk, and slice / writeSlice read rates. The only assertion
 * is a generous bound on the synchronous cost, so a slow CI disk does not fail it.
 */
import { createWriteStream } from 'node:fs'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { makeTempDir } from '../test-support.js'
import { PcapRing } from './ring.js'
import { BASE_SEC, ETHERNET, makePackets, toBatches } from './test-helpers.js'

let tmp: ReturnType<typeof makeTempDir>
beforeEach(() => {
  tmp = makeTempDir()
})
afterEach(() => tmp.remove())

it('measures append, write-behind and slice rates', async () => {
  const PER = 1024
  // ~330 B average packet; 64 distinct batches reused (append copies them).
  const batches = toBatches(makePackets(PER * 64), PER)
  const rounds = 4
  const ring = await PcapRing.open(tmp.path('ring'), {
    maxBytes: 512 << 20,
    linkType: ETHERNET,
    maxQueueBytes: 1 << 30,
  })
  const perBatchUs: number[] = []
  let bytes = 0
  const t0 = performance.now()
  let syncMs = 0
  for (let r = 0; r < rounds; r++) {
    for (const b of batches) {
      // Same payloads each round, later timestamps are not needed for a rate measurement.
      const s = performance.now()
      ring.append(b)
      const d = performance.now() - s
      syncMs += d
      perBatchUs.push(d * 1000)
      bytes += b.byteLength
    }
  }
  await ring.flush()
  const totalMs = performance.now() - t0
  const packets = PER * batches.length * rounds
  perBatchUs.sort((a, b) => a - b)
  const median = perBatchUs[perBatchUs.length >> 1]!
  const p99 = perBatchUs[Math.floor(perBatchUs.length * 0.99)]!
  const st = ring.stats()
  expect(st.writtenPackets).toBe(packets)

  const s1 = performance.now()
  let n = 0
  for await (const batch of ring.sliceBatches(0, BASE_SEC * 2000)) n += batch.length
  const sliceMs = performance.now() - s1
  expect(n).toBe(packets)
  const s2 = performance.now()
  const res = await ring.writeSlice(0, BASE_SEC * 2000, createWriteStream(tmp.path('out.pcap')))
  const writeSliceMs = performance.now() - s2
  expect(res.packets).toBe(packets)
  await ring.close()

  const mb = bytes / 1e6
  console.log(
    [
      `ring throughput: ${packets} packets, ${mb.toFixed(1)} MB of batches (${PER} packets/batch)`,
      `  append (sync, capture thread): median ${median.toFixed(1)} µs/batch, p99 ${p99.toFixed(1)} µs, ` +
        `${(mb / (syncMs / 1000)).toFixed(0)} MB/s, ${(packets / (syncMs / 1000) / 1e6).toFixed(1)} Mpkt/s`,
      `  write-behind to disk: ${(mb / (totalMs / 1000)).toFixed(0)} MB/s, ${(packets / (totalMs / 1000) / 1e3).toFixed(0)} kpkt/s`,
      `  slice read: ${(st.bytes / 1e6 / (sliceMs / 1000)).toFixed(0)} MB/s, ${(packets / (sliceMs / 1000) / 1e3).toFixed(0)} kpkt/s`,
      `  writeSlice (+sha256): ${(res.bytes / 1e6 / (writeSliceMs / 1000)).toFixed(0)} MB/s, ${(packets / (writeSliceMs / 1000) / 1e3).toFixed(0)} kpkt/s`,
    ].join('\n')
  )
  // Figures only: rates are the benchmarks' business, never a test's (shared, noisy machines).
}, 120_000)
