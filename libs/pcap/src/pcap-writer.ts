/**
 * Classic pcap writer (draft-ietf-opsawg-pcap §4, §5). Little-endian, as the draft lets the writer
 * pick its byte order; µs (magic A1B2C3D4) or ns (magic A1B23C4D) resolution; one link type.
 */
import { BufferedWriter, RESOLVED } from './buffered-writer.js'
import { PcapBadRecordError } from './errors.js'
import { DEFAULT_SNAPLEN } from './limits.js'
import {
  PCAP_FILE_HEADER_SIZE,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_SIZE,
} from './pcap-reader.js'
import type { ByteSink } from './sink.js'
import type { WritableRecord } from './types.js'

export type PcapResolution = 'us' | 'ns'

export interface PcapWriterOptions {
  /** LINKTYPE_* of every packet (e.g. LinkType.ETHERNET from @tapwire/packet). */
  linkType: number
  /** Timestamp resolution; default 'us' (the magic every tool, including MIME sniffers, knows). */
  resolution?: PcapResolution
  /** Default 262144; longer packets are truncated to it (origLen keeps the wire length). */
  snapLen?: number
  /** Bytes batched per sink write; default 1 MiB. */
  bufferSize?: number
}

export function encodePcapHeader(
  view: DataView,
  o: number,
  linkType: number,
  resolution: PcapResolution,
  snapLen: number
): number {
  view.setUint32(o, resolution === 'ns' ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true)
  view.setUint16(o + 4, 2, true) // §4 Major Version
  view.setUint16(o + 6, 4, true) // Minor Version
  view.setUint32(o + 8, 0, true) // Reserved1 (old thiszone)
  view.setUint32(o + 12, 0, true) // Reserved2 (old sigfigs)
  view.setUint32(o + 16, snapLen, true)
  view.setUint32(o + 20, linkType & 0xffff, true) // no FCS information
  return o + PCAP_FILE_HEADER_SIZE
}

function checkTime(rec: WritableRecord): void {
  if (!(rec.tsSec >= 0 && rec.tsSec <= 0xffffffff && rec.tsNsec >= 0 && rec.tsNsec < 1e9)) {
    throw new PcapBadRecordError(`timestamp ${rec.tsSec}.${rec.tsNsec} cannot be written`)
  }
}

/** Encodes one record at `o`; returns the end offset. Caller ensures room (16 + capLen). */
export function encodePcapRecord(
  buf: Uint8Array,
  view: DataView,
  o: number,
  rec: WritableRecord,
  resolution: PcapResolution,
  snapLen: number
): number {
  checkTime(rec)
  const data = rec.data
  const capLen = Math.min(data.length, snapLen)
  view.setUint32(o, rec.tsSec, true)
  // µs files truncate the nanoseconds, as mergecap -F pcap does.
  view.setUint32(o + 4, resolution === 'ns' ? rec.tsNsec : Math.floor(rec.tsNsec / 1000), true)
  view.setUint32(o + 8, capLen, true)
  view.setUint32(o + 12, Math.max(rec.origLen ?? data.length, capLen), true)
  buf.set(capLen === data.length ? data : data.subarray(0, capLen), o + PCAP_RECORD_HEADER_SIZE)
  return o + PCAP_RECORD_HEADER_SIZE + capLen
}

function checkLinkType(rec: WritableRecord, linkType: number): void {
  if (rec.linkType !== undefined && rec.linkType !== linkType) {
    throw new PcapBadRecordError(
      `record link type ${rec.linkType} differs from the file's ${linkType}; use pcapng`
    )
  }
}

/** Streams a classic pcap file to a sink. */
export class PcapWriter extends BufferedWriter {
  readonly linkType: number
  readonly resolution: PcapResolution
  readonly snapLen: number

  constructor(sink: ByteSink, options: PcapWriterOptions) {
    super(sink, options.bufferSize)
    this.linkType = options.linkType
    this.resolution = options.resolution ?? 'us'
    this.snapLen = options.snapLen ?? DEFAULT_SNAPLEN
    this.pos = encodePcapHeader(this.view, 0, this.linkType, this.resolution, this.snapLen)
  }

  /**
   * Buffers one record. The promise resolves at once unless the buffer had to be flushed, in which
   * case it resolves when the sink accepted the data: `await` it to get backpressure.
   */
  write(rec: WritableRecord): Promise<void> {
    checkLinkType(rec, this.linkType)
    const p = this.reserve(PCAP_RECORD_HEADER_SIZE + Math.min(rec.data.length, this.snapLen))
    this.pos = encodePcapRecord(this.buf, this.view, this.pos, rec, this.resolution, this.snapLen)
    this.recordsWritten++
    return p ?? RESOLVED
  }
}

/** Encodes a small classic pcap file in memory (e.g. for base64 in API answers). */
export function encodePcap(
  records: Iterable<WritableRecord>,
  options: PcapWriterOptions
): Uint8Array {
  const resolution = options.resolution ?? 'us'
  const snapLen = options.snapLen ?? DEFAULT_SNAPLEN
  const list = Array.isArray(records) ? (records as WritableRecord[]) : [...records]
  let size = PCAP_FILE_HEADER_SIZE
  for (const r of list) size += PCAP_RECORD_HEADER_SIZE + Math.min(r.data.length, snapLen)
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  let o = encodePcapHeader(view, 0, options.linkType, resolution, snapLen)
  for (const r of list) {
    checkLinkType(r, options.linkType)
    o = encodePcapRecord(buf, view, o, r, resolution, snapLen)
  }
  return buf
}
