/**
 * pcapng parser following draft-ietf-opsawg-pcapng ("PCAP Now Generic (pcapng) Capture File Format").
 * Incremental like the classic parser: it consumes whole blocks from a byte range and says how many
 * bytes it needs next. Packet blocks (EPB, SPB, obsolete PB) become records; SHB and IDB update the
 * metadata; every other block (NRB, ISB, DSB, custom, journal...) is skipped by its length.
 */
import { PcapBadBlockError, PcapBadMagicError, PcapUnsupportedError } from './errors.js'
import { MAX_BUFFERED_BLOCK, MAX_CAPLEN } from './limits.js'
import { putRecord } from './record-out.js'
import { tsConverter } from './timestamp.js'
import type { TsConverter } from './timestamp.js'
import type {
  ByteOrder,
  CaptureInfo,
  CaptureInterface,
  RecordOut,
  CaptureSection,
} from './types.js'

// §4.1 / §10 block type codes.
export const BT_SHB = 0x0a0d0d0a
export const BT_IDB = 0x00000001
export const BT_PB = 0x00000002 // obsolete Packet Block, Appendix A
export const BT_SPB = 0x00000003
export const BT_EPB = 0x00000006
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d

// §4.3 IDB option codes.
const IF_NAME = 2
const IF_DESCRIPTION = 3
const IF_TSRESOL = 9
const IF_FCSLEN = 13
const IF_TSOFFSET = 14
// §4.1 SHB option codes.
const SHB_HARDWARE = 2
const SHB_OS = 3
const SHB_USERAPPL = 4

const SHB_MIN = 28
const IDB_MIN = 20
const EPB_MIN = 32
const PB_MIN = 32
const SPB_MIN = 16
const BLOCK_MIN = 12

interface Iface {
  info: CaptureInterface
  ts: TsConverter
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

function optString(buf: Uint8Array, start: number, len: number): string {
  // Strings are not NUL-terminated per §3.5, but some writers add one; drop trailing NULs.
  let end = start + len
  while (end > start && buf[end - 1] === 0) end--
  return utf8.decode(buf.subarray(start, end))
}

export class PcapngParser {
  readonly info: CaptureInfo
  needed = BLOCK_MIN
  /** Bytes of an oversized unknown block still to be skipped before the next block starts. */
  skip = 0
  #le = true
  #sectionIfaces: Iface[] = []
  #inSection = false
  readonly #ts = new Float64Array(2)

  constructor() {
    this.info = { format: 'pcapng', byteOrder: 'little', interfaces: [], sections: [] }
  }

  get headerDone(): boolean {
    return this.#inSection
  }

  parse(
    buf: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    base: number,
    out: RecordOut
  ): number {
    let o = start
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - o)
        o += n
        this.skip -= n
        if (this.skip > 0) {
          this.needed = 1
          return o
        }
      }
      const avail = end - o
      if (avail < BLOCK_MIN) {
        this.needed = BLOCK_MIN
        return o
      }
      // §3.1 General Block Structure: type | total length | body | total length.
      const type = view.getUint32(o, this.#le)
      if (type === BT_SHB) {
        // The SHB type is a palindrome; its byte order comes from the magic after the length (§4.1).
        const bom = view.getUint32(o + 8, false)
        let le: boolean
        if (bom === BYTE_ORDER_MAGIC) le = false
        else if (bom === 0x4d3c2b1a) le = true
        else if (!this.#inSection)
          throw new PcapBadMagicError(
            'pcapng Section Header Block has a bad byte-order magic',
            base + o + 8
          )
        else
          throw new PcapBadBlockError(
            'pcapng Section Header Block has a bad byte-order magic',
            base + o + 8
          )
        this.#le = le
      } else if (!this.#inSection) {
        throw new PcapBadMagicError(
          'pcapng file does not start with a Section Header Block',
          base + o
        )
      }
      const le = this.#le
      const total = view.getUint32(o + 4, le)
      if (total < BLOCK_MIN || (total & 3) !== 0) {
        throw new PcapBadBlockError(
          `pcapng block length ${total} is not a multiple of 4 of at least 12`,
          base + o
        )
      }
      const known =
        type === BT_EPB || type === BT_SHB || type === BT_IDB || type === BT_SPB || type === BT_PB
      if (!known) {
        // Unknown or uninteresting block: skipped by its length. Up to MAX_BUFFERED_BLOCK it is
        // buffered so its trailing length is checked as for any block; a larger one is skipped
        // without reading it (streaming readers seek past it), so its trailer goes unchecked.
        if (avail < total && total <= MAX_BUFFERED_BLOCK) {
          this.needed = total
          return o
        }
        if (avail < total) {
          this.skip = total - avail
          o = end
          continue
        }
        if (view.getUint32(o + total - 4, le) !== total) {
          throw new PcapBadBlockError(
            'pcapng block trailing length differs from its leading length',
            base + o
          )
        }
        o += total
        continue
      }
      if (total > MAX_BUFFERED_BLOCK) {
        throw new PcapBadBlockError(
          `pcapng block length ${total} exceeds ${MAX_BUFFERED_BLOCK}`,
          base + o
        )
      }
      if (avail < total) {
        this.needed = total
        return o
      }
      if (view.getUint32(o + total - 4, le) !== total) {
        throw new PcapBadBlockError(
          'pcapng block trailing length differs from its leading length',
          base + o
        )
      }
      if (type === BT_EPB) this.#packet(false, buf, view, o, total, base, out)
      else if (type === BT_SHB) this.#shb(buf, view, o, total, base)
      else if (type === BT_IDB) this.#idb(buf, view, o, total, base)
      else if (type === BT_SPB) this.#spb(buf, view, o, total, base, out)
      else this.#packet(true, buf, view, o, total, base, out)
      o += total
    }
  }

  #iface(id: number, at: number): Iface {
    const iface = this.#sectionIfaces[id]
    if (iface === undefined)
      throw new PcapBadBlockError(`pcapng packet refers to undefined interface ${id}`, at)
    return iface
  }

  /**
   * §4.3 Enhanced Packet Block, and Appendix A's obsolete Packet Block, which has the same layout
   * but a u16 interface id followed by a u16 drops count where the EPB has a u32 interface id.
   */
  #packet(
    obsolete: boolean,
    buf: Uint8Array,
    view: DataView,
    o: number,
    total: number,
    base: number,
    out: RecordOut
  ): void {
    const le = this.#le
    const name = obsolete ? 'Packet Block' : 'EPB'
    const min = obsolete ? PB_MIN : EPB_MIN
    if (total < min)
      throw new PcapBadBlockError(`pcapng ${name} length ${total} below ${min}`, base + o)
    const id = obsolete ? view.getUint16(o + 8, le) : view.getUint32(o + 8, le)
    const iface = this.#iface(id, base + o)
    const capLen = view.getUint32(o + 20, le)
    if (capLen > MAX_CAPLEN || capLen > total - min) {
      throw new PcapBadBlockError(`pcapng ${name} captured length ${capLen} does not fit`, base + o)
    }
    const ts = this.#ts
    iface.ts.convert(view.getUint32(o + 12, le), view.getUint32(o + 16, le), ts)
    putRecord(
      out,
      iface.info.linkType,
      iface.info.index,
      ts[0]!,
      ts[1]!,
      buf,
      o + 28,
      capLen,
      view.getUint32(o + 24, le)
    )
  }

  /**
   * §4.4 Simple Packet Block: interface 0, no timestamp (reported as 0). The captured length is
   * min(original length, interface snaplen, room in the block).
   */
  #spb(
    buf: Uint8Array,
    view: DataView,
    o: number,
    total: number,
    base: number,
    out: RecordOut
  ): void {
    if (total < SPB_MIN)
      throw new PcapBadBlockError(`pcapng SPB length ${total} below ${SPB_MIN}`, base + o)
    const iface = this.#iface(0, base + o)
    const origLen = view.getUint32(o + 8, this.#le)
    let capLen = Math.min(origLen, total - SPB_MIN)
    if (iface.info.snapLen > 0) capLen = Math.min(capLen, iface.info.snapLen)
    if (capLen > MAX_CAPLEN)
      throw new PcapBadBlockError(
        `pcapng SPB captured length ${capLen} exceeds ${MAX_CAPLEN}`,
        base + o
      )
    putRecord(out, iface.info.linkType, iface.info.index, 0, 0, buf, o + 12, capLen, origLen)
  }

  /** §4.1 Section Header Block: starts a section; interface ids restart at 0. */
  #shb(buf: Uint8Array, view: DataView, o: number, total: number, base: number): void {
    const le = this.#le
    if (total < SHB_MIN)
      throw new PcapBadBlockError(`pcapng SHB length ${total} below ${SHB_MIN}`, base + o)
    const major = view.getUint16(o + 12, le)
    const minor = view.getUint16(o + 14, le)
    // §4.1: a reader must not read a section whose major version it does not know.
    if (major !== 1)
      throw new PcapUnsupportedError(
        `pcapng version ${major}.${minor} is not supported`,
        base + o + 12
      )
    const byteOrder: ByteOrder = le ? 'little' : 'big'
    const section: CaptureSection = { byteOrder, majorVersion: major, minorVersion: minor }
    this.#options(buf, view, o + 24, o + total - 4, base, (code, start, len) => {
      if (code === SHB_HARDWARE) section.hardware = optString(buf, start, len)
      else if (code === SHB_OS) section.os = optString(buf, start, len)
      else if (code === SHB_USERAPPL) section.userAppl = optString(buf, start, len)
    })
    if (!this.#inSection) this.info.byteOrder = byteOrder
    this.info.sections.push(section)
    this.#sectionIfaces = []
    this.#inSection = true
  }

  /** §4.2 Interface Description Block. */
  #idb(buf: Uint8Array, view: DataView, o: number, total: number, base: number): void {
    const le = this.#le
    if (total < IDB_MIN)
      throw new PcapBadBlockError(`pcapng IDB length ${total} below ${IDB_MIN}`, base + o)
    const info: CaptureInterface = {
      index: this.info.interfaces.length,
      section: this.info.sections.length - 1,
      linkType: view.getUint16(o + 8, le),
      snapLen: view.getUint32(o + 12, le),
      tsUnitsPerSecond: 1e6, // §4.2 if_tsresol: absent means 10^-6
      tsOffset: 0,
    }
    let unitsExact: bigint | undefined
    this.#options(buf, view, o + 16, o + total - 4, base, (code, start, len) => {
      if (code === IF_NAME) info.name = optString(buf, start, len)
      else if (code === IF_DESCRIPTION) info.description = optString(buf, start, len)
      else if (code === IF_TSRESOL && len >= 1) {
        // MSB clear: 10^-v seconds; MSB set: 2^-(v & 0x7f) seconds.
        const v = buf[start]!
        const exp = v & 0x7f
        if (v & 0x80) {
          info.tsUnitsPerSecond = 2 ** exp
          unitsExact = 1n << BigInt(exp)
        } else {
          info.tsUnitsPerSecond = 10 ** exp
          unitsExact = 10n ** BigInt(exp)
        }
      } else if (code === IF_TSOFFSET && len >= 8) {
        info.tsOffset = Number(view.getBigInt64(start, le))
      } else if (code === IF_FCSLEN && len >= 1) {
        info.fcsLen = buf[start]!
      }
    })
    this.info.interfaces.push(info)
    this.#sectionIfaces.push({
      info,
      ts: tsConverter(info.tsUnitsPerSecond, info.tsOffset, unitsExact),
    })
  }

  /** §3.5 Options: code u16 | length u16 | value padded to 32 bits, ended by opt_endofopt or the block end. */
  #options(
    buf: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    base: number,
    each: (code: number, start: number, len: number) => void
  ): void {
    const le = this.#le
    let p = start
    while (end - p >= 4) {
      const code = view.getUint16(p, le)
      const len = view.getUint16(p + 2, le)
      if (code === 0) return
      if (p + 4 + len > end)
        throw new PcapBadBlockError(`pcapng option ${code} overruns its block`, base + p)
      each(code, p + 4, len)
      p += 4 + ((len + 3) & ~3)
    }
  }
}
