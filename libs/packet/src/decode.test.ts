import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { encodePcap } from '@tapwire/pcap'
import { tempDir, tsharkFields } from '@tapwire/testing'
import { formatAddress } from './address.js'
import { DecodeStatus, decodePacket, IpProto, newDecodedPacket } from './decode.js'
import { LinkType } from './link-type.js'
import { be16, cat } from './test-support.js'

const FUZZ_RUNS = Number(process.env['FUZZ_RUNS'] ?? 2000)


/** TCP header (RFC 9293 §3.1) with MSS, SACK-permitted, timestamps (doff 10) and a payload. */
function tcpSeg(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const opts = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0]
  return cat(
    be16(sport),
    be16(dport),
    [0, 0, 1, 0],
    [0, 0, 0, 0],
    [0xa0, 0x18],
    be16(512),
    [0, 0, 0, 0],
    opts,
    payload
  )
}
const udpDgram = (sport: number, dport: number, payload: Uint8Array) =>
  cat(be16(sport), be16(dport), be16(8 + payload.length), [0, 0], payload)

/** IPv4 (RFC 791) with a 4-byte options area (NOPs + end), IHL 6. */
function ipv4(proto: number, l4: Uint8Array, src = [192, 168, 1, 10]): Uint8Array {
  return cat(
    [0x46, 0, ...be16(24 + l4.length), 0, 1, 0x40, 0, 64, proto, 0, 0],
    src,
    [10, 1, 2, 3],
    [1, 1, 1, 0],
    l4
  )
}
/** IPv6 (RFC 8200) with hop-by-hop and destination-options extension headers. */
function ipv6(proto: number, l4: Uint8Array): Uint8Array {
  const hbh = [60, 0, 1, 4, 0, 0, 0, 0] // next: destination options; PadN
  const dst = [proto, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] // 16 bytes
  const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
  const dsta = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]
  const ext = cat(hbh, dst, l4)
  return cat([0x60, 0, 0, 0], be16(ext.length), [0, 64], src, dsta, ext)
}

const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 7) & 0xff)
const INNER: { ether: number; ip: Uint8Array }[] = [
  { ether: 0x0800, ip: ipv4(6, tcpSeg(40001, 80, payload(100))) },
  { ether: 0x0800, ip: ipv4(17, udpDgram(5353, 53, payload(33))) },
  { ether: 0x86dd, ip: ipv6(6, tcpSeg(40002, 443, payload(7))) },
  { ether: 0x86dd, ip: ipv6(17, udpDgram(40003, 53, payload(12))) },
  { ether: 0x0800, ip: ipv4(6, tcpSeg(40004, 8080, new Uint8Array(0))) },
]

const MAC = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]
const FRAMERS: Record<
  string,
  { linkType: number; wrap: (ether: number, ip: Uint8Array) => Uint8Array }
> = {
  ethernet: { linkType: LinkType.ETHERNET, wrap: (e, ip) => cat(MAC, be16(e), ip) },
  '802.1Q': {
    linkType: LinkType.ETHERNET,
    wrap: (e, ip) => cat(MAC, [0x81, 0x00], be16(0x2064), be16(e), ip),
  },
  QinQ: {
    linkType: LinkType.ETHERNET,
    wrap: (e, ip) => cat(MAC, [0x88, 0xa8], be16(0x0010), [0x81, 0x00], be16(0x0020), be16(e), ip),
  },
  SLL: {
    linkType: LinkType.LINUX_SLL,
    wrap: (e, ip) => cat([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0], be16(e), ip),
  },
  SLL2: {
    linkType: LinkType.LINUX_SLL2,
    wrap: (e, ip) =>
      cat(be16(e), [0, 0], [0, 0, 0, 3], [0, 1], [0], [6], [2, 0, 0, 0, 0, 1, 0, 0], ip),
  },
  RAW: { linkType: LinkType.RAW, wrap: (_e, ip) => ip },
  // NULL: host byte order (little-endian here); AF_INET6 as BSD's 24, which tshark knows.
  NULL: {
    linkType: LinkType.NULL,
    wrap: (e, ip) => cat(e === 0x0800 ? [2, 0, 0, 0] : [24, 0, 0, 0], ip),
  },
  LOOP: {
    linkType: LinkType.LOOP,
    wrap: (e, ip) => cat(e === 0x0800 ? [0, 0, 0, 2] : [0, 0, 0, 24], ip),
  },
}

describe('decodePacket against tshark', () => {
  const dir = tempDir()
  afterAll(() => dir.dispose())

  for (const [name, f] of Object.entries(FRAMERS)) {
    it(`decodes ${name} frames like tshark`, async () => {
      const packets = INNER.map((p) => f.wrap(p.ether, p.ip))
      const file = join(dir.path, `${name}.pcap`)
      writeFileSync(
        file,
        encodePcap(
          packets.map((data, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: 0, data })),
          { linkType: f.linkType }
        )
      )
      const rows = await tsharkFields(file, 'frame', [
        'ip.src',
        'ipv6.src',
        'tcp.srcport',
        'udp.srcport',
        'tcp.dstport',
        'udp.dstport',
        'tcp.len',
        'udp.length',
      ])
      const d = newDecodedPacket()
      const ours = packets.map((data) => {
        expect(decodePacket(f.linkType, data, d)).toBe(DecodeStatus.OK)
        const addr = formatAddress(data, d.srcOffset, d.addrLen)
        const tcp = d.ipProto === IpProto.TCP
        return [
          d.ipVersion === 4 ? addr : '',
          d.ipVersion === 6 ? addr : '',
          tcp ? String(d.srcPort) : '',
          tcp ? '' : String(d.srcPort),
          tcp ? String(d.dstPort) : '',
          tcp ? '' : String(d.dstPort),
          tcp ? String(d.payloadLength) : '',
          tcp ? '' : String(d.payloadLength + 8),
        ]
      })
      expect(ours).toEqual(rows)
    })
  }
})

describe('decodePacket fuzz', () => {
  const linkTypes = [...Object.values(LinkType), 12, 14, 9999]
  const check = (linkType: number, data: Uint8Array) => {
    const d = newDecodedPacket()
    const status = decodePacket(linkType, data, d)
    if (status === DecodeStatus.OK || status === DecodeStatus.FRAGMENT) {
      expect(d.payloadOffset).toBeGreaterThanOrEqual(0)
      expect(d.payloadLength).toBeGreaterThanOrEqual(0)
      expect(d.payloadOffset + d.payloadLength).toBeLessThanOrEqual(data.length)
      expect(d.srcOffset + d.addrLen).toBeLessThanOrEqual(data.length)
      expect(d.dstOffset + d.addrLen).toBeLessThanOrEqual(data.length)
    }
  }

  it('never throws and stays within the packet on random bytes, for every link type', () => {
    fc.assert(
      fc.property(fc.constantFrom(...linkTypes), fc.uint8Array({ maxLength: 200 }), (lt, data) =>
        check(lt, data)
      ),
      { numRuns: FUZZ_RUNS }
    )
  })

  it('never throws on mutated valid frames (lengths, versions, header sizes)', () => {
    const seeds = Object.values(FRAMERS).flatMap((f) =>
      INNER.map((p) => ({ lt: f.linkType, data: f.wrap(p.ether, p.ip) }))
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }),
        fc.nat(),
        (seed, flips, cut) => {
          const data = seed.data.slice(
            0,
            seed.data.length - (cut % 8 === 0 ? cut % seed.data.length : 0)
          )
          for (const [i, v] of flips) if (data.length > 0) data[i % data.length] = v
          check(seed.lt, data)
        }
      ),
      { numRuns: FUZZ_RUNS }
    )
  })
})
