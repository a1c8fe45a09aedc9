/** Our writers' output checked by Wireshark's readers (capinfos, tshark) and by our own reader. */
import { closeSync, createWriteStream, openSync, readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { LinkType } from '@tapwire/packet'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapError } from './errors.js'
import { parseCapture } from './parse-capture.js'
import { PcapWriter, encodePcap } from './pcap-writer.js'
import { PcapngWriter, encodePcapng } from './pcapng-writer.js'
import {
  capinfosCount,
  epochOf,
  hexOf,
  makeTempDir,
  pseudoBytes,
  run,
  tsharkEpochLens,
  tsharkFrames,
} from './test-support.js'
import type { WritableRecord } from './types.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

/** Records with awkward times: 0 ns, 999999999 ns, sub-µs digits, times past 2038 (u32 range). */
function records(n: number, seed = 1): WritableRecord[] {
  const out: WritableRecord[] = []
  for (let i = 0; i < n; i++) {
    const tsSec = i === n - 1 ? 4000000000 : 1700000000 + i * 3
    const tsNsec = i === 0 ? 0 : i === 1 ? 999999999 : (i * 123456789 + seed) % 1e9
    const data = pseudoBytes(14 + ((i * 131) % 1500), seed * 10000 + i)
    out.push({ tsSec, tsNsec, data, origLen: i % 7 === 3 ? data.length + 100 : data.length })
  }
  return out
}

const usEpoch = (r: WritableRecord): string =>
  epochOf({ tsSec: r.tsSec, tsNsec: Math.floor(r.tsNsec / 1000) * 1000 })

describe('pcap writer', () => {
  for (const resolution of ['us', 'ns'] as const) {
    it(`writes ${resolution} pcap that capinfos and tshark read as written`, async () => {
      const recs = records(500)
      const file = tmp.path(`w-${resolution}.pcap`)
      // Small buffer so many flushes (and drains) happen.
      const w = new PcapWriter(createWriteStream(file), {
        linkType: LinkType.ETHERNET,
        resolution,
        bufferSize: 8192,
      })
      for (const r of recs) await w.write(r)
      await w.close()
      expect(w.recordsWritten).toBe(500)
      expect(capinfosCount(file)).toBe(500)
      const expected = recs.map(
        (r) => `${resolution === 'ns' ? epochOf(r) : usEpoch(r)}\t${r.origLen}`
      )
      expect(tsharkEpochLens(file)).toEqual(expected)
      const frames = tsharkFrames(file)
      expect(frames.map((f) => f.hex)).toEqual(recs.map((r) => hexOf(r.data)))
      const bytes = readFileSync(file)
      expect(bytes.readUInt32LE(0)).toBe(resolution === 'ns' ? 0xa1b23c4d : 0xa1b2c3d4)
      expect(bytes.readUInt32LE(16)).toBe(262144)
      const parsed = parseCapture(bytes)
      expect(parsed.records.map((r) => r.linkType)).toEqual(recs.map(() => 1))
    })
  }

  it('writes to a file descriptor and truncates packets longer than the snaplen', async () => {
    const file = tmp.path('fd.pcap')
    const fd = openSync(file, 'w')
    const w = new PcapWriter(fd, { linkType: LinkType.RAW, snapLen: 64, resolution: 'ns' })
    await w.write({ tsSec: 1, tsNsec: 2, data: pseudoBytes(100, 1) })
    await w.close()
    closeSync(fd)
    const [frame] = tsharkFrames(file)
    expect(frame).toMatchObject({
      epoch: '1.000000002',
      len: 100,
      capLen: 64,
      hex: hexOf(pseudoBytes(100, 1).subarray(0, 64)),
    })
  })

  it('waits for drain on a slow stream (backpressure) and keeps chunk order', async () => {
    const chunks: Buffer[] = []
    let pendingCallbacks = 0
    let maxPending = 0
    const slow = new Writable({
      highWaterMark: 4096,
      write(chunk: Buffer, _enc, cb) {
        pendingCallbacks++
        maxPending = Math.max(maxPending, pendingCallbacks)
        setTimeout(() => {
          chunks.push(chunk)
          pendingCallbacks--
          cb()
        }, 2)
      },
    })
    let drains = 0
    slow.on('drain', () => drains++)
    const w = new PcapWriter(slow, { linkType: 1, bufferSize: 4096 })
    const recs = records(300, 5)
    for (const r of recs) await w.write(r)
    await w.close()
    expect(drains).toBeGreaterThan(10)
    expect(maxPending).toBe(1)
    const parsed = parseCapture(Buffer.concat(chunks))
    expect(parsed.records.map((r) => hexOf(r.data))).toEqual(recs.map((r) => hexOf(r.data)))
  })

  it('awaits promise-returning sinks', async () => {
    const parts: Uint8Array[] = []
    const w = new PcapWriter(
      {
        write: (c: Uint8Array) =>
          new Promise<void>((resolve) => setTimeout(() => resolve(void parts.push(c)), 1)),
      },
      { linkType: 1, bufferSize: 1 }
    )
    for (const r of records(20)) await w.write(r)
    await w.close()
    expect(parseCapture(Buffer.concat(parts)).records).toHaveLength(20)
  })

  it('encodePcap equals the streaming writer byte for byte', async () => {
    const recs = records(50)
    const parts: Uint8Array[] = []
    const w = new PcapWriter(
      { write: (c: Uint8Array) => void parts.push(c) },
      { linkType: 1, resolution: 'ns' }
    )
    for (const r of recs) await w.write(r)
    await w.close()
    expect(hexOf(encodePcap(recs, { linkType: 1, resolution: 'ns' }))).toBe(
      hexOf(Buffer.concat(parts))
    )
  })

  it('refuses records it cannot encode, and writes after close', async () => {
    const w = new PcapWriter({ write: () => true }, { linkType: 1 })
    expect(() => w.write({ tsSec: -1, tsNsec: 0, data: new Uint8Array(1) })).toThrow(PcapError)
    expect(() => w.write({ tsSec: 1, tsNsec: 1e9, data: new Uint8Array(1) })).toThrow(PcapError)
    expect(() => w.write({ tsSec: 1, tsNsec: 0, data: new Uint8Array(1), linkType: 101 })).toThrow(
      /pcapng/
    )
    await w.close()
    expect(() => w.write({ tsSec: 1, tsNsec: 0, data: new Uint8Array(1) })).toThrow(
      expect.objectContaining({ code: 'PCAP_WRITER_CLOSED' })
    )
  })
})

describe('pcapng writer', () => {
  it('writes SHB + IDBs (if_name, if_description, if_tsresol=9) + EPBs that tshark reads as written', async () => {
    const recs = records(400).map((r, i) => ({ ...r, ifIndex: i % 3 }))
    const file = tmp.path('w.pcapng')
    const w = new PcapngWriter(createWriteStream(file), {
      bufferSize: 10000,
      interfaces: [
        { linkType: LinkType.ETHERNET, name: 'eth0', description: 'node-a:eth0' },
        { linkType: LinkType.LINUX_SLL2, name: 'any', description: 'node-b:any' },
      ],
    })
    // Interfaces can be added after the start; the IDB is emitted before its first packet.
    expect(w.addInterface({ linkType: LinkType.RAW, name: 'tun0' })).toBe(2)
    for (const r of recs) await w.write(r)
    await w.close()
    expect(capinfosCount(file)).toBe(400)
    expect(tsharkEpochLens(file)).toEqual(recs.map((r) => `${epochOf(r)}\t${r.origLen}`))
    const frames = tsharkFrames(file)
    expect(frames.map((f) => [f.ifId, f.hex])).toEqual(recs.map((r) => [r.ifIndex, hexOf(r.data)]))
    const names = run('tshark', [
      '-r',
      file,
      '-T',
      'fields',
      '-e',
      'frame.interface_name',
      '-e',
      'frame.interface_description',
      '-c',
      '3',
    ])
    expect(names.split('\n').filter((l) => l !== '')).toEqual([
      'eth0\tnode-a:eth0',
      'any\tnode-b:any',
      'tun0\t',
    ])
    const parsed = parseCapture(readFileSync(file))
    expect(parsed.info.interfaces.map((i) => [i.linkType, i.tsUnitsPerSecond, i.name])).toEqual([
      [1, 1e9, 'eth0'],
      [276, 1e9, 'any'],
      [101, 1e9, 'tun0'],
    ])
    expect(parsed.info.sections[0]!.userAppl).toBe('tapwire')
    expect(parsed.records.map((r) => epochOf(r))).toEqual(recs.map((r) => epochOf(r)))
  })

  it('writes IDBs for an empty capture and encodePcapng matches the stream', async () => {
    const parts: Uint8Array[] = []
    const w = new PcapngWriter(
      { write: (c: Uint8Array) => void parts.push(c) },
      { interfaces: [{ linkType: 1, name: 'lo' }] }
    )
    await w.close()
    const empty = parseCapture(Buffer.concat(parts))
    expect(empty.records).toEqual([])
    expect(empty.info.interfaces.map((i) => i.name)).toEqual(['lo'])

    const recs = records(30)
    const parts2: Uint8Array[] = []
    const w2 = new PcapngWriter(
      { write: (c: Uint8Array) => void parts2.push(c) },
      { interfaces: [{ linkType: 1, name: 'lo' }] }
    )
    for (const r of recs) await w2.write(r)
    await w2.close()
    expect(hexOf(encodePcapng(recs, { interfaces: [{ linkType: 1, name: 'lo' }] }))).toBe(
      hexOf(Buffer.concat(parts2))
    )
  })

  it('refuses undeclared interfaces and mismatched link types', () => {
    const w = new PcapngWriter({ write: () => true }, { interfaces: [{ linkType: 1 }] })
    expect(() => w.write({ tsSec: 1, tsNsec: 0, data: new Uint8Array(1), ifIndex: 1 })).toThrow(
      PcapError
    )
    expect(() => w.write({ tsSec: 1, tsNsec: 0, data: new Uint8Array(1), linkType: 113 })).toThrow(
      PcapError
    )
  })
})
