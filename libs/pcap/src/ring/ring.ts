/**
 * The agent's rolling pcap ring: rotating segment files (classic pcap, ns timestamps) with a time
 * index each, total size bounded, oldest segment deleted first, crash-safe, sliceable by time.
 *
 * Threading model. `append` runs on the capture (main) thread and only validates the batch header
 * and copies the batch (one memcpy, no per-packet work) into a bounded queue. Converting the batch
 * to pcap records, indexing and writing happen in a write-behind pump scheduled with setImmediate,
 * so capture callbacks interleave with it; the fs writes themselves run in libuv's thread pool. When
 * the queue is over its byte bound the batch is dropped and counted: capture never waits for disk.
 *
 * Size bound. Every byte the ring puts on disk (segment headers, records, index entries) is
 * accounted before it is written, and the oldest closed segments are unlinked (awaited) until it
 * fits, so the sum of segment and index file sizes never exceeds `maxBytes`, at any instant.
 *
 * Readers. A slice takes, per segment, the number of bytes written so far as its limit: it sees
 * only completed writes. Segments evicted while a slice reads them stay readable through the open
 * file handle (POSIX unlink semantics, as on Linux); a segment evicted before the slice reaches it
 * has aged out of the window and is skipped.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { BATCH_HEADER_SIZE, RECORD_HEADER_SIZE, readBatchInfo } from '@tapwire/packet'
import { RESOLVED } from '../buffered-writer.js'
import { MAX_CAPLEN } from '../limits.js'
import { PCAP_FILE_HEADER_SIZE, PCAP_RECORD_HEADER_SIZE, PcapParser } from '../pcap-reader.js'
import { PcapWriter, encodePcapHeader } from '../pcap-writer.js'
import { endSink, writeChunk } from '../sink.js'
import type { ByteSink, WritableLike } from '../sink.js'
import type { CaptureRecord } from '../types.js'
import { PcapRingError } from './errors.js'
import {
  BlockAccumulator,
  IDX_ENTRY_SIZE,
  IDX_HEADER_SIZE,
  encodeIndexEntries,
  encodeIndexHeader,
  indexPathOf,
  isIndexName,
  joinPath,
  loadFinalIndex,
  msToTs,
  parseSegmentName,
  scanSegment,
  segmentName,
  tsBefore,
  tsToMs,
} from './segment.js'
import type { Block, Ts } from './segment.js'

export interface PcapRingOptions {
  /** Bound on the total size of all segment and index files (`--ring-size`). */
  maxBytes: number
  /** Rotation size of one segment, its index included. Default min(64 MiB, maxBytes / 8). */
  segmentBytes?: number
  /** Also rotate when a segment spans this much capture time (ms). Default: size only. */
  segmentMs?: number
  /** LINKTYPE_* of every batch (the capture interface's). */
  linkType: number
  /** Packets per index block. Default 1024. */
  indexEvery?: number
  /** Bound on batches waiting for the disk, in bytes. Default min(64 MiB, max(1 MiB, maxBytes / 4)). */
  maxQueueBytes?: number
}

export interface RingStats {
  /** Oldest / newest packet time held (Unix ms, fractional); undefined when the ring is empty. */
  oldestTs: number | undefined
  newestTs: number | undefined
  /** Bytes on disk (segments + indexes) and the bound. */
  bytes: number
  maxBytes: number
  /** Packets on disk (complete writes only). */
  packets: number
  segments: number
  /** Write-behind queue. */
  queuedBatches: number
  queuedBytes: number
  /** Since open: packets accepted by append, written, and dropped (queue full or write error). */
  appendedPackets: number
  writtenPackets: number
  droppedBatches: number
  droppedPackets: number
  /** Since open: failed disk writes and the last one's message (e.g. ENOSPC). */
  writeErrors: number
  lastError: string | undefined
  /** Since open: segments deleted to stay within maxBytes. */
  evictedSegments: number
}

/** What `open` found and fixed on disk. */
export interface RingRecovery {
  /** Segments kept. */
  segments: number
  /** Segments whose index was missing, unfinished or inconsistent, rebuilt from the pcap bytes. */
  rebuiltIndexes: number
  /** Bytes cut from torn segment tails. */
  truncatedBytes: number
  /** Files deleted: unreadable segments, orphan indexes, segments of another link type. */
  removed: string[]
}

export type RecordFilter = (r: CaptureRecord) => boolean

export interface WriteSliceOptions {
  filter?: RecordFilter
  /** End a stream sink when done (default true, as PcapWriter.close). File descriptors stay open. */
  end?: boolean
}

export interface SliceResult {
  packets: number
  /** Bytes written to the sink, pcap header included. */
  bytes: number
  /** SHA-256 of those bytes, hex. */
  sha256: string
}

const DEFAULT_INDEX_EVERY = 1024
const MIN_SEGMENT_BYTES = 4096
const READ_CHUNK = 1024 * 1024
/** Rotate rather than write a record this far before the segment's first (repair would cut it). */
const MAX_BACKWARD_SEC = 3000

interface Segment {
  seq: number
  path: string
  idxPath: string
  first: Ts
  /** Bytes of complete records on disk (header included): what readers may read. */
  pcapBytes: number
  idxBytes: number
  /** Packets in those bytes. */
  packets: number
  min: Ts | undefined
  max: Ts | undefined
  /** Completed blocks (the live segment's last, partial block is `acc.open`). */
  blocks: Block[]
  /** Live segment only. */
  acc?: BlockAccumulator
  fh?: FileHandle
  idxFh?: FileHandle
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let off = 0
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off)
    off += bytesWritten
  }
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function widen(seg: Segment, min: Ts, max: Ts): void {
  if (seg.min === undefined || tsBefore(min.sec, min.nsec, seg.min.sec, seg.min.nsec)) seg.min = min
  if (seg.max === undefined || tsBefore(seg.max.sec, seg.max.nsec, max.sec, max.nsec)) seg.max = max
}

/** Recovers one segment found on disk; undefined when it holds nothing usable (then deleted). */
async function recoverSegment(
  dir: string,
  name: string,
  linkType: number,
  every: number,
  rec: RingRecovery
): Promise<Segment | undefined> {
  const parsed = parseSegmentName(name)!
  const path = joinPath(dir, name)
  const idxPath = indexPathOf(path)
  const size = (await stat(path)).size
  const idx = await loadFinalIndex(idxPath)
  if (idx !== undefined && idx.summary.pcapBytes === size && idx.summary.packets > 0) {
    if (idx.linkType !== linkType) {
      await Promise.all([unlinkQuiet(path), unlinkQuiet(idxPath)])
      rec.removed.push(name)
      return undefined
    }
    return {
      seq: parsed.seq,
      path,
      idxPath,
      first: parsed.first,
      pcapBytes: size,
      idxBytes: idx.bytes,
      packets: idx.summary.packets,
      min: idx.summary.min,
      max: idx.summary.max,
      blocks: idx.blocks,
    }
  }
  // The segment was live when the agent stopped (or its index is damaged): trust only the pcap.
  const scan = await scanSegment(path, parsed.first, every)
  if (!scan.headerOk || scan.packets === 0 || scan.linkType !== linkType) {
    await Promise.all([unlinkQuiet(path), unlinkQuiet(idxPath)])
    rec.removed.push(name)
    return undefined
  }
  if (scan.goodBytes < scan.fileBytes) {
    await truncate(path, scan.goodBytes)
    rec.truncatedBytes += scan.fileBytes - scan.goodBytes
  }
  const header = encodeIndexHeader(linkType, every, {
    pcapBytes: scan.goodBytes,
    packets: scan.packets,
    min: scan.min!,
    max: scan.max!,
  })
  const body = concat(header, encodeIndexEntries(scan.blocks))
  await writeFile(idxPath, body)
  rec.rebuiltIndexes++
  return {
    seq: parsed.seq,
    path,
    idxPath,
    first: parsed.first,
    pcapBytes: scan.goodBytes,
    idxBytes: body.length,
    packets: scan.packets,
    min: scan.min,
    max: scan.max,
    blocks: scan.blocks,
  }
}

/** What one slice reads of one segment, fixed when the slice reaches it. */
interface SegmentPlan {
  path: string
  ranges: [number, number][]
}

export class PcapRing {
  readonly dir: string
  readonly linkType: number
  readonly maxBytes: number
  readonly segmentBytes: number
  readonly segmentMs: number | undefined
  readonly indexEvery: number
  readonly maxQueueBytes: number
  /** Snap length of the segments: a record must fit in an empty segment. */
  readonly snapLen: number
  /** What open() found and repaired. */
  readonly recovery: RingRecovery

  readonly #segs: Segment[]
  #cur: Segment | undefined
  #nextSeq: number
  #total: number
  #queue: ArrayBuffer[] = []
  #queuedBytes = 0
  #pump: Promise<void> | undefined
  #closed = false
  #appendedPackets = 0
  #writtenPackets = 0
  #droppedBatches = 0
  #droppedPackets = 0
  #writeErrors = 0
  #lastError: string | undefined
  #evicted = 0

  private constructor(
    dir: string,
    opts: Required<Omit<PcapRingOptions, 'segmentMs'>> & { segmentMs: number | undefined },
    segs: Segment[],
    recovery: RingRecovery
  ) {
    this.dir = dir
    this.linkType = opts.linkType
    this.maxBytes = opts.maxBytes
    this.segmentBytes = opts.segmentBytes
    this.segmentMs = opts.segmentMs
    this.indexEvery = opts.indexEvery
    this.maxQueueBytes = opts.maxQueueBytes
    // An empty segment must take any record: header, one record, index header and two entries.
    this.snapLen = Math.min(
      MAX_CAPLEN,
      opts.segmentBytes -
        PCAP_FILE_HEADER_SIZE -
        PCAP_RECORD_HEADER_SIZE -
        IDX_HEADER_SIZE -
        2 * IDX_ENTRY_SIZE
    )
    this.#segs = segs
    this.#nextSeq = segs.reduce((m, s) => Math.max(m, s.seq + 1), 0)
    this.#total = segs.reduce((t, s) => t + s.pcapBytes + s.idxBytes, 0)
    this.recovery = recovery
  }

  /**
   * Opens (creating it if needed) the ring in `dir`. Existing segments are kept: finalised ones by
   * their index, the one live at a crash re-scanned, its torn tail cut and index rebuilt. Appends go
   * to a new segment. If the ring is over `maxBytes` (the bound was lowered) the oldest go now.
   */
  static async open(dir: string, options: PcapRingOptions): Promise<PcapRing> {
    const { maxBytes, linkType } = options
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= MIN_SEGMENT_BYTES)) {
      throw new PcapRingError(
        'PCAP_RING_OPTIONS',
        `maxBytes must be an integer >= ${MIN_SEGMENT_BYTES}`
      )
    }
    const segmentBytes =
      options.segmentBytes ??
      Math.max(MIN_SEGMENT_BYTES, Math.min(64 << 20, Math.floor(maxBytes / 8)))
    if (!(
      Number.isSafeInteger(segmentBytes) &&
      segmentBytes >= MIN_SEGMENT_BYTES &&
      segmentBytes <= maxBytes
    )) {
      throw new PcapRingError(
        'PCAP_RING_OPTIONS',
        `segmentBytes must be an integer in [${MIN_SEGMENT_BYTES}, maxBytes]`
      )
    }
    const indexEvery = options.indexEvery ?? DEFAULT_INDEX_EVERY
    if (!(Number.isInteger(indexEvery) && indexEvery >= 1)) {
      throw new PcapRingError('PCAP_RING_OPTIONS', 'indexEvery must be a positive integer')
    }
    if (!(Number.isInteger(linkType) && linkType >= 0 && linkType <= 0xffff)) {
      throw new PcapRingError('PCAP_RING_OPTIONS', `bad link type ${linkType}`)
    }
    const maxQueueBytes =
      options.maxQueueBytes ?? Math.min(64 << 20, Math.max(1 << 20, Math.floor(maxBytes / 4)))
    await mkdir(dir, { recursive: true })
    const names = (await readdir(dir)).sort()
    const recovery: RingRecovery = {
      segments: 0,
      rebuiltIndexes: 0,
      truncatedBytes: 0,
      removed: [],
    }
    const pcaps = new Set(names.filter((n) => parseSegmentName(n) !== undefined))
    for (const n of names) {
      if (isIndexName(n) && !pcaps.has(`${n.slice(0, -'.idx'.length)}.pcap`)) {
        await unlinkQuiet(joinPath(dir, n))
        recovery.removed.push(n)
      }
    }
    const segs: Segment[] = []
    // Names sort by sequence (fixed width), which is write order.
    for (const n of [...pcaps].sort()) {
      const seg = await recoverSegment(dir, n, linkType, indexEvery, recovery)
      if (seg !== undefined) segs.push(seg)
    }
    recovery.segments = segs.length
    const ring = new PcapRing(
      dir,
      { maxBytes, segmentBytes, segmentMs: options.segmentMs, linkType, indexEvery, maxQueueBytes },
      segs,
      recovery
    )
    await ring.#ensureRoom(0)
    return ring
  }

  /**
   * Takes a capture batch. Synchronous and cheap: checks the batch header, copies the buffer (the
   * caller transfers it afterwards) into the write-behind queue, or drops and counts it when the
   * queue is full. Throws on a malformed batch or another link type: those are programming errors.
   */
  append(batch: ArrayBuffer): void {
    if (this.#closed) throw new PcapRingError('PCAP_RING_CLOSED', 'the pcap ring is closed')
    const { linkType, count } = readBatchInfo(batch)
    if (linkType !== this.linkType) {
      throw new PcapRingError(
        'PCAP_RING_LINK_TYPE',
        `batch link type ${linkType}, ring ${this.linkType}`
      )
    }
    if (count === 0) return
    this.#appendedPackets += count
    if (this.#queuedBytes + batch.byteLength > this.maxQueueBytes) {
      this.#droppedBatches++
      this.#droppedPackets += count
      return
    }
    this.#queue.push(batch.slice(0))
    this.#queuedBytes += batch.byteLength
    // setImmediate, not a microtask: the conversion must not run before the capture callback's
    // caller gets the loop back.
    this.#pump ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain())
  }

  stats(): RingStats {
    let oldest: Ts | undefined
    let newest: Ts | undefined
    let packets = 0
    for (const s of this.#segs) {
      packets += s.packets
      if (
        s.min !== undefined &&
        (oldest === undefined || tsBefore(s.min.sec, s.min.nsec, oldest.sec, oldest.nsec))
      )
        oldest = s.min
      if (
        s.max !== undefined &&
        (newest === undefined || tsBefore(newest.sec, newest.nsec, s.max.sec, s.max.nsec))
      )
        newest = s.max
    }
    return {
      oldestTs: oldest === undefined ? undefined : tsToMs(oldest.sec, oldest.nsec),
      newestTs: newest === undefined ? undefined : tsToMs(newest.sec, newest.nsec),
      bytes: this.#total,
      maxBytes: this.maxBytes,
      packets,
      segments: this.#segs.length,
      queuedBatches: this.#queue.length,
      queuedBytes: this.#queuedBytes,
      appendedPackets: this.#appendedPackets,
      writtenPackets: this.#writtenPackets,
      droppedBatches: this.#droppedBatches,
      droppedPackets: this.#droppedPackets,
      writeErrors: this.#writeErrors,
      lastError: this.#lastError,
      evictedSegments: this.#evicted,
    }
  }

  /** Resolves when everything appended so far is on disk (or dropped and counted). */
  async flush(): Promise<void> {
    while (this.#pump !== undefined) await this.#pump
  }

  /** Flushes, finalises the live segment's index and releases the files. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await this.flush()
    const cur = this.#cur
    this.#cur = undefined
    if (cur !== undefined) await this.#finalize(cur)
  }

  /**
   * Records with start <= ts <= end (Unix ms), read from disk in file order, which is capture
   * order: time order up to the jitter between CPUs stamping packets (the ring does not reorder).
   */
  async *slice(
    startMs: number,
    endMs: number,
    filter?: RecordFilter
  ): AsyncGenerator<CaptureRecord, void, undefined> {
    for await (const batch of this.sliceBatches(startMs, endMs, filter)) yield* batch
  }

  /** Like `slice`, one array per disk read (faster for bulk consumers). */
  async *sliceBatches(
    startMs: number,
    endMs: number,
    filter?: RecordFilter
  ): AsyncGenerator<CaptureRecord[], void, undefined> {
    const lo = msToTs(startMs)
    const hi = msToTs(endMs)
    if (tsBefore(hi.sec, hi.nsec, lo.sec, lo.nsec)) return
    // Fix the segment list now; each segment's read limit is fixed when the slice reaches it.
    const segs = this.#segs.filter(
      (s) =>
        s.min !== undefined &&
        s.max !== undefined &&
        !tsBefore(s.max.sec, s.max.nsec, lo.sec, lo.nsec) &&
        !tsBefore(hi.sec, hi.nsec, s.min.sec, s.min.nsec)
    )
    for (const seg of segs) {
      const plan = this.#plan(seg, lo, hi)
      if (plan.ranges.length === 0) continue
      yield* this.#readPlan(plan, lo, hi, filter)
    }
  }

  /**
   * Streams a slice as one classic pcap (ns resolution, the ring's link type and snap length) into
   * `sink`, hashing on the way: memory stays at a read chunk plus a write buffer whatever the size.
   */
  async writeSlice(
    startMs: number,
    endMs: number,
    sink: ByteSink,
    options: WriteSliceOptions = {}
  ): Promise<SliceResult> {
    const hash = createHash('sha256')
    let bytes = 0
    const tee: WritableLike = {
      write: (chunk: Uint8Array) => {
        hash.update(chunk)
        bytes += chunk.length
        return writeChunk(sink, chunk)
      },
      end: () => endSink(sink),
    }
    const w = new PcapWriter(tee, {
      linkType: this.linkType,
      resolution: 'ns',
      snapLen: this.snapLen,
    })
    let packets = 0
    for await (const batch of this.sliceBatches(startMs, endMs, options.filter)) {
      for (const r of batch) {
        const p = w.write(r)
        if (p !== RESOLVED) await p
      }
      packets += batch.length
    }
    await w.close({ end: options.end ?? true })
    return { packets, bytes, sha256: hash.digest('hex') }
  }

  // --- reading -------------------------------------------------------------------------------------

  #plan(seg: Segment, lo: Ts, hi: Ts): SegmentPlan {
    const limit = seg.pcapBytes
    const blocks = seg.acc?.open !== undefined ? [...seg.blocks, { ...seg.acc.open }] : seg.blocks
    const ranges: [number, number][] = []
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!
      if (b.offset >= limit) break
      if (
        tsBefore(b.maxSec, b.maxNsec, lo.sec, lo.nsec) ||
        tsBefore(hi.sec, hi.nsec, b.minSec, b.minNsec)
      )
        continue
      const end = Math.min(limit, blocks[i + 1]?.offset ?? limit)
      const last = ranges[ranges.length - 1]
      if (last !== undefined && last[1] === b.offset) last[1] = end
      else ranges.push([b.offset, end])
    }
    return { path: seg.path, ranges }
  }

  async *#readPlan(
    plan: SegmentPlan,
    lo: Ts,
    hi: Ts,
    filter: RecordFilter | undefined
  ): AsyncGenerator<CaptureRecord[], void, undefined> {
    let fh: FileHandle
    try {
      fh = await open(plan.path, 'r')
    } catch (err) {
      // Evicted before we got to it: it is older than anything still held, so nothing is lost.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    try {
      const parser = new PcapParser()
      const head = new Uint8Array(PCAP_FILE_HEADER_SIZE)
      await fh.read(head, 0, PCAP_FILE_HEADER_SIZE, 0)
      parser.parse(head, new DataView(head.buffer), 0, PCAP_FILE_HEADER_SIZE, 0, [])
      for (const [start, end] of plan.ranges) {
        let pos = start
        let carry: Uint8Array | undefined
        while (pos < end) {
          const carried = carry?.length ?? 0
          const want = Math.min(READ_CHUNK, end - pos)
          // A fresh buffer per read: records handed out are views into it.
          const buf = new Uint8Array(carried + want)
          if (carry !== undefined) buf.set(carry)
          const { bytesRead } = await fh.read(buf, carried, want, pos)
          if (bytesRead === 0) break
          pos += bytesRead
          const n = carried + bytesRead
          const out: CaptureRecord[] = []
          const used = parser.parse(buf, new DataView(buf.buffer, 0, n), 0, n, pos - n, out)
          carry = used < n ? buf.slice(used, n) : undefined
          const keep: CaptureRecord[] = []
          for (const r of out) {
            if (
              tsBefore(r.tsSec, r.tsNsec, lo.sec, lo.nsec) ||
              tsBefore(hi.sec, hi.nsec, r.tsSec, r.tsNsec)
            )
              continue
            if (filter !== undefined && !filter(r)) continue
            keep.push(r)
          }
          if (keep.length > 0) yield keep
        }
      }
    } finally {
      await fh.close()
    }
  }

  // --- writing -------------------------------------------------------------------------------------

  async #drain(): Promise<void> {
    try {
      for (;;) {
        const batch = this.#queue.shift()
        if (batch === undefined) break
        this.#queuedBytes -= batch.byteLength
        await this.#writeBatch(batch)
      }
    } finally {
      this.#pump = undefined
    }
  }

  async #writeBatch(batch: ArrayBuffer): Promise<void> {
    const v = new DataView(batch)
    const src = new Uint8Array(batch)
    const count = v.getUint32(8, true)
    let i = 0
    let o = BATCH_HEADER_SIZE
    try {
      while (i < count) {
        const sec0 = v.getUint32(o, true)
        const nsec0 = v.getUint32(o + 4, true)
        if (this.#cur === undefined) this.#cur = await this.#startSegment(sec0, nsec0)
        const seg = this.#cur
        const acc = seg.acc!
        // pcap records (16-byte header, no padding) are never longer than batch records (20, padded).
        const out = new Uint8Array(batch.byteLength - o)
        const ov = new DataView(out.buffer)
        const newBlocks: Block[] = []
        let pos = 0
        let n = 0
        let min: Ts | undefined
        let max: Ts | undefined
        let rotate = false
        while (i < count) {
          const sec = v.getUint32(o, true)
          let nsec = v.getUint32(o + 4, true)
          const capLen = v.getUint32(o + 8, true)
          const origLen = v.getUint32(o + 12, true)
          const empty = seg.packets === 0 && pos === 0
          const cut = Math.min(capLen, this.snapLen)
          const size = PCAP_RECORD_HEADER_SIZE + cut
          if (!empty) {
            const idxAfter = seg.idxBytes + (newBlocks.length + 2) * IDX_ENTRY_SIZE
            if (
              seg.pcapBytes + pos + size + idxAfter > this.segmentBytes ||
              sec < seg.first.sec - MAX_BACKWARD_SEC ||
              (this.segmentMs !== undefined &&
                tsToMs(sec, nsec) - tsToMs(seg.first.sec, seg.first.nsec) >= this.segmentMs)
            ) {
              rotate = true
              break
            }
          }
          const s = o + RECORD_HEADER_SIZE
          if (s + capLen > batch.byteLength)
            throw new PcapRingError('PCAP_RING_OPTIONS', `batch record ${i} past the end`)
          if (nsec >= 1e9) nsec = 999_999_999
          ov.setUint32(pos, sec, true)
          ov.setUint32(pos + 4, nsec, true)
          ov.setUint32(pos + 8, cut, true)
          ov.setUint32(pos + 12, Math.max(origLen, cut), true)
          out.set(src.subarray(s, s + cut), pos + PCAP_RECORD_HEADER_SIZE)
          const done = acc.add(seg.pcapBytes + pos, sec, nsec)
          if (done !== undefined) newBlocks.push(done)
          if (min === undefined || tsBefore(sec, nsec, min.sec, min.nsec)) min = { sec, nsec }
          if (max === undefined || tsBefore(max.sec, max.nsec, sec, nsec)) max = { sec, nsec }
          pos += size
          n++
          i++
          o = s + ((capLen + 3) & ~3)
        }
        if (n > 0) await this.#commit(seg, out.subarray(0, pos), newBlocks, n, min!, max!)
        if (rotate) {
          this.#cur = undefined
          await this.#finalize(seg)
        }
      }
    } catch (err) {
      this.#writeErrors++
      this.#lastError = err instanceof Error ? err.message : String(err)
      this.#droppedPackets += count - i
      await this.#abandonLive()
    }
  }

  async #commit(
    seg: Segment,
    chunk: Uint8Array,
    newBlocks: Block[],
    n: number,
    min: Ts,
    max: Ts
  ): Promise<void> {
    const idx = newBlocks.length > 0 ? encodeIndexEntries(newBlocks) : undefined
    await this.#ensureRoom(chunk.length + (idx?.length ?? 0))
    await writeAll(seg.fh!, chunk, seg.pcapBytes)
    seg.pcapBytes += chunk.length
    seg.packets += n
    this.#total += chunk.length
    this.#writtenPackets += n
    widen(seg, min, max)
    seg.blocks.push(...newBlocks)
    if (idx !== undefined) {
      await writeAll(seg.idxFh!, idx, seg.idxBytes)
      seg.idxBytes += idx.length
      this.#total += idx.length
    }
  }

  async #startSegment(sec: number, nsec: number): Promise<Segment> {
    await this.#ensureRoom(PCAP_FILE_HEADER_SIZE + IDX_HEADER_SIZE)
    const seq = this.#nextSeq++
    const path = joinPath(this.dir, segmentName(seq, sec, nsec))
    const idxPath = indexPathOf(path)
    const head = new Uint8Array(PCAP_FILE_HEADER_SIZE)
    encodePcapHeader(new DataView(head.buffer), 0, this.linkType, 'ns', this.snapLen)
    const fh = await open(path, 'w')
    const seg: Segment = {
      seq,
      path,
      idxPath,
      first: { sec, nsec },
      pcapBytes: 0,
      idxBytes: 0,
      packets: 0,
      min: undefined,
      max: undefined,
      blocks: [],
      acc: new BlockAccumulator(this.indexEvery),
      fh,
    }
    this.#segs.push(seg)
    try {
      await writeAll(fh, head, 0)
      seg.pcapBytes = head.length
      this.#total += head.length
      seg.idxFh = await open(idxPath, 'w')
      const ih = encodeIndexHeader(this.linkType, this.indexEvery, undefined)
      await writeAll(seg.idxFh, ih, 0)
      seg.idxBytes = ih.length
      this.#total += ih.length
    } catch (err) {
      // E.g. ENOSPC: leave no half-made segment behind; the caller counts the batch as dropped.
      await fh.close().catch(() => undefined)
      await seg.idxFh?.close().catch(() => undefined)
      await this.#remove(seg).catch(() => undefined)
      throw err
    }
    return seg
  }

  /** Writes the last partial block and the final index header, syncs, closes. */
  async #finalize(seg: Segment): Promise<void> {
    try {
      const last = seg.acc?.open
      if (last !== undefined && last.offset < seg.pcapBytes) {
        const entry = encodeIndexEntries([last])
        await this.#ensureRoom(entry.length)
        await writeAll(seg.idxFh!, entry, seg.idxBytes)
        seg.idxBytes += entry.length
        this.#total += entry.length
        seg.blocks.push({ ...last })
      }
      seg.acc = undefined
      if (seg.packets > 0) {
        const header = encodeIndexHeader(this.linkType, this.indexEvery, {
          pcapBytes: seg.pcapBytes,
          packets: seg.packets,
          min: seg.min!,
          max: seg.max!,
        })
        // Data before the final flag: a final index must never describe bytes not on disk.
        await seg.fh!.datasync()
        await seg.idxFh!.datasync()
        await writeAll(seg.idxFh!, header, 0)
      }
    } finally {
      await seg.fh?.close()
      await seg.idxFh?.close()
      seg.fh = undefined
      seg.idxFh = undefined
    }
    if (seg.packets === 0) await this.#remove(seg)
  }

  /**
   * After a failed write the live segment's bytes and index may disagree with memory: close it and
   * recover it from disk exactly as open() would after a crash, then go on in a new segment.
   */
  async #abandonLive(): Promise<void> {
    const seg = this.#cur
    this.#cur = undefined
    if (seg === undefined) return
    await seg.fh?.close().catch(() => undefined)
    await seg.idxFh?.close().catch(() => undefined)
    const i = this.#segs.indexOf(seg)
    const name = seg.path.slice(this.dir.length + 1)
    let fixed: Segment | undefined
    try {
      fixed = await recoverSegment(this.dir, name, this.linkType, this.indexEvery, {
        segments: 0,
        rebuiltIndexes: 0,
        truncatedBytes: 0,
        removed: [],
      })
    } catch {
      fixed = undefined
      await Promise.all([unlinkQuiet(seg.path), unlinkQuiet(seg.idxPath)]).catch(() => undefined)
    }
    if (i >= 0) {
      if (fixed !== undefined) this.#segs[i] = fixed
      else this.#segs.splice(i, 1)
    }
    this.#total = this.#segs.reduce((t, s) => t + s.pcapBytes + s.idxBytes, 0)
  }

  /** Deletes oldest closed segments until `bytes` more fit under maxBytes. */
  async #ensureRoom(bytes: number): Promise<void> {
    while (this.#total + bytes > this.maxBytes) {
      const oldest = this.#segs[0]
      if (oldest === undefined || oldest === this.#cur) return
      await this.#remove(oldest)
      this.#evicted++
    }
  }

  async #remove(seg: Segment): Promise<void> {
    const i = this.#segs.indexOf(seg)
    if (i >= 0) this.#segs.splice(i, 1)
    // Unlink before un-counting: the bound holds for what is on disk, not for what we intend.
    await Promise.all([unlinkQuiet(seg.path), unlinkQuiet(seg.idxPath)])
    this.#total -= seg.pcapBytes + seg.idxBytes
  }
}
