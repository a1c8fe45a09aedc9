import { readFileSync, writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapError } from './errors.js'
import { MAX_BUFFERED_BLOCK } from './limits.js'
import { openCapture } from './open-capture.js'
import { parseCapture } from './parse-capture.js'
import { encodePcap } from './pcap-writer.js'
import {
  asFrames,
  block,
  concat,
  epb,
  idb,
  makeTempDir,
  pseudoBytes,
  shb,
  tsharkFrames,
} from './test-support.js'
import type { CaptureRecord, RecordSink } from './types.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

async function readAll(
  file: string,
  chunkSize?: number
): Promise<{ records: CaptureRecord[]; truncated: boolean }> {
  const reader = await openCapture(file, chunkSize === undefined ? {} : { chunkSize })
  const records: CaptureRecord[] = []
  for await (const r of reader) records.push(r)
  return { records, truncated: reader.truncated }
}

/** readInto with a sink that copies every record (as a batch packer does). */
async function readAllInto(
  file: string,
  chunkSize?: number
): Promise<{ records: CaptureRecord[]; truncated: boolean; recordCount: number }> {
  const reader = await openCapture(file, chunkSize === undefined ? {} : { chunkSize })
  const records: CaptureRecord[] = []
  const sink: RecordSink = {
    record(linkType, ifIndex, tsSec, tsNsec, buf, start, capLen, origLen) {
      records.push({ linkType, ifIndex, tsSec, tsNsec, capLen, origLen, data: buf.slice(start, start + capLen) })
    },
  }
  try {
    while (await reader.readInto(sink));
  } finally {
    await reader.close()
  }
  return { records, truncated: reader.truncated, recordCount: reader.recordCount }
}

describe('openCapture', () => {
  it('skips unknown blocks larger than the buffering limit by seeking, and still reads what follows', async () => {
    const le = true
    // A custom block (0x40000BAD) of MAX_BUFFERED_BLOCK + 64 KiB: never buffered, skipped by offset.
    const bigLen = MAX_BUFFERED_BLOCK + 65536
    const big = new Uint8Array(bigLen)
    const dv = new DataView(big.buffer)
    dv.setUint32(0, 0x40000bad, le)
    dv.setUint32(4, bigLen, le)
    dv.setUint32(bigLen - 4, bigLen, le)
    // And a modest unknown block (NRB type, 300 KB) spanning many chunks: buffered, trailer checked.
    const nrb = block(le, 4, pseudoBytes(300_000, 9))
    const bytes = concat(
      shb(le),
      idb(le, 1, 262144),
      epb(le, 0, 1n, pseudoBytes(30, 2)),
      big,
      nrb,
      epb(le, 0, 2n, pseudoBytes(30, 3))
    )
    const file = tmp.path('bigskip.pcapng')
    writeFileSync(file, bytes)
    const expected = asFrames(parseCapture(bytes).records)
    expect(expected).toHaveLength(2)
    for (const chunk of [64, 4096, 1 << 20]) {
      const { records, truncated } = await readAll(file, chunk)
      expect(truncated).toBe(false)
      expect(asFrames(records)).toEqual(expected)
      // The sink path (two buffers in turn, no record objects) reads the same.
      const into = await readAllInto(file, chunk)
      expect(into.truncated).toBe(false)
      expect(asFrames(into.records)).toEqual(expected)
      expect(into.recordCount).toBe(2)
    }
    // Cut inside the oversized skipped block: flagged as truncated, first packet kept.
    const cutBytes = bytes.subarray(0, bytes.length - 400_000)
    const cut = tmp.path('bigskip-cut.pcapng')
    writeFileSync(cut, cutBytes)
    const r = await readAll(cut, 4096)
    expect(r.records).toHaveLength(1)
    expect(r.truncated).toBe(true)
    expect(parseCapture(cutBytes).truncated).toBe(true)
  })

  it('grows its buffer for records larger than the chunk size', async () => {
    const recs = [0, 1, 2].map((i) => ({ tsSec: 10 + i, tsNsec: i, data: pseudoBytes(200_000, i) }))
    const file = tmp.path('jumbo.pcap')
    writeFileSync(file, encodePcap(recs, { linkType: 1, resolution: 'ns' }))
    const { records } = await readAll(file, 1024)
    expect(records.map((r) => r.capLen)).toEqual([200_000, 200_000, 200_000])
    expect(asFrames(records)).toEqual(tsharkFrames(file))
    expect(asFrames((await readAllInto(file, 1024)).records)).toEqual(tsharkFrames(file))
  })

  it('reports a torn final record after streaming the rest', async () => {
    const recs = Array.from({ length: 1000 }, (_, i) => ({
      tsSec: i,
      tsNsec: 0,
      data: pseudoBytes(60, i),
    }))
    const bytes = encodePcap(recs, { linkType: 1 })
    const file = tmp.path('torn.pcap')
    writeFileSync(file, bytes.subarray(0, bytes.length - 30))
    const reader = await openCapture(file, { chunkSize: 1000 })
    let n = 0
    for await (const batch of reader.batches()) n += batch.length
    expect(n).toBe(999)
    expect(reader.truncated).toBe(true)
    expect(reader.warnings[0]).toMatch(/ends inside a record/)
    expect(reader.recordCount).toBe(999)
    const into = await readAllInto(file, 1000)
    expect(into.records.map((r) => r.tsSec)).toEqual(recs.slice(0, 999).map((r) => r.tsSec))
    expect(into.records.every((r, i) => r.data.every((b, j) => b === recs[i]!.data[j]))).toBe(true)
    expect(into.truncated).toBe(true)
    expect(into.recordCount).toBe(999)
  })

  it('rejects non-capture files and headers cut short', async () => {
    const bad = tmp.path('bad.bin')
    writeFileSync(bad, 'GET / HTTP/1.1\r\n\r\n')
    await expect(openCapture(bad)).rejects.toMatchObject({ code: 'PCAP_BAD_MAGIC', offset: 0 })
    const short = tmp.path('short.pcap')
    writeFileSync(short, encodePcap([], { linkType: 1 }).subarray(0, 10))
    await expect(openCapture(short)).rejects.toBeInstanceOf(PcapError)
    await expect(openCapture(short)).rejects.toMatchObject({ code: 'PCAP_TRUNCATED' })
    const empty = tmp.path('empty.pcap')
    writeFileSync(empty, '')
    await expect(openCapture(empty)).rejects.toMatchObject({ code: 'PCAP_TRUNCATED' })
  })

  it('exposes metadata as soon as it resolves and can stop early', async () => {
    const bytes = concat(
      shb(false),
      idb(false, 276, 65535),
      epb(false, 0, 5n, pseudoBytes(10, 1)),
      epb(false, 0, 6n, pseudoBytes(10, 2))
    )
    const file = tmp.path('meta.pcapng')
    writeFileSync(file, bytes)
    const reader = await openCapture(file)
    expect(reader.info.format).toBe('pcapng')
    expect(reader.info.byteOrder).toBe('big')
    expect(reader.info.interfaces.map((i) => i.linkType)).toEqual([276])
    for await (const r of reader) {
      expect(r.tsNsec).toBe(5000)
      break
    }
    await reader.close() // idempotent after the loop's own close
    await expect(reader.batches().next()).rejects.toThrow(/once/)
  })

  it('reads a few hundred thousand small records, every one, with the right sizes', async () => {
    const n = 300_000
    const recs = Array.from({ length: n }, (_, i) => ({
      tsSec: 1700000000 + (i >> 10),
      tsNsec: i,
      data: pseudoBytes(60, i & 1023),
    }))
    const file = tmp.path('many.pcap')
    writeFileSync(file, encodePcap(recs, { linkType: 1, resolution: 'ns' }))
    const reader = await openCapture(file)
    let count = 0
    let bytes = 0
    for await (const r of reader) {
      count++
      bytes += r.capLen
    }
    expect(count).toBe(n)
    expect(bytes).toBe(60 * n)
    expect(readFileSync(file).length).toBe(24 + 76 * n)
    // The rate is measured by the benchmarks (tools/bench), never asserted: these machines are
    // shared and noisy.
  })
})
