import { writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapError } from './errors.js'
import { parseCapture } from './parse-capture.js'
import {
  asFrames,
  concat,
  makeTempDir,
  pcapHeader,
  pcapRecord,
  pseudoBytes,
  tsharkFrames,
} from './test-support.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

function sample(le: boolean, ns: boolean, linkField = 1): Uint8Array {
  const fracs = ns ? [123456789, 999999999, 0] : [123456, 999999, 0]
  return concat(
    pcapHeader(le, ns, linkField),
    pcapRecord(le, 1700000000, fracs[0]!, pseudoBytes(60, 1)),
    pcapRecord(le, 1700000001, fracs[1]!, pseudoBytes(1514, 2)),
    // snapped record: 40 bytes present of 200 on the wire
    pcapRecord(le, 1700000002, fracs[2]!, pseudoBytes(40, 3), 200)
  )
}

describe('classic pcap reader', () => {
  for (const le of [true, false]) {
    for (const ns of [false, true]) {
      it(`reads ${le ? 'little' : 'big'}-endian ${ns ? 'ns' : 'µs'} files like tshark`, () => {
        const bytes = sample(le, ns)
        const file = tmp.path(`s-${le ? 'le' : 'be'}-${ns ? 'ns' : 'us'}.pcap`)
        writeFileSync(file, bytes)
        const parsed = parseCapture(bytes)
        expect(parsed.info.format).toBe('pcap')
        expect(parsed.info.byteOrder).toBe(le ? 'little' : 'big')
        expect(parsed.info.pcap).toEqual({
          versionMajor: 2,
          versionMinor: 4,
          snapLen: 262144,
          resolution: ns ? 'ns' : 'us',
        })
        expect(parsed.info.interfaces).toHaveLength(1)
        expect(parsed.truncated).toBe(false)
        expect(parsed.records.map((r) => r.linkType)).toEqual([1, 1, 1])
        expect(asFrames(parsed.records)).toEqual(tsharkFrames(file))
        expect(parsed.records[2]).toMatchObject({ capLen: 40, origLen: 200 })
      })
    }
  }

  it('masks the FCS bits out of the link-type field and reports the FCS length', () => {
    // draft-ietf-opsawg-pcap §4: FCS len 2 (x16 bits = 4 octets) with the P bit, LINKTYPE_ETHERNET.
    const field = (2 << 28) | 0x04000000 | 1
    const parsed = parseCapture(sample(true, false, field))
    expect(parsed.info.interfaces[0]).toMatchObject({ linkType: 1, fcsLen: 4 })
    expect(parsed.records[0]!.linkType).toBe(1)
  })

  it('reads a header-only file as empty', () => {
    const parsed = parseCapture(pcapHeader(true, false, 101))
    expect(parsed.records).toEqual([])
    expect(parsed.truncated).toBe(false)
    expect(parsed.info.interfaces[0]!.linkType).toBe(101)
  })

  it('keeps the records before a torn final record and flags it', () => {
    const bytes = sample(true, true)
    for (const cut of [1, 8, 15, 16, 17, 30]) {
      const parsed = parseCapture(bytes.subarray(0, bytes.length - cut))
      expect(parsed.records).toHaveLength(2)
      expect(parsed.truncated).toBe(true)
      expect(parsed.warnings).toHaveLength(1)
    }
  })

  it('rejects bad magic, short headers, other versions and impossible lengths with stable codes', () => {
    const codeOf = (b: Uint8Array): string => {
      try {
        parseCapture(b)
      } catch (err) {
        expect(err).toBeInstanceOf(PcapError)
        return (err as PcapError).code
      }
      return 'none'
    }
    expect(codeOf(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toBe('PCAP_BAD_MAGIC')
    expect(codeOf(new Uint8Array(0))).toBe('PCAP_TRUNCATED')
    expect(codeOf(pcapHeader(true, false, 1).subarray(0, 20))).toBe('PCAP_TRUNCATED')
    const v1 = pcapHeader(true, false, 1)
    v1[4] = 1
    expect(codeOf(v1)).toBe('PCAP_UNSUPPORTED')
    const huge = concat(pcapHeader(true, false, 1), pcapRecord(true, 1, 0, new Uint8Array(8)))
    new DataView(huge.buffer).setUint32(24 + 8, 262145, true)
    expect(codeOf(huge)).toBe('PCAP_BAD_BLOCK')
    try {
      parseCapture(huge)
    } catch (err) {
      expect((err as PcapError).offset).toBe(24)
    }
  })
})
