import type { ConnWindow } from '@tapwire/dissectors'
import { DecodeStatus, IpProto, decodePacket, formatAddress, newDecodedPacket } from '@tapwire/packet'
import { encodePcap } from '@tapwire/pcap'
import type { CaptureRecord, PcapRing, RecordFilter } from '@tapwire/pcap'

/**
 * A connection's ts (Unix ms, fractional) went through `sec * 1000 + nsec / 1e6`; the ring turns
 * the window back into nanoseconds. Near 1.7e12 ms a double is exact to ~0.25 µs, so the window is
 * widened by 1 µs on each side or the first and last packets could fall just outside it.
 */
const TS_SLACK_MS = 0.001

export interface ConnPcapOptions {
  /** Bound on the whole pcap file (header included); packets beyond it are left out. */
  maxBytes: number
  /** Stop reading the ring at this Date.now() (a long-lived connection can span the whole ring). */
  deadline?: number
  now?: () => number
}

export interface ConnPcap {
  /** Classic pcap (ns timestamps, the ring's link type and snap length); empty when no packet. */
  pcap: Uint8Array
  packets: number
  /** Some of the connection's packets are not in `pcap` (bound, deadline, or aged out of the ring). */
  truncated: boolean
  /** Why there is no pcap, or why it was cut. */
  note?: string | undefined
}

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * Matches both directions of one connection: same transport, and {client, server} as
 * {src, dst} either way round. Ports are compared first (cheap); addresses are formatted only
 * for packets whose ports match, with the formatter the flow table used for the connection.
 */
export function connectionFilter(conn: ConnWindow, linkType: number): RecordFilter {
  const proto = conn.transport === 'tcp' ? IpProto.TCP : IpProto.UDP
  const d = newDecodedPacket()
  const { client, server } = conn
  const fromClient = (): boolean => d.srcPort === client.port && d.dstPort === server.port
  const fromServer = (): boolean => d.srcPort === server.port && d.dstPort === client.port
  return (r: CaptureRecord): boolean => {
    if (decodePacket(linkType, r.data, d) !== DecodeStatus.OK || d.ipProto !== proto) return false
    const c = fromClient()
    const s = fromServer()
    if (!c && !s) return false
    const src = formatAddress(d.data, d.srcOffset, d.addrLen)
    const dst = formatAddress(d.data, d.dstOffset, d.addrLen)
    return (c && src === client.ip && dst === server.ip) || (s && src === server.ip && dst === client.ip)
  }
}

/**
 * The packets of one connection, both directions, from its first to its last packet, as an
 * in-memory classic pcap bounded by `maxBytes`. Reads the ring by time (its index skips blocks
 * outside the window) and filters by 5-tuple with the same decoder the capture path uses.
 */
export async function connectionPcap(ring: PcapRing, conn: ConnWindow, opts: ConnPcapOptions): Promise<ConnPcap> {
  const none = (note: string): ConnPcap => ({ pcap: new Uint8Array(0), packets: 0, truncated: false, note })
  const stats = ring.stats()
  const oldest = stats.oldestTs
  if (oldest === undefined) return none('the raw-capture ring holds no packets')
  const span = `first packet ${iso(conn.firstTs)}, last ${iso(conn.lastTs)}`
  if (oldest > conn.lastTs + TS_SLACK_MS) {
    return none(`the connection's packets (${span}) have left the raw-capture ring, whose oldest packet is from ${iso(oldest)}`)
  }
  let truncated = false
  let cutForSize = false
  let note: string | undefined
  if (oldest > conn.firstTs + TS_SLACK_MS) {
    truncated = true
    note = `the connection's first packets (${span}) have left the raw-capture ring, whose oldest packet is from ${iso(oldest)}`
  }
  const now = opts.now ?? Date.now
  const snapLen = ring.snapLen
  const records: CaptureRecord[] = []
  let size = 24 // pcap file header (draft-ietf-opsawg-pcap §4)
  const filter = connectionFilter(conn, ring.linkType)
  scan: for await (const batch of ring.sliceBatches(conn.firstTs - TS_SLACK_MS, conn.lastTs + TS_SLACK_MS, filter)) {
    for (const r of batch) {
      const rec = 16 + Math.min(r.data.length, snapLen) // record header (§5) + captured bytes
      if (size + rec > opts.maxBytes) {
        truncated = true
        cutForSize = true
        note = `cut at ${size} bytes: the connection PCAP is bounded to ${opts.maxBytes} bytes on this node (--details-pcap-max and NATS max_payload); export a snapshot for the whole traffic`
        break scan
      }
      size += rec
      // Records are views into the ring's 1 MiB read buffers: copy so those can go.
      records.push({ ...r, data: r.data.slice() })
    }
    if (opts.deadline !== undefined && now() > opts.deadline) {
      truncated = true
      note = `cut after ${records.length} packets: reading the raw-capture ring took too long; export a snapshot for the whole traffic`
      break
    }
  }
  if (records.length === 0) {
    // Cut before the first packet (no room at all): say why rather than "no packets".
    if (cutForSize) return { ...none(note ?? ''), truncated: true }
    const dropped = stats.droppedPackets > 0 ? ` (the ring dropped ${stats.droppedPackets} packets since the agent started)` : ''
    return none(`no packets of this connection (${span}) are in the raw-capture ring${dropped}`)
  }
  const pcap = encodePcap(records, { linkType: ring.linkType, resolution: 'ns', snapLen })
  return { pcap, packets: records.length, truncated, note }
}
