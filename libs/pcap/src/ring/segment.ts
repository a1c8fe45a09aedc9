/**
 * One ring segment on disk: a classic little-endian pcap file with nanosecond timestamps plus a
 * small binary time index beside it. This module knows the names, the index format, and how to
 * rebuild a segment's index (and cut a torn tail) from the pcap bytes alone.
 *
 * Index file `<name>.idx`, little-endian:
 *   header, 48 bytes: magic 'TWRI' u32 | version u16 | flags u16 (bit 0: final) | link type u32 |
 *     packets per block u32 | pcap bytes covered f64 | packets f64 | min ts (sec u32, nsec u32) |
 *     max ts (sec u32, nsec u32)            -- the summary fields are filled in when finalised
 *   one 32-byte entry per block of `indexEvery` packets (the last block may be shorter):
 *     file offset of the block's first record f64 | packets u32 | min ts (sec, nsec) |
 *     max ts (sec, nsec) | reserved u32
 * Min and max are kept per block because live capture timestamps are only nearly sorted (several
 * CPUs stamp packets), so a block's first record does not bound its others.
 */
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_CAPLEN } from '../limits.js'
import { PCAP_FILE_HEADER_SIZE, PCAP_MAGIC_NS, PCAP_RECORD_HEADER_SIZE } from '../pcap-reader.js'

export const IDX_MAGIC = 0x49525754 // 'TWRI'
export const IDX_VERSION = 1
export const IDX_HEADER_SIZE = 48
export const IDX_ENTRY_SIZE = 32
const IDX_FINAL = 1

/** A pcap record whose timestamp is this far before the segment's first one is garbage, not jitter. */
const MAX_BACKWARD_SEC = 3600
/** Largest original length we believe (jumbo frames, TSO super-packets); beyond it is garbage. */
const MAX_ORIGLEN = 16 * 1024 * 1024

/** Seconds + nanoseconds, the resolution of the segments. */
export interface Ts {
  sec: number
  nsec: number
}

export function tsBefore(aSec: number, aNsec: number, bSec: number, bNsec: number): boolean {
  return aSec < bSec || (aSec === bSec && aNsec < bNsec)
}

export function tsToMs(sec: number, nsec: number): number {
  return sec * 1000 + nsec / 1e6
}

/** Unix ms (possibly fractional) to the first nanosecond at or after it. */
export function msToTs(ms: number): Ts {
  const sec = Math.floor(ms / 1000)
  let nsec = Math.round((ms - sec * 1000) * 1e6)
  if (nsec >= 1e9) return { sec: sec + 1, nsec: nsec - 1e9 }
  if (nsec < 0) nsec = 0
  return { sec, nsec }
}

/** `count` consecutive records starting at `offset`, with the time range they cover. */
export interface Block {
  offset: number
  count: number
  minSec: number
  minNsec: number
  maxSec: number
  maxNsec: number
}

/** Accumulates records into blocks of `every` packets. */
export class BlockAccumulator {
  readonly every: number
  /** The block being filled (undefined until its first record). */
  open: Block | undefined

  constructor(every: number) {
    this.every = every
  }

  /** Adds one record; returns the block it completed, if any. */
  add(offset: number, sec: number, nsec: number): Block | undefined {
    let b = this.open
    if (b === undefined) {
      b = { offset, count: 0, minSec: sec, minNsec: nsec, maxSec: sec, maxNsec: nsec }
      this.open = b
    } else {
      if (tsBefore(sec, nsec, b.minSec, b.minNsec)) {
        b.minSec = sec
        b.minNsec = nsec
      }
      if (tsBefore(b.maxSec, b.maxNsec, sec, nsec)) {
        b.maxSec = sec
        b.maxNsec = nsec
      }
    }
    b.count++
    if (b.count < this.every) return undefined
    this.open = undefined
    return b
  }
}

// --- names -----------------------------------------------------------------------------------------

/**
 * `seg-<seq, 10 digits>-<first packet ts in ns, 20 digits>.pcap`. The sequence comes first so that
 * name order is write order even if the wall clock stepped back across a restart; the timestamp
 * makes a listing readable by eye.
 */
const SEGMENT_RE = /^seg-(\d{10})-(\d{20})\.pcap$/

export function segmentName(seq: number, sec: number, nsec: number): string {
  const ns = `${sec}${String(nsec).padStart(9, '0')}`.padStart(20, '0')
  return `seg-${String(seq).padStart(10, '0')}-${ns}.pcap`
}

export function parseSegmentName(name: string): { seq: number; first: Ts } | undefined {
  const m = SEGMENT_RE.exec(name)
  if (m === null) return undefined
  const ns = m[2]!
  return { seq: Number(m[1]), first: { sec: Number(ns.slice(0, 11)), nsec: Number(ns.slice(11)) } }
}

export function indexPathOf(pcapPath: string): string {
  return `${pcapPath.slice(0, -'.pcap'.length)}.idx`
}

export function isIndexName(name: string): boolean {
  return /^seg-\d{10}-\d{20}\.idx$/.test(name)
}

// --- index encoding ---------------------------------------------------------------------------------

export interface IndexSummary {
  pcapBytes: number
  packets: number
  min: Ts
  max: Ts
}

export function encodeIndexHeader(
  linkType: number,
  every: number,
  summary: IndexSummary | undefined
): Uint8Array {
  const buf = new Uint8Array(IDX_HEADER_SIZE)
  const v = new DataView(buf.buffer)
  v.setUint32(0, IDX_MAGIC, true)
  v.setUint16(4, IDX_VERSION, true)
  v.setUint16(6, summary === undefined ? 0 : IDX_FINAL, true)
  v.setUint32(8, linkType, true)
  v.setUint32(12, every, true)
  if (summary !== undefined) {
    v.setFloat64(16, summary.pcapBytes, true)
    v.setFloat64(24, summary.packets, true)
    v.setUint32(32, summary.min.sec, true)
    v.setUint32(36, summary.min.nsec, true)
    v.setUint32(40, summary.max.sec, true)
    v.setUint32(44, summary.max.nsec, true)
  }
  return buf
}

export function encodeIndexEntries(blocks: readonly Block[]): Uint8Array {
  const buf = new Uint8Array(blocks.length * IDX_ENTRY_SIZE)
  const v = new DataView(buf.buffer)
  let o = 0
  for (const b of blocks) {
    v.setFloat64(o, b.offset, true)
    v.setUint32(o + 8, b.count, true)
    v.setUint32(o + 12, b.minSec, true)
    v.setUint32(o + 16, b.minNsec, true)
    v.setUint32(o + 20, b.maxSec, true)
    v.setUint32(o + 24, b.maxNsec, true)
    v.setUint32(o + 28, 0, true)
    o += IDX_ENTRY_SIZE
  }
  return buf
}

export interface LoadedIndex {
  linkType: number
  every: number
  summary: IndexSummary
  blocks: Block[]
  bytes: number
}

/**
 * Reads a finalised index. Returns undefined when it is missing, not final (the segment was being
 * written when the agent stopped), or inconsistent with itself: the caller then rebuilds it.
 */
export async function loadFinalIndex(path: string): Promise<LoadedIndex | undefined> {
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch {
    return undefined
  }
  if (buf.length < IDX_HEADER_SIZE || (buf.length - IDX_HEADER_SIZE) % IDX_ENTRY_SIZE !== 0)
    return undefined
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length)
  if (v.getUint32(0, true) !== IDX_MAGIC || v.getUint16(4, true) !== IDX_VERSION) return undefined
  if ((v.getUint16(6, true) & IDX_FINAL) === 0) return undefined
  const summary: IndexSummary = {
    pcapBytes: v.getFloat64(16, true),
    packets: v.getFloat64(24, true),
    min: { sec: v.getUint32(32, true), nsec: v.getUint32(36, true) },
    max: { sec: v.getUint32(40, true), nsec: v.getUint32(44, true) },
  }
  const blocks: Block[] = []
  let packets = 0
  let prevEnd = PCAP_FILE_HEADER_SIZE
  for (let o = IDX_HEADER_SIZE; o < buf.length; o += IDX_ENTRY_SIZE) {
    const b: Block = {
      offset: v.getFloat64(o, true),
      count: v.getUint32(o + 8, true),
      minSec: v.getUint32(o + 12, true),
      minNsec: v.getUint32(o + 16, true),
      maxSec: v.getUint32(o + 20, true),
      maxNsec: v.getUint32(o + 24, true),
    }
    // Offsets must start after the header and grow: anything else is a damaged index.
    if (!(b.offset >= prevEnd && b.offset < summary.pcapBytes) || b.count === 0) return undefined
    prevEnd = b.offset + PCAP_RECORD_HEADER_SIZE
    packets += b.count
    blocks.push(b)
  }
  if (packets !== summary.packets) return undefined
  return {
    linkType: v.getUint32(8, true),
    every: v.getUint32(12, true),
    summary,
    blocks,
    bytes: buf.length,
  }
}

// --- rebuilding from the pcap bytes -------------------------------------------------------------------

export interface ScanResult {
  /** False when the pcap file header itself is missing, torn or not ours: the segment is unusable. */
  headerOk: boolean
  linkType: number
  snapLen: number
  fileBytes: number
  /** End of the last complete, plausible record: everything after it is cut. */
  goodBytes: number
  packets: number
  blocks: Block[]
  min: Ts | undefined
  max: Ts | undefined
}

const SCAN_CHUNK = 1024 * 1024

/**
 * Walks a segment's records from the start, validating each header (lengths within the snap length,
 * nanoseconds below 1e9, timestamps not before the segment's first minus an hour) and stops at the
 * first record that is incomplete or implausible. Implausible matters, not only incomplete: after a
 * power loss a file system may leave a zero-filled tail, which parses as empty records at 1970.
 */
export async function scanSegment(path: string, first: Ts, every: number): Promise<ScanResult> {
  const fh = await open(path, 'r')
  try {
    const fileBytes = (await fh.stat()).size
    const res: ScanResult = {
      headerOk: false,
      linkType: 0,
      snapLen: 0,
      fileBytes,
      goodBytes: 0,
      packets: 0,
      blocks: [],
      min: undefined,
      max: undefined,
    }
    const head = new Uint8Array(PCAP_FILE_HEADER_SIZE)
    const { bytesRead } = await fh.read(head, 0, PCAP_FILE_HEADER_SIZE, 0)
    const hv = new DataView(head.buffer)
    // The ring only ever writes little-endian ns pcap v2.4; anything else is not a segment of ours.
    if (bytesRead < PCAP_FILE_HEADER_SIZE || hv.getUint32(0, true) !== PCAP_MAGIC_NS) return res
    if (hv.getUint16(4, true) !== 2) return res
    res.headerOk = true
    res.snapLen = hv.getUint32(16, true)
    res.linkType = hv.getUint32(20, true) & 0x03ffffff
    res.goodBytes = PCAP_FILE_HEADER_SIZE
    const snap = Math.min(res.snapLen, MAX_CAPLEN)
    const minSec = first.sec - MAX_BACKWARD_SEC
    const acc = new BlockAccumulator(every)
    let buf = new Uint8Array(SCAN_CHUNK)
    let have = 0 // bytes in buf
    let base = PCAP_FILE_HEADER_SIZE // file offset of buf[0]
    let eof = false
    for (;;) {
      if (!eof && have < buf.length) {
        const r = await fh.read(buf, have, buf.length - have, base + have)
        if (r.bytesRead === 0) eof = true
        have += r.bytesRead
      }
      const v = new DataView(buf.buffer, 0, have)
      let o = 0
      let bad = false
      while (have - o >= PCAP_RECORD_HEADER_SIZE) {
        const sec = v.getUint32(o, true)
        const nsec = v.getUint32(o + 4, true)
        const capLen = v.getUint32(o + 8, true)
        const origLen = v.getUint32(o + 12, true)
        if (
          capLen === 0 ||
          capLen > snap ||
          origLen < capLen ||
          origLen > MAX_ORIGLEN ||
          nsec >= 1e9 ||
          sec < minSec
        ) {
          bad = true
          break
        }
        if (have - o - PCAP_RECORD_HEADER_SIZE < capLen) break
        const off = base + o
        const done = acc.add(off, sec, nsec)
        if (done !== undefined) res.blocks.push(done)
        if (res.min === undefined || tsBefore(sec, nsec, res.min.sec, res.min.nsec))
          res.min = { sec, nsec }
        if (res.max === undefined || tsBefore(res.max.sec, res.max.nsec, sec, nsec))
          res.max = { sec, nsec }
        res.packets++
        o += PCAP_RECORD_HEADER_SIZE + capLen
        res.goodBytes = base + o
      }
      if (bad || eof) break
      // Carry the partial record to the front of the buffer and read on.
      const left = have - o
      if (left > 0) buf.copyWithin(0, o, have)
      base += o
      have = left
      if (o === 0 && have === buf.length) {
        const bigger = new Uint8Array(buf.length * 2)
        bigger.set(buf)
        buf = bigger
      }
    }
    if (acc.open !== undefined) res.blocks.push(acc.open)
    return res
  } finally {
    await fh.close()
  }
}

export function joinPath(dir: string, name: string): string {
  return join(dir, name)
}
