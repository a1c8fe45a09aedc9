/**
 * Files made by Wireshark's own tools (text2pcap, editcap, mergecap), read by us and compared with
 * what tshark reports for the same file: timestamps to the nanosecond, lengths, interfaces, bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openCapture } from './open-capture.js'
import { parseCapture } from './parse-capture.js'
import { asFrames, hexOf, makeTempDir, pseudoBytes, run, tsharkFrames } from './test-support.js'
import type { CaptureRecord } from './types.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

interface Pkt {
  time: string // 'YYYY-MM-DD HH:MM:SS.fffffffff' (UTC)
  epoch: string
  data: Uint8Array
}

/** Packets with nanosecond times, for a text2pcap hexdump. */
function packets(count: number, startSec: number, seed: number, ipv4First = false): Pkt[] {
  const out: Pkt[] = []
  for (let i = 0; i < count; i++) {
    const sec = startSec + i
    const nsec = (seed * 7919 + i * 104729 * 1009) % 1e9
    const frac = String(nsec).padStart(9, '0')
    const d = new Date(sec * 1000).toISOString() // ...T..:..:..000Z
    const data = pseudoBytes(20 + ((i * 37 + seed) % 200), seed * 1000 + i)
    if (ipv4First) data[0] = 0x45
    out.push({
      time: `${d.slice(0, 10)} ${d.slice(11, 19)}.${frac}`,
      epoch: `${sec}.${frac}`,
      data,
    })
  }
  return out
}

function hexdump(pkts: Pkt[]): string {
  let s = ''
  for (const p of pkts) {
    s += `${p.time}\n`
    for (let o = 0; o < p.data.length; o += 16) {
      const row = [...p.data.subarray(o, o + 16)]
        .map((b) => b.toString(16).padStart(2, '0'))
        .join(' ')
      s += `${o.toString(16).padStart(6, '0')} ${row}\n`
    }
    s += '\n'
  }
  return s
}

function text2pcap(pkts: Pkt[], out: string, args: string[]): void {
  const input = tmp.path(`${out}.txt`)
  writeFileSync(input, hexdump(pkts))
  run('text2pcap', ['-q', '-t', '%Y-%m-%d %H:%M:%S.%f', ...args, input, tmp.path(out)])
}

async function readAll(file: string, chunkSize?: number): Promise<CaptureRecord[]> {
  const reader = await openCapture(file, chunkSize === undefined ? {} : { chunkSize })
  const out: CaptureRecord[] = []
  for await (const r of reader) out.push(r)
  return out
}

const eth = packets(40, 1700000000, 1)
const raw = packets(30, 1700000000, 2, true)

beforeAll(() => {
  text2pcap(eth, 'eth.pcapng', ['-N', 'eth-node-a'])
  text2pcap(raw, 'raw.pcap', ['-F', 'pcap', '-l', '101'])
  text2pcap(raw, 'raw-ns.pcapng', ['-l', '101'])
  run('editcap', ['-F', 'pcap', tmp.path('eth.pcapng'), tmp.path('eth-us.pcap')])
  run('editcap', ['-F', 'nsecpcap', tmp.path('eth.pcapng'), tmp.path('eth-ns.pcap')])
  run('editcap', ['-F', 'pcapng', tmp.path('eth-us.pcap'), tmp.path('eth-us.pcapng')])
  run('mergecap', [
    '-w',
    tmp.path('mixed.pcapng'),
    tmp.path('eth.pcapng'),
    tmp.path('raw-ns.pcapng'),
  ])
})

describe('files written by Wireshark tools', () => {
  it('text2pcap pcapng (if_tsresol=9, if_name): nanosecond times and bytes as written', async () => {
    const file = tmp.path('eth.pcapng')
    const parsed = parseCapture(readFileSync(file))
    expect(parsed.info.format).toBe('pcapng')
    expect(parsed.info.interfaces).toHaveLength(1)
    expect(parsed.info.interfaces[0]).toMatchObject({
      linkType: 1,
      tsUnitsPerSecond: 1e9,
      name: 'eth-node-a',
    })
    expect(parsed.records.map((r) => `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')}`)).toEqual(
      eth.map((p) => p.epoch)
    )
    expect(parsed.records.map((r) => hexOf(r.data))).toEqual(eth.map((p) => hexOf(p.data)))
    expect(asFrames(parsed.records)).toEqual(tsharkFrames(file))
    expect(asFrames(await readAll(file))).toEqual(asFrames(parsed.records))
  })

  it('text2pcap -F pcap -l 101: µs pcap with LINKTYPE_RAW', async () => {
    const file = tmp.path('raw.pcap')
    const records = await readAll(file)
    expect(records.every((r) => r.linkType === 101)).toBe(true)
    expect(records.map((r) => hexOf(r.data))).toEqual(raw.map((p) => hexOf(p.data)))
    // µs file: the nanoseconds were cut to microseconds.
    expect(records.map((r) => r.tsNsec % 1000)).toEqual(raw.map(() => 0))
    expect(asFrames(records)).toEqual(tsharkFrames(file))
  })

  for (const [name, format, units] of [
    ['eth-us.pcap', 'pcap', 1e6],
    ['eth-ns.pcap', 'pcap', 1e9],
    ['eth-us.pcapng', 'pcapng', 1e6],
  ] as const) {
    it(`editcap output ${name} (${format}, ${units === 1e6 ? 'µs' : 'ns'})`, async () => {
      const file = tmp.path(name)
      const reader = await openCapture(file)
      expect(reader.info.format).toBe(format)
      const records: CaptureRecord[] = []
      for await (const batch of reader.batches()) records.push(...batch)
      expect(reader.info.interfaces[0]!.tsUnitsPerSecond).toBe(units)
      expect(reader.truncated).toBe(false)
      expect(records).toHaveLength(eth.length)
      expect(asFrames(records)).toEqual(tsharkFrames(file))
    })
  }

  it('mergecap of ETHERNET + RAW inputs: one pcapng, two IDBs, per-packet link types', async () => {
    const file = tmp.path('mixed.pcapng')
    const reader = await openCapture(file)
    const records: CaptureRecord[] = []
    for await (const r of reader) records.push(r)
    expect(reader.info.interfaces.map((i) => i.linkType)).toEqual([1, 101])
    expect(records).toHaveLength(eth.length + raw.length)
    expect(new Set(records.map((r) => `${r.ifIndex}:${r.linkType}`))).toEqual(
      new Set(['0:1', '1:101'])
    )
    expect(asFrames(records)).toEqual(tsharkFrames(file))
  })

  it('streams identically with tiny chunks (records and blocks straddling reads)', async () => {
    for (const name of ['mixed.pcapng', 'eth-ns.pcap']) {
      const file = tmp.path(name)
      const whole = asFrames(parseCapture(readFileSync(file)).records)
      for (const chunk of [16, 17, 100, 333])
        expect(asFrames(await readAll(file, chunk))).toEqual(whole)
    }
  })
})
