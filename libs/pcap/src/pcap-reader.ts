/**
 * Classic libpcap savefile parser, following draft-ietf-opsawg-pcap ("PCAP Capture File Format").
 * Incremental: it parses the complete records in a byte range and reports how many bytes it needs
 * to go on, so the same code serves in-memory buffers and chunked streaming from disk.
 */
import { PcapBadBlockError, PcapBadMagicError, PcapUnsupportedError } from './errors.js'
import { MAX_CAPLEN } from './limits.js'
import { putRecord } from './record-out.js'
import type { CaptureInfo, CaptureInterface, RecordOut } from './types.js'

// §4: the magic is written in the writer's byte order; the reader learns the order from it.
export const PCAP_MAGIC_US = 0xa1b2c3d4
export const PCAP_MAGIC_NS = 0xa1b23c4d
const PCAP_MAGIC_US_SWAPPED = 0xd4c3b2a1
const PCAP_MAGIC_NS_SWAPPED = 0x4d3cb2a1
/** Alexey Kuznetzov's "modified" pcap (24-byte record headers): recognised, not read. */
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34
const PCAP_MAGIC_MODIFIED_SWAPPED = 0x34cdb2a1

export const PCAP_FILE_HEADER_SIZE = 24
export const PCAP_RECORD_HEADER_SIZE = 16

/** True when the big-endian u32 at the start of a file is a classic pcap magic we read. */
export function isPcapMagic(beMagic: number): boolean {
  return (
    beMagic === PCAP_MAGIC_US ||
    beMagic === PCAP_MAGIC_NS ||
    beMagic === PCAP_MAGIC_US_SWAPPED ||
    beMagic === PCAP_MAGIC_NS_SWAPPED ||
    beMagic === PCAP_MAGIC_MODIFIED ||
    beMagic === PCAP_MAGIC_MODIFIED_SWAPPED
  )
}

// §4 "LinkType and additional information": FCS length (4 bits) | R | P | reserved | LinkType.
// libpcap masks with LT_LINKTYPE = 0x03FFFFFF; the FCS length counts 16-bit words when P is set.
const LINKTYPE_MASK = 0x03ffffff
const FCS_PRESENT_BIT = 0x04000000

export class PcapParser {
  readonly info: CaptureInfo
  /** Bytes needed at the returned offset before another call can make progress. */
  needed = PCAP_FILE_HEADER_SIZE
  readonly skip = 0
  #le = true
  #fracToNs = 1000
  #linkType = 0
  #header = false

  constructor() {
    this.info = { format: 'pcap', byteOrder: 'little', interfaces: [], sections: [] }
  }

  get headerDone(): boolean {
    return this.#header
  }

  #readHeader(view: DataView, o: number, base: number): void {
    const be = view.getUint32(o, false)
    let le: boolean
    let ns: boolean
    switch (be) {
      case PCAP_MAGIC_US:
        le = false
        ns = false
        break
      case PCAP_MAGIC_NS:
        le = false
        ns = true
        break
      case PCAP_MAGIC_US_SWAPPED:
        le = true
        ns = false
        break
      case PCAP_MAGIC_NS_SWAPPED:
        le = true
        ns = true
        break
      case PCAP_MAGIC_MODIFIED:
      case PCAP_MAGIC_MODIFIED_SWAPPED:
        throw new PcapUnsupportedError('modified (Kuznetzov) pcap is not supported', base + o)
      default:
        throw new PcapBadMagicError(
          `not a pcap file: magic 0x${be.toString(16).padStart(8, '0')}`,
          base + o
        )
    }
    const major = view.getUint16(o + 4, le)
    const minor = view.getUint16(o + 6, le)
    // §4: Major version 2 is the current format; 1.x files predate it and are not produced anymore.
    if (major !== 2)
      throw new PcapUnsupportedError(
        `pcap version ${major}.${minor} is not supported`,
        base + o + 4
      )
    const snapLen = view.getUint32(o + 16, le)
    const linkField = view.getUint32(o + 20, le)
    this.#le = le
    this.#fracToNs = ns ? 1 : 1000
    this.#linkType = linkField & LINKTYPE_MASK
    const iface: CaptureInterface = {
      index: 0,
      section: 0,
      linkType: this.#linkType,
      snapLen,
      tsUnitsPerSecond: ns ? 1e9 : 1e6,
      tsOffset: 0,
    }
    if (linkField & FCS_PRESENT_BIT) iface.fcsLen = ((linkField >>> 28) & 0xf) * 2
    this.info.byteOrder = le ? 'little' : 'big'
    this.info.interfaces.push(iface)
    this.info.pcap = {
      versionMajor: major,
      versionMinor: minor,
      snapLen,
      resolution: ns ? 'ns' : 'us',
    }
    this.#header = true
  }

  /**
   * Parses complete records in `buf[start, end)` into `out` and returns the offset of the first
   * byte not consumed. `base` is the file offset of `buf[0]` (for error messages).
   */
  parse(
    buf: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    base: number,
    out: RecordOut
  ): number {
    let o = start
    if (!this.#header) {
      if (end - o < PCAP_FILE_HEADER_SIZE) {
        this.needed = PCAP_FILE_HEADER_SIZE
        return o
      }
      this.#readHeader(view, o, base)
      o += PCAP_FILE_HEADER_SIZE
    }
    const le = this.#le
    const mul = this.#fracToNs
    const linkType = this.#linkType
    // §5 Packet Record: ts_sec | ts_frac | captured length | original length | data (not padded).
    while (end - o >= PCAP_RECORD_HEADER_SIZE) {
      const capLen = view.getUint32(o + 8, le)
      if (capLen > MAX_CAPLEN) {
        throw new PcapBadBlockError(
          `pcap record captured length ${capLen} exceeds ${MAX_CAPLEN}`,
          base + o
        )
      }
      const dataStart = o + PCAP_RECORD_HEADER_SIZE
      if (end - dataStart < capLen) {
        this.needed = PCAP_RECORD_HEADER_SIZE + capLen
        return o
      }
      let tsSec = view.getUint32(o, le)
      let tsNsec = view.getUint32(o + 4, le) * mul
      // The fraction should be below one second; carry rather than emit an impossible nanosecond.
      if (tsNsec >= 1e9) {
        tsSec += Math.floor(tsNsec / 1e9)
        tsNsec %= 1e9
      }
      putRecord(out, linkType, 0, tsSec, tsNsec, buf, dataStart, capLen, view.getUint32(o + 12, le))
      o = dataStart + capLen
    }
    this.needed = PCAP_RECORD_HEADER_SIZE
    return o
  }
}
