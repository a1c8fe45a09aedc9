/**
 * Rewriting recorded TCP captures the way hostile networks and lossy captures would (the hostile
 * tests of the HTTP dissectors): each packet indexed with the offsets a rewrite needs, and
 * segments re-cut with consistent IP lengths and sequence numbers.
 */
import { DecodeStatus, TcpFlag, decodePacket, newDecodedPacket } from '@tapwire/packet'

/** A captured packet: @tapwire/pcap's CaptureRecord (a pure lib names its shape, not that lib). */
export interface CaptureRecord {
  tsSec: number
  tsNsec: number
  capLen: number
  origLen: number
  linkType: number
  ifIndex: number
  data: Uint8Array
}

/** One TCP packet of a capture. */
export interface TcpPkt {
  rec: CaptureRecord
  /** The client's port: which connection (one client host in these recordings). */
  conn: number
  /** 0 client → server, 1 server → client. */
  dir: 0 | 1
  ipOffset: number
  l4Offset: number
  payloadOffset: number
  payloadLength: number
  seq: number
  flags: number
  /** Unix ms. */
  ts: number
}

/** The packets of `records` that decode, in capture order; `serverPort` tells the direction. */
export function indexTcp(records: readonly CaptureRecord[], serverPort: number): TcpPkt[] {
  const d = newDecodedPacket()
  const out: TcpPkt[] = []
  for (const rec of records) {
    if (decodePacket(rec.linkType, rec.data, d) !== DecodeStatus.OK) continue
    const dir = d.dstPort === serverPort ? 0 : 1
    out.push({
      rec,
      conn: dir === 0 ? d.srcPort : d.dstPort,
      dir,
      ipOffset: d.srcOffset - (d.ipVersion === 4 ? 12 : 8),
      l4Offset: d.l4Offset,
      payloadOffset: d.payloadOffset,
      payloadLength: d.payloadLength,
      seq: d.tcpSeq,
      flags: d.tcpFlags,
      ts: rec.tsSec * 1000 + rec.tsNsec / 1e6,
    })
  }
  return out
}

export const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24
  b[o + 1] = (v >>> 16) & 0xff
  b[o + 2] = (v >>> 8) & 0xff
  b[o + 3] = v & 0xff
}

export const get32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

/**
 * `p` cut into segments of `size` payload octets: IPv4 total length (RFC 791) and sequence
 * numbers (RFC 9293) rewritten, FIN kept on the last piece only. IPv4 only (the recordings).
 */
export function resegment(p: TcpPkt, size: number): TcpPkt[] {
  if (p.payloadLength <= size) return [p]
  const out: TcpPkt[] = []
  for (let i = 0; i < p.payloadLength; i += size) {
    const n = Math.min(size, p.payloadLength - i)
    const data = new Uint8Array(p.payloadOffset + n)
    data.set(p.rec.data.subarray(0, p.payloadOffset))
    data.set(p.rec.data.subarray(p.payloadOffset + i, p.payloadOffset + i + n), p.payloadOffset)
    const total = p.payloadOffset + n - p.ipOffset
    data[p.ipOffset + 2] = total >> 8
    data[p.ipOffset + 3] = total & 0xff
    put32(data, p.l4Offset + 4, (p.seq + i) >>> 0)
    const flags = i + n < p.payloadLength ? p.flags & ~TcpFlag.FIN : p.flags
    data[p.l4Offset + 13] = flags
    out.push({
      ...p,
      rec: { ...p.rec, data, capLen: data.length, origLen: data.length },
      payloadLength: n,
      seq: (p.seq + i) >>> 0,
      flags,
    })
  }
  return out
}
