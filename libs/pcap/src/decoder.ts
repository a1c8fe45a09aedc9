/**
 * Format sniffing and the bookkeeping shared by the in-memory and streaming readers: which parser
 * to use, how many bytes are needed next, and whether the input ended inside a record.
 */
import { PcapBadMagicError, PcapTruncatedError } from './errors.js'
import { PcapParser, isPcapMagic } from './pcap-reader.js'
import { BT_SHB, PcapngParser } from './pcapng-reader.js'
import type { CaptureInfo, CaptureStatus, RecordOut, RecordSink } from './types.js'

export type FormatParser = PcapParser | PcapngParser

export class CaptureDecoder implements CaptureStatus {
  #parser: FormatParser | undefined
  truncated = false
  warnings: string[] = []
  recordCount = 0
  #counter: (RecordSink & { sink: RecordSink }) | undefined

  get parser(): FormatParser | undefined {
    return this.#parser
  }

  get info(): CaptureInfo | undefined {
    return this.#parser?.info
  }

  /** Bytes needed at the last returned offset to make progress. */
  get needed(): number {
    return this.#parser?.needed ?? 4
  }

  /** Bytes the parser wants skipped (an oversized unknown pcapng block), resettable by the caller. */
  takeSkip(): number {
    const p = this.#parser
    if (p instanceof PcapngParser && p.skip > 0) {
      const n = p.skip
      p.skip = 0
      return n
    }
    return 0
  }

  decode(
    buf: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    base: number,
    out: RecordOut
  ): number {
    let p = this.#parser
    if (p === undefined) {
      if (end - start < 4) return start
      const magic = view.getUint32(start, false)
      if (magic === BT_SHB) p = new PcapngParser()
      else if (isPcapMagic(magic)) p = new PcapParser()
      else
        throw new PcapBadMagicError(
          `not a pcap or pcapng file: magic 0x${magic.toString(16).padStart(8, '0')}`,
          base + start
        )
      this.#parser = p
    }
    if (!Array.isArray(out)) return p.parse(buf, view, start, end, base, this.#counting(out))
    const before = out.length
    const o = p.parse(buf, view, start, end, base, out)
    this.recordCount += out.length - before
    return o
  }

  /** `sink`, counting the records it is given into `recordCount`. */
  #counting(sink: RecordSink): RecordSink {
    let c = this.#counter
    if (c === undefined || c.sink !== sink) {
      c = this.#counter = {
        sink,
        record: (linkType, ifIndex, tsSec, tsNsec, buf, start, capLen, origLen) => {
          this.recordCount++
          sink.record(linkType, ifIndex, tsSec, tsNsec, buf, start, capLen, origLen)
        },
      }
    }
    return c
  }

  /** Call at end of input with the number of bytes left unparsed (and any skip still pending). */
  finish(leftover: number, offset: number, pendingSkip = 0): void {
    const p = this.#parser
    if (p === undefined || !p.headerDone) {
      throw new PcapTruncatedError('input ends before the capture file header is complete', offset)
    }
    if (leftover > 0 || pendingSkip > 0) {
      this.truncated = true
      this.warnings.push(
        `input ends inside a ${p instanceof PcapParser ? 'record' : 'block'} at byte offset ${offset}` +
          ` (${leftover > 0 ? `${leftover} bytes of it present` : `${pendingSkip} bytes missing`}); ignored`
      )
    }
  }
}
