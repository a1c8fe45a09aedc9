/**
 * Link, network and transport decoding into one reused `DecodedPacket` (no allocation per packet):
 * addresses are offsets into the packet bytes, turned into strings only when a new flow is created.
 */
import { LinkType } from './link-type.js'

export const IpProto = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const

export const DecodeStatus = {
  OK: 0,
  /** Not IP (ARP, LLDP...), or a link type we do not decode: skipped, not an error. */
  NOT_IP: 1,
  TRUNCATED: 2,
  MALFORMED: 3,
  /** An IPv4/IPv6 fragment other than the first: transport header not present. */
  FRAGMENT: 4,
  UNSUPPORTED_LINK: 5,
} as const
export type DecodeStatus = (typeof DecodeStatus)[keyof typeof DecodeStatus]

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const

export interface DecodedPacket {
  status: DecodeStatus
  data: Uint8Array
  ipVersion: 0 | 4 | 6
  /** Offset of the source address; the destination follows at `dstOffset`; both `addrLen` long. */
  srcOffset: number
  dstOffset: number
  addrLen: number
  ipProto: number
  /** IPv4 fragment: more-fragments set or non-zero offset. */
  fragmented: boolean
  l4Offset: number
  srcPort: number
  dstPort: number
  tcpSeq: number
  tcpAck: number
  tcpFlags: number
  tcpWindow: number
  payloadOffset: number
  payloadLength: number
  vlan: number
}

export function newDecodedPacket(): DecodedPacket {
  return {
    status: DecodeStatus.NOT_IP,
    data: new Uint8Array(0),
    ipVersion: 0,
    srcOffset: 0,
    dstOffset: 0,
    addrLen: 0,
    ipProto: 0,
    fragmented: false,
    l4Offset: 0,
    srcPort: 0,
    dstPort: 0,
    tcpSeq: 0,
    tcpAck: 0,
    tcpFlags: 0,
    tcpWindow: 0,
    payloadOffset: 0,
    payloadLength: 0,
    vlan: 0,
  }
}

const ETHERTYPE_IPV4 = 0x0800
const ETHERTYPE_IPV6 = 0x86dd
const ETHERTYPE_VLAN = 0x8100
const ETHERTYPE_QINQ = 0x88a8
const ETHERTYPE_QINQ_OLD = 0x9100

const u16 = (d: Uint8Array, o: number): number => (d[o]! << 8) | d[o + 1]!
const u32 = (d: Uint8Array, o: number): number =>
  ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0

/** Decodes `data` (captured with `linkType`) into `out`; returns `out.status`. */
export function decodePacket(linkType: number, data: Uint8Array, out: DecodedPacket): DecodeStatus {
  out.data = data
  out.ipVersion = 0
  out.fragmented = false
  out.srcPort = out.dstPort = 0
  out.payloadLength = 0
  out.tcpFlags = 0
  out.vlan = 0
  let etherType: number
  let o: number
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (data.length < 14) return (out.status = DecodeStatus.TRUNCATED)
      etherType = u16(data, 12)
      o = 14
      // 802.1Q and QinQ tags: 4 bytes each, possibly stacked.
      while (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD) {
        if (data.length < o + 4) return (out.status = DecodeStatus.TRUNCATED)
        out.vlan = u16(data, o) & 0x0fff
        etherType = u16(data, o + 2)
        o += 4
      }
      break
    }
    case LinkType.LINUX_SLL: // 16-byte cooked header, protocol in the last two bytes
      if (data.length < 16) return (out.status = DecodeStatus.TRUNCATED)
      etherType = u16(data, 14)
      o = 16
      break
    case LinkType.LINUX_SLL2: // 20-byte cooked header v2, protocol first
      if (data.length < 20) return (out.status = DecodeStatus.TRUNCATED)
      etherType = u16(data, 0)
      o = 20
      break
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
    case 12: // DLT_RAW as some tools still write it
    case 14: {
      if (data.length < 1) return (out.status = DecodeStatus.TRUNCATED)
      const v = data[0]! >> 4
      etherType = v === 4 ? ETHERTYPE_IPV4 : v === 6 ? ETHERTYPE_IPV6 : 0
      o = 0
      break
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      // 4-byte address family: host byte order for NULL, network order for LOOP. AF_INET is 2
      // everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS).
      if (data.length < 4) return (out.status = DecodeStatus.TRUNCATED)
      const le = data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)
      const af = linkType === LinkType.LOOP || le > 0xffff ? u32(data, 0) : le
      etherType = af === 2 ? ETHERTYPE_IPV4 : af === 10 || af === 24 || af === 28 || af === 30 ? ETHERTYPE_IPV6 : 0
      o = 4
      break
    }
    default:
      return (out.status = DecodeStatus.UNSUPPORTED_LINK)
  }
  if (etherType === ETHERTYPE_IPV4) return decodeIpv4(data, o, out)
  if (etherType === ETHERTYPE_IPV6) return decodeIpv6(data, o, out)
  return (out.status = DecodeStatus.NOT_IP)
}

// RFC 791 §3.1
function decodeIpv4(d: Uint8Array, o: number, out: DecodedPacket): DecodeStatus {
  if (d.length < o + 20) return (out.status = DecodeStatus.TRUNCATED)
  const ihl = (d[o]! & 0x0f) * 4
  if (d[o]! >> 4 !== 4 || ihl < 20) return (out.status = DecodeStatus.MALFORMED)
  const total = u16(d, o + 2)
  if (total < ihl) return (out.status = DecodeStatus.MALFORMED)
  // Trust the IP total length over the capture length: Ethernet pads short frames to 60 bytes.
  const end = Math.min(d.length, o + total)
  if (end < o + ihl) return (out.status = DecodeStatus.TRUNCATED)
  out.ipVersion = 4
  out.addrLen = 4
  out.srcOffset = o + 12
  out.dstOffset = o + 16
  out.ipProto = d[o + 9]!
  const frag = u16(d, o + 6)
  const fragOffset = frag & 0x1fff
  out.fragmented = (frag & 0x2000) !== 0 || fragOffset !== 0
  if (fragOffset !== 0) {
    out.l4Offset = o + ihl
    out.payloadOffset = o + ihl
    out.payloadLength = end - (o + ihl)
    return (out.status = DecodeStatus.FRAGMENT)
  }
  return decodeTransport(d, o + ihl, end, out)
}

// RFC 8200 §4: walk the extension header chain to the upper-layer header.
function decodeIpv6(d: Uint8Array, o: number, out: DecodedPacket): DecodeStatus {
  if (d.length < o + 40) return (out.status = DecodeStatus.TRUNCATED)
  if (d[o]! >> 4 !== 6) return (out.status = DecodeStatus.MALFORMED)
  const end = Math.min(d.length, o + 40 + u16(d, o + 4))
  out.ipVersion = 6
  out.addrLen = 16
  out.srcOffset = o + 8
  out.dstOffset = o + 24
  let next = d[o + 6]!
  let p = o + 40
  for (let hops = 0; hops < 8; hops++) {
    if (next === 0 || next === 43 || next === 60) {
      if (end < p + 8) return (out.status = DecodeStatus.TRUNCATED)
      next = d[p]!
      p += (d[p + 1]! + 1) * 8
    } else if (next === 44) {
      // Fragment header (RFC 8200 §4.5): only the first fragment carries the transport header.
      if (end < p + 8) return (out.status = DecodeStatus.TRUNCATED)
      const off = u16(d, p + 2)
      out.fragmented = true
      next = d[p]!
      p += 8
      if (off >> 3 !== 0) {
        out.ipProto = next
        out.payloadOffset = p
        out.payloadLength = Math.max(0, end - p)
        return (out.status = DecodeStatus.FRAGMENT)
      }
    } else if (next === 51) {
      // Authentication header (RFC 4302): length in 4-octet units minus 2.
      if (end < p + 8) return (out.status = DecodeStatus.TRUNCATED)
      next = d[p]!
      p += (d[p + 1]! + 2) * 4
    } else break
  }
  if (p > end) return (out.status = DecodeStatus.TRUNCATED)
  out.ipProto = next
  return decodeTransport(d, p, end, out)
}

function decodeTransport(d: Uint8Array, o: number, end: number, out: DecodedPacket): DecodeStatus {
  out.l4Offset = o
  if (out.ipProto === IpProto.TCP) {
    // RFC 9293 §3.1
    if (end < o + 20) return (out.status = DecodeStatus.TRUNCATED)
    const doff = (d[o + 12]! >> 4) * 4
    if (doff < 20) return (out.status = DecodeStatus.MALFORMED)
    if (end < o + doff) return (out.status = DecodeStatus.TRUNCATED)
    out.srcPort = u16(d, o)
    out.dstPort = u16(d, o + 2)
    out.tcpSeq = u32(d, o + 4)
    out.tcpAck = u32(d, o + 8)
    out.tcpFlags = d[o + 13]!
    out.tcpWindow = u16(d, o + 14)
    out.payloadOffset = o + doff
    out.payloadLength = end - (o + doff)
    return (out.status = DecodeStatus.OK)
  }
  if (out.ipProto === IpProto.UDP) {
    // RFC 768
    if (end < o + 8) return (out.status = DecodeStatus.TRUNCATED)
    out.srcPort = u16(d, o)
    out.dstPort = u16(d, o + 2)
    const len = u16(d, o + 4)
    out.payloadOffset = o + 8
    out.payloadLength = Math.max(0, Math.min(end, o + Math.max(len, 8)) - (o + 8))
    return (out.status = DecodeStatus.OK)
  }
  out.payloadOffset = o
  out.payloadLength = end - o
  return (out.status = DecodeStatus.OK)
}

/** The payload as a view (no copy). */
export const payloadOf = (p: DecodedPacket): Uint8Array =>
  p.data.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)
