import { writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapError } from './errors.js'
import { parseCapture } from './parse-capture.js'
import {
  Bytes,
  asFrames,
  block,
  concat,
  epb,
  idb,
  makeTempDir,
  option,
  pb,
  pseudoBytes,
  shb,
  spb,
  tsharkFrames,
} from './test-support.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

function codeOf(b: Uint8Array): string {
  try {
    parseCapture(b)
  } catch (err) {
    expect(err).toBeInstanceOf(PcapError)
    return (err as PcapError).code
  }
  return 'none'
}

/** A section exercising every resolution form, if_tsoffset, skipped blocks and all packet blocks. */
function richSection(le: boolean): Uint8Array {
  return concat(
    shb(le, [option(le, 4, enc('hand-made'))]),
    // if 0: no if_tsresol → µs; named.
    idb(le, 1, 262144, [option(le, 2, enc('eth0')), option(le, 3, enc('node-a:eth0'))]),
    // if 1: ns, RAW
    idb(le, 101, 65535, [option(le, 9, [9])]),
    // if 2: 2^-20 s units with a +100 s offset
    idb(le, 113, 262144, [
      option(le, 9, [0x80 | 20]),
      option(le, 14, new Bytes(le).u64(100n).bytes()),
    ]),
    // if 3: ms (10^-3)
    idb(le, 276, 262144, [option(le, 9, [3])]),
    epb(le, 0, 1700000000_123456n, pseudoBytes(60, 1)),
    // Name Resolution Block, Interface Statistics Block and a custom block: skipped.
    block(le, 4, new Bytes(le).u16(0).u16(0).bytes()),
    epb(le, 1, 1700000000_987654321n, Uint8Array.from([0x45, ...pseudoBytes(39, 2)]), 1500),
    block(le, 5, new Bytes(le).u32(0).u32(0).u32(0).bytes()),
    epb(le, 2, (1700000001n << 20n) + 524288n, pseudoBytes(16, 3)),
    block(le, 0x40000bad, new Bytes(le).u32(32473).raw(pseudoBytes(21, 9)).bytes()),
    epb(le, 3, 1700000002_250n, pseudoBytes(20, 4)),
    pb(le, 0, 1700000003_000001n, pseudoBytes(33, 5))
  )
}

describe('pcapng reader', () => {
  for (const le of [true, false]) {
    it(`reads a ${le ? 'little' : 'big'}-endian section with mixed interfaces like tshark`, () => {
      const bytes = richSection(le)
      const file = tmp.path(`rich-${le}.pcapng`)
      writeFileSync(file, bytes)
      const parsed = parseCapture(bytes)
      expect(parsed.info.format).toBe('pcapng')
      expect(parsed.info.byteOrder).toBe(le ? 'little' : 'big')
      expect(parsed.info.sections).toEqual([
        {
          byteOrder: le ? 'little' : 'big',
          majorVersion: 1,
          minorVersion: 0,
          userAppl: 'hand-made',
        },
      ])
      expect(
        parsed.info.interfaces.map((i) => [i.linkType, i.tsUnitsPerSecond, i.tsOffset, i.name])
      ).toEqual([
        [1, 1e6, 0, 'eth0'],
        [101, 1e9, 0, undefined],
        [113, 2 ** 20, 100, undefined],
        [276, 1e3, 0, undefined],
      ])
      expect(parsed.info.interfaces[0]!.description).toBe('node-a:eth0')
      expect(parsed.records.map((r) => r.linkType)).toEqual([1, 101, 113, 276, 1])
      expect(parsed.records[1]).toMatchObject({
        tsSec: 1700000000,
        tsNsec: 987654321,
        capLen: 40,
        origLen: 1500,
      })
      expect(parsed.records[2]).toMatchObject({ tsSec: 1700000101, tsNsec: 500000000 })
      // tshark also lists the custom block as a (time-less) record; we skip it as a non-packet block.
      const frames = tsharkFrames(file)
      expect(frames.filter((f) => f.epoch === undefined)).toHaveLength(1)
      expect(asFrames(parsed.records)).toEqual(frames.filter((f) => f.epoch !== undefined))
    })
  }

  it('reads concatenated sections of different byte orders with their own interfaces', () => {
    const bytes = concat(
      shb(true),
      idb(true, 1, 262144),
      epb(true, 0, 1700000000_000001n, pseudoBytes(20, 1)),
      shb(false),
      idb(false, 101, 262144, [option(false, 9, [9])]),
      epb(false, 0, 1700000000_000000002n, pseudoBytes(24, 2))
    )
    const file = tmp.path('sections.pcapng')
    writeFileSync(file, bytes)
    const parsed = parseCapture(bytes)
    expect(parsed.info.sections.map((s) => s.byteOrder)).toEqual(['little', 'big'])
    expect(parsed.info.interfaces.map((i) => [i.index, i.section, i.linkType])).toEqual([
      [0, 0, 1],
      [1, 1, 101],
    ])
    expect(parsed.records.map((r) => [r.ifIndex, r.linkType])).toEqual([
      [0, 1],
      [1, 101],
    ])
    // tshark numbers interfaces per section; ours are file-wide, so compare everything else.
    const strip = ({ ifId: _ifId, ...rest }: ReturnType<typeof asFrames>[number]) => rest
    expect(asFrames(parsed.records).map(strip)).toEqual(tsharkFrames(file).map(strip))
  })

  it('reads Simple Packet Blocks, capped by the snaplen, with a zero timestamp', () => {
    const data = pseudoBytes(100, 7)
    const bytes = concat(shb(true), idb(true, 1, 64), spb(true, data.subarray(0, 64), 100))
    const file = tmp.path('spb.pcapng')
    writeFileSync(file, bytes)
    const parsed = parseCapture(bytes)
    expect(parsed.records).toHaveLength(1)
    expect(parsed.records[0]).toMatchObject({ tsSec: 0, tsNsec: 0, capLen: 64, origLen: 100 })
    const [frame] = tsharkFrames(file)
    expect(frame).toMatchObject({ len: 100, capLen: 64, hex: asFrames(parsed.records)[0]!.hex })
  })

  it('flags a torn final block and keeps what came before', () => {
    const bytes = richSection(true)
    for (const cut of [1, 4, 11, 12, 40]) {
      const parsed = parseCapture(bytes.subarray(0, bytes.length - cut))
      expect(parsed.records).toHaveLength(4)
      expect(parsed.truncated).toBe(true)
    }
  })

  it('rejects impossible blocks with PCAP_BAD_BLOCK and the offset', () => {
    const good = concat(shb(true), idb(true, 1, 262144))
    const at = good.length
    const withLen = (len: number): Uint8Array => {
      const b = concat(good, epb(true, 0, 1n, new Uint8Array(8)))
      new DataView(b.buffer).setUint32(at + 4, len, true)
      return b
    }
    expect(codeOf(withLen(42))).toBe('PCAP_BAD_BLOCK')
    expect(codeOf(withLen(8))).toBe('PCAP_BAD_BLOCK')
    try {
      parseCapture(withLen(42))
    } catch (err) {
      expect((err as PcapError).offset).toBe(at)
    }
    // Trailing length disagrees with the leading one.
    const trail = concat(good, epb(true, 0, 1n, new Uint8Array(8)))
    new DataView(trail.buffer).setUint32(trail.length - 4, 44, true)
    expect(codeOf(trail)).toBe('PCAP_BAD_BLOCK')
    // Captured length larger than the block / than 256 KiB.
    const cap = concat(good, epb(true, 0, 1n, new Uint8Array(8)))
    new DataView(cap.buffer).setUint32(at + 20, 9, true)
    expect(codeOf(cap)).toBe('PCAP_BAD_BLOCK')
    // Packet for an interface that was never described.
    expect(codeOf(concat(good, epb(true, 3, 1n, new Uint8Array(8))))).toBe('PCAP_BAD_BLOCK')
    // Option running past its block.
    const badOpt = concat(shb(true), idb(true, 1, 0, [option(true, 2, enc('eth0'))]))
    new DataView(badOpt.buffer).setUint16(shb(true).length + 16 + 2, 200, true)
    expect(codeOf(badOpt)).toBe('PCAP_BAD_BLOCK')
  })

  it('rejects a bad byte-order magic and unknown major versions', () => {
    const s = shb(true)
    s[8] = 0
    expect(codeOf(s)).toBe('PCAP_BAD_MAGIC')
    const v2 = shb(true)
    v2[12] = 2
    expect(codeOf(v2)).toBe('PCAP_UNSUPPORTED')
    expect(codeOf(shb(true).subarray(0, 20))).toBe('PCAP_TRUNCATED')
  })
})
