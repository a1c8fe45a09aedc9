import type { Readable } from 'node:stream'
import type { CaptureRecord } from '@tapwire/pcap'

const MAGIC_US = 0xa1b2c3d4
const MAGIC_NS = 0xa1b23c4d

export class PcapStreamError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PcapStreamError'
  }
}

export interface PcapStreamHeader {
  linkType: number
  snapLen: number
}

/**
 * Classic pcap records from a byte stream (a child's stdout: `tcpdump -w -` output), one array per
 * chunk, without ever holding more than one chunk plus a partial record. Files on disk are read
 * with openCapture; this exists because that reader needs a seekable file.
 */
export async function* pcapStreamBatches(
  input: Readable,
  onHeader?: (h: PcapStreamHeader) => void
): AsyncGenerator<CaptureRecord[], void, undefined> {
  let carry: Uint8Array = new Uint8Array(0)
  let little = true
  let nsRes = false
  let linkType = -1
  for await (const piece of input as AsyncIterable<Buffer>) {
    let buf: Uint8Array
    if (carry.length > 0) {
      buf = new Uint8Array(carry.length + piece.length)
      buf.set(carry)
      buf.set(piece, carry.length)
    } else buf = new Uint8Array(piece.buffer, piece.byteOffset, piece.length)
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    let off = 0
    if (linkType < 0) {
      if (buf.length < 24) {
        carry = buf.slice()
        continue
      }
      const le = view.getUint32(0, true)
      const be = view.getUint32(0, false)
      if (le === MAGIC_US || le === MAGIC_NS) little = true
      else if (be === MAGIC_US || be === MAGIC_NS) little = false
      else throw new PcapStreamError(`not a classic pcap stream (magic ${le.toString(16)})`)
      nsRes = view.getUint32(0, little) === MAGIC_NS
      linkType = view.getUint32(20, little) & 0xffff
      onHeader?.({ linkType, snapLen: view.getUint32(16, little) })
      off = 24
    }
    const out: CaptureRecord[] = []
    while (off + 16 <= buf.length) {
      const capLen = view.getUint32(off + 8, little)
      if (capLen > 0x4000000) throw new PcapStreamError(`impossible record length ${capLen}`)
      if (off + 16 + capLen > buf.length) break
      const frac = view.getUint32(off + 4, little)
      out.push({
        tsSec: view.getUint32(off, little),
        tsNsec: nsRes ? frac : frac * 1000,
        capLen,
        origLen: view.getUint32(off + 12, little),
        linkType,
        ifIndex: 0,
        data: buf.subarray(off + 16, off + 16 + capLen),
      })
      off += 16 + capLen
    }
    carry = off < buf.length ? buf.slice(off) : new Uint8Array(0)
    if (out.length > 0) yield out
  }
  if (linkType < 0 && carry.length === 0) return
  if (carry.length > 0)
    throw new PcapStreamError(`stream ends inside a record (${carry.length} bytes left)`)
}
