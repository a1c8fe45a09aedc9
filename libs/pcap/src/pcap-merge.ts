/**
 * The merged export's engine: classic pcap byte streams (draft-ietf-opsawg-pcap) merged by capture
 * time straight into output pieces, without a record object per packet. Each source is a cursor
 * over its current read buffer holding the current record's offset, length and time as plain
 * numbers; a binary min-heap of cursors picks the earliest; the record's bytes are copied as they
 * are into a large output piece (classic pcap → little-endian classic pcap of the same resolution
 * needs no re-encoding), or framed as a pcapng Enhanced Packet Block. Output pieces are pulled
 * (`read()`), so the consumer's pace is the backpressure and memory is two read buffers per source
 * plus a few output pieces (those the consumer gives back are reused), whatever the capture size.
 *
 * Memory layout: the reused output pieces and the read buffers of the sources that let the merge
 * place them (`ByteChunks.adopt`, e.g. fileChunks) share one memory (the arena, arena.ts), so a
 * record moves from its read buffer to the output with one memmove call and no allocation. Runs of
 * records from one source that still sort first move as one copy (Cursor.runEnd): on the export
 * bench's finely interleaved nodes a copy carries 1.5 records on average (1.55M records, 1.03M
 * copies; about even with the run check's cost), on bursty captures (a node's packets in runs of
 * ~10) the merge's CPU time fell by about a third.
 *
 * The merge kernel (merge-kernel.ts): when every source's records go out as they are and its read
 * buffers are in the arena (file sources, classic pcap out), the loop itself — header parse, heap,
 * copy — runs in WebAssembly over the arena, and this file's loop only reads on and emits the
 * records that straddle two read pieces. The merge's CPU time on the export bench fell by a
 * quarter (0.15 → 0.11 s per export on the main thread); most of what is left is the copy.
 *
 * Order is mergecap's: every source is assumed to be in time order already; a cross-source tie
 * goes to the first source (`ties: 'first'`, a stable merge) or to the last one (`'last'`,
 * what Wireshark 4.0's merge.c does), each source keeping its own order.
 */
import { newArena } from './arena.js'
import type { Arena } from './arena.js'
import type { ByteChunks } from './byte-chunks.js'
import {
  PcapBadBlockError,
  PcapBadMagicError,
  PcapBadRecordError,
  PcapTruncatedError,
  PcapUnsupportedError,
} from './errors.js'
import { MAX_CAPLEN } from './limits.js'
import { KERNEL_FULL, KERNEL_READ_ON, MergeKernel } from './merge-kernel.js'
import type { KernelSource } from './merge-kernel.js'
import {
  PCAP_FILE_HEADER_SIZE,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_SIZE,
} from './pcap-reader.js'
import { encodePcapHeader } from './pcap-writer.js'
import type { PcapResolution } from './pcap-writer.js'
import { BT_EPB } from './pcapng-reader.js'
import { idbBytes, shbBytes } from './pcapng-writer.js'
import { nsToHiLo } from './timestamp.js'

export interface PcapMergeOptions {
  /** Output format; default classic pcap. pcapng gets one interface (IDB) per source. */
  format?: 'pcap' | 'pcapng'
  /** Classic pcap output resolution; default 'ns' (µs truncates, as `mergecap -F pcap` does). */
  resolution?: PcapResolution
  /** Which source wins a timestamp tie; default 'first'. */
  ties?: 'first' | 'last'
  /** Keep records with startMs <= time <= endMs (Unix ms); either bound may be left out. */
  startMs?: number | undefined
  endMs?: number | undefined
  /** Per-packet filter over the link-layer bytes (e.g. a connection set); called after the time one. */
  keep?: ((data: Uint8Array, source: number) => boolean) | undefined
  /** pcapng if_name / if_description per source. */
  interfaces?: { name?: string; description?: string }[]
  /** Output snap length; default the largest of the inputs'. */
  snapLen?: number
  /** Size of each output piece; default 512 KiB (never below one maximal record). */
  pieceBytes?: number
  /**
   * Output pieces kept in the arena for reuse through release(); default 4. A consumer that keeps
   * every piece (and never releases one) wants 0: each piece is then fresh memory.
   */
  reusedPieces?: number
}

export interface PcapSourceHeader {
  linkType: number
  snapLen: number
  resolution: PcapResolution
  byteOrder: 'little' | 'big'
}

const EMPTY = new Uint8Array(0)
const EMPTY_VIEW = new DataView(EMPTY.buffer)
const EPB_OVERHEAD = 32
const DEFAULT_PIECE = 512 << 10
const DEFAULT_REUSED = 4
const hiLo = new Float64Array(2)

/** One input: its current read piece and its current record (offset, length, time) as numbers. */
class Cursor implements KernelSource {
  readonly src: number
  readonly #chunks: ByteChunks
  /** The merge's arena: pieces inside it are addressed by arena offsets. */
  readonly #arena: Arena
  /** The current piece is #buf[#start, #end); #pos is the next unread byte. */
  #buf: Uint8Array = EMPTY
  #view: DataView = EMPTY_VIEW
  #start = 0
  #pos = 0
  #end = 0
  /** Input offset of #buf[#start] (for error offsets). */
  #fileOff = 0
  /** Where a record that straddles two pieces is assembled. */
  #scratch: Uint8Array = new Uint8Array(4096)
  #scratchView = new DataView(this.#scratch.buffer)
  /** Records can be copied as they are (little-endian, the output's unit): set by the merge. */
  verbatim = false
  /** Verbatim and unfiltered: consecutive records may be copied as one run (see runEnd). */
  runs = false
  le = true
  fracToNs = 1
  header: PcapSourceHeader | undefined
  /**
   * The current record: bytes rb[ro, ro + rl) (in the piece, or in scratch when it straddled two
   * pieces: `inPiece` false), its time and original length.
   */
  rb: Uint8Array = EMPTY
  ro = 0
  rl = 0
  inPiece = false
  sec = 0
  nsec = 0
  origLen = 0
  /** Records runEnd() added after the current one. */
  runCount = 0
  /** Bytes of a record cut short by the end of the input (dropped). */
  truncatedBytes = 0
  /** Filters, set by the merge. */
  lo = -Infinity
  hi = Infinity
  keep: ((data: Uint8Array, source: number) => boolean) | undefined
  #filtered = false

  constructor(src: number, chunks: ByteChunks, arena: Arena) {
    this.src = src
    this.#chunks = chunks
    this.#arena = arena
  }

  get filtered(): boolean {
    return this.#filtered
  }

  /** End of the current read piece (an arena offset when the piece is in the arena). */
  get pieceEnd(): number {
    return this.#end
  }

  /** The merge kernel moved on: the record at `ro`, `rl` bytes long, in the piece is current. */
  setCurrent(ro: number, rl: number): void {
    this.rb = this.#buf
    this.ro = ro
    this.rl = rl
    this.inPiece = true
    this.#pos = ro + rl
    this.#time(this.#view, ro)
  }

  /** The merge kernel emitted the current record; the next unread byte is at `pos`. */
  consumedTo(pos: number): void {
    this.#pos = pos
  }

  setFilters(
    lo: number | undefined,
    hi: number | undefined,
    keep: ((data: Uint8Array, source: number) => boolean) | undefined
  ): void {
    this.lo = lo ?? -Infinity
    this.hi = hi ?? Infinity
    this.keep = keep
    this.#filtered = lo !== undefined || hi !== undefined || keep !== undefined
  }

  #setPiece(piece: Uint8Array): void {
    this.#fileOff += this.#end - this.#start
    const arena = this.#arena.bytes
    if (piece.buffer === arena.buffer) {
      // In the arena: addressed through the arena's own views, so records move with arena.copy.
      this.#buf = arena
      this.#view = this.#arena.view
      this.#start = piece.byteOffset
    } else {
      // A plain Uint8Array view: subarray() of a Buffer goes through its species constructor, which
      // costs more than the copy of a small packet.
      this.#buf =
        piece.constructor === Uint8Array
          ? piece
          : new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength)
      this.#view = new DataView(piece.buffer, piece.byteOffset, piece.byteLength)
      this.#start = 0
    }
    this.#pos = this.#start
    this.#end = this.#start + piece.length
  }

  #grow(n: number): void {
    if (this.#scratch.length >= n) return
    const s = new Uint8Array(Math.max(n, this.#scratch.length * 2))
    s.set(this.#scratch)
    this.#scratch = s
    this.#scratchView = new DataView(s.buffer)
  }

  /**
   * Gathers `want(have)` bytes into scratch, starting with what is left of the current piece and
   * pulling pieces as needed; returns the bytes gathered (fewer at the end of the input).
   */
  async #gather(want: (have: number, view: DataView) => number): Promise<number> {
    const left = this.#end - this.#pos
    this.#grow(left)
    this.#scratch.set(this.#buf.subarray(this.#pos, this.#end))
    this.#pos = this.#end
    let have = left
    for (
      let need = want(have, this.#scratchView);
      have < need;
      need = want(have, this.#scratchView)
    ) {
      if (this.#pos === this.#end) {
        const piece = await this.#chunks.next()
        if (piece === null) return have
        this.#setPiece(piece)
      }
      const take = Math.min(this.#end - this.#pos, need - have)
      this.#grow(have + take)
      this.#scratch.set(this.#buf.subarray(this.#pos, this.#pos + take), have)
      have += take
      this.#pos += take
    }
    return have
  }

  /** Reads and checks the file header (§4). */
  async open(): Promise<PcapSourceHeader> {
    const have = await this.#gather(() => PCAP_FILE_HEADER_SIZE)
    if (have < PCAP_FILE_HEADER_SIZE) {
      throw new PcapTruncatedError(
        `input ${this.src}: ${have} bytes, shorter than a pcap header`,
        0
      )
    }
    const v = this.#scratchView
    const magic = v.getUint32(0, true)
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) this.le = true
    else if (v.getUint32(0, false) === PCAP_MAGIC_US || v.getUint32(0, false) === PCAP_MAGIC_NS)
      this.le = false
    else
      throw new PcapBadMagicError(
        `input ${this.src}: not a classic pcap file (magic 0x${v.getUint32(0, false).toString(16).padStart(8, '0')})`,
        0
      )
    const ns = v.getUint32(0, this.le) === PCAP_MAGIC_NS
    const major = v.getUint16(4, this.le)
    if (major !== 2)
      throw new PcapUnsupportedError(`input ${this.src}: pcap version ${major} is not supported`, 4)
    this.fracToNs = ns ? 1 : 1000
    this.header = {
      // §4: the low 16 bits are the link type; the rest carries FCS information we do not keep.
      linkType: v.getUint32(20, this.le) & 0xffff,
      snapLen: v.getUint32(16, this.le),
      resolution: ns ? 'ns' : 'us',
      byteOrder: this.le ? 'little' : 'big',
    }
    return this.header
  }

  /** Moves to the next kept record: true/false at once when the piece holds it, else a promise. */
  advance(): boolean | Promise<boolean> {
    return this.#scan() || this.#slow()
  }

  /** The next kept record wholly inside the current piece, if any. */
  #scan(): boolean {
    const buf = this.#buf
    const view = this.#view
    const le = this.le
    const end = this.#end
    let p = this.#pos
    // §5 Packet Record: ts_sec | ts_frac | captured length | original length | data (not padded).
    while (end - p >= PCAP_RECORD_HEADER_SIZE) {
      const capLen = view.getUint32(p + 8, le)
      if (capLen > MAX_CAPLEN) this.#badLength(capLen, this.#fileOff + (p - this.#start))
      const rl = PCAP_RECORD_HEADER_SIZE + capLen
      if (end - p < rl) break
      const ro = p
      p += rl
      this.#time(view, ro)
      if (this.#filtered && !this.#keeps(buf, ro, rl)) continue
      this.#pos = p
      this.rb = buf
      this.ro = ro
      this.rl = rl
      this.inPiece = true
      return true
    }
    this.#pos = p
    return false
  }

  /**
   * Run copying (verbatim — so little-endian — unfiltered cursors whose current record is in the
   * piece): how far the output may copy on from the current record, i.e. over the records right
   * after it in the piece that still sort before the runner-up, whose time is `sec`.`nsec`
   * (Infinity: no runner-up); on an equal time only when `tieWins`. At most `limit` bytes from
   * `ro` (the room left in the output piece). Moves past those records, counts them in runCount
   * and returns the run's end. A record that does not fit, straddles the piece or looks odd (a
   * fraction of a second or more, an impossible length) ends the run; the per-record path deals
   * with it.
   */
  runEnd(limit: number, sec: number, nsec: number, tieWins: boolean): number {
    const view = this.#view
    const f = this.fracToNs
    const end = Math.min(this.#end, this.ro + limit)
    let p = this.#pos
    let n = 0
    while (end - p >= PCAP_RECORD_HEADER_SIZE) {
      const rl = PCAP_RECORD_HEADER_SIZE + view.getUint32(p + 8, true)
      if (end - p < rl) break
      const s = view.getUint32(p, true)
      const ns = view.getUint32(p + 4, true) * f
      if (s > sec || ns >= 1e9) break
      if (s === sec && (ns > nsec || (ns === nsec && !tieWins))) break
      p += rl
      n++
    }
    this.#pos = p
    this.runCount = n
    return p
  }

  /** Sets sec, nsec and origLen from the record header at `o`. */
  #time(view: DataView, o: number): void {
    const le = this.le
    let sec = view.getUint32(o, le)
    let nsec = view.getUint32(o + 4, le) * this.fracToNs
    this.origLen = view.getUint32(o + 12, le)
    // The fraction should be below one second; carry rather than compare an impossible nanosecond.
    if (nsec >= 1e9) {
      sec += Math.floor(nsec / 1e9)
      nsec %= 1e9
    }
    this.sec = sec
    this.nsec = nsec
  }

  #keeps(buf: Uint8Array, ro: number, rl: number): boolean {
    if (this.lo !== -Infinity || this.hi !== Infinity) {
      const ms = this.sec * 1000 + this.nsec / 1e6
      if (ms < this.lo || ms > this.hi) return false
    }
    const keep = this.keep
    return keep === undefined || keep(buf.subarray(ro + PCAP_RECORD_HEADER_SIZE, ro + rl), this.src)
  }

  #badLength(capLen: number, at: number): never {
    throw new PcapBadBlockError(
      `input ${this.src}: pcap record captured length ${capLen} exceeds ${MAX_CAPLEN}`,
      at
    )
  }

  /** Pulls pieces until a kept record is current (false at the end of the input). */
  async #slow(): Promise<boolean> {
    for (;;) {
      if (this.#end - this.#pos === 0) {
        const piece = await this.#chunks.next()
        if (piece === null) return false
        this.#setPiece(piece)
      } else {
        // A record straddles two pieces: assemble it in scratch.
        const at = this.#fileOff + (this.#pos - this.#start)
        let rl = 0
        const have = await this.#gather((n, v) => {
          if (n < PCAP_RECORD_HEADER_SIZE) return PCAP_RECORD_HEADER_SIZE
          const capLen = v.getUint32(8, this.le)
          if (capLen > MAX_CAPLEN) this.#badLength(capLen, at)
          rl = PCAP_RECORD_HEADER_SIZE + capLen
          return rl
        })
        if (rl === 0 || have < rl) {
          this.truncatedBytes += have
          return false
        }
        this.#time(this.#scratchView, 0)
        if (!this.#filtered || this.#keeps(this.#scratch, 0, rl)) {
          this.rb = this.#scratch
          this.ro = 0
          this.rl = rl
          this.inPiece = false
          return true
        }
      }
      if (this.#scan()) return true
    }
  }

  close(): Promise<void> {
    this.#buf = EMPTY
    this.rb = EMPTY
    return this.#chunks.close()
  }
}

/**
 * Merges classic pcap sources into one capture, produced piece by piece: `read()` resolves with
 * the next piece of output (the file header is in the first), null at the end.
 */
export class PcapMerge implements AsyncIterable<Uint8Array> {
  readonly #cursors: Cursor[]
  readonly #o: PcapMergeOptions
  readonly #heap: Cursor[] = []
  readonly #tiesLast: boolean
  readonly #pcapng: boolean
  readonly #ns: boolean
  readonly #pieceBytes: number
  /** Reused output pieces (slots 0..n-1 of #pieceBytes), then the adopted read buffers. */
  readonly #arena: Arena
  readonly #slots: number
  /** Arena offsets of the output slots free for the next piece, and which slots are handed out. */
  readonly #freeSlots: number[] = []
  readonly #lent: (Uint8Array | undefined)[]
  /** Where the merge kernel's state goes, and the kernel once open() found every source fit for it. */
  #kernelAt: number | undefined
  #kernel: MergeKernel | undefined
  #opening: Promise<PcapSourceHeader[]> | undefined
  #prefix: Uint8Array | undefined
  #snapLen = 0
  #done = false
  #closed = false
  /** Packets and bytes produced so far. */
  packets = 0
  bytes = 0

  constructor(sources: ByteChunks[], options: PcapMergeOptions = {}) {
    this.#o = options
    this.#tiesLast = options.ties === 'last'
    this.#pcapng = options.format === 'pcapng'
    this.#ns = (options.resolution ?? 'ns') === 'ns'
    // One maximal record (pcapng framing included) always fits in a piece.
    this.#pieceBytes = Math.max(options.pieceBytes ?? DEFAULT_PIECE, MAX_CAPLEN + 64)
    this.#slots = Math.max(0, Math.floor(options.reusedPieces ?? DEFAULT_REUSED))
    const adopting = sources.map((s) =>
      s.adopt !== undefined && s.bufferBytes !== undefined ? s.bufferBytes : 0
    )
    const adopted = this.#slots * this.#pieceBytes + adopting.reduce((n, b) => n + b, 0)
    // The merge kernel's state follows, when every source reads into the arena (pcap output).
    const kernelAt = (adopted + 7) & ~7
    const kernel = !this.#pcapng && sources.length > 0 && adopting.every((n) => n > 0)
    this.#arena = newArena(kernel ? kernelAt + MergeKernel.bytes(sources.length) : adopted)
    for (let i = this.#slots - 1; i >= 0; i--) this.#freeSlots.push(i * this.#pieceBytes)
    this.#lent = new Array<Uint8Array | undefined>(this.#slots).fill(undefined)
    let at = this.#slots * this.#pieceBytes
    sources.forEach((s, i) => {
      const n = adopting[i]!
      if (n === 0) return
      s.adopt!(this.#arena.bytes.subarray(at, at + n))
      at += n
    })
    this.#cursors = sources.map((s, i) => new Cursor(i, s, this.#arena))
    if (kernel) this.#kernelAt = kernelAt
  }

  /** The arena's memory: the pieces read() hands out live in it (unless all its slots are out). */
  get memory(): ArrayBufferLike {
    return this.#arena.bytes.buffer
  }

  /** Reads every source's header (once); rejects on a bad or mismatched input. */
  open(): Promise<PcapSourceHeader[]> {
    this.#opening ??= this.#open()
    return this.#opening
  }

  async #open(): Promise<PcapSourceHeader[]> {
    const o = this.#o
    const headers = await Promise.all(this.#cursors.map((c) => c.open()))
    if (!this.#pcapng && new Set(headers.map((h) => h.linkType)).size > 1) {
      throw new PcapBadRecordError(
        `inputs have different link types (${headers.map((h) => h.linkType).join(', ')}); merge to pcapng`
      )
    }
    this.#snapLen = o.snapLen ?? Math.max(...headers.map((h) => h.snapLen), 0)
    if (this.#pcapng) {
      const blocks = [
        shbBytes('tapwire'),
        ...headers.map((h, i) =>
          idbBytes({ linkType: h.linkType, snapLen: this.#snapLen, ...o.interfaces?.[i] })
        ),
      ]
      this.#prefix = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0))
      let at = 0
      for (const b of blocks) {
        this.#prefix.set(b, at)
        at += b.length
      }
    } else {
      this.#prefix = new Uint8Array(PCAP_FILE_HEADER_SIZE)
      encodePcapHeader(
        new DataView(this.#prefix.buffer),
        0,
        headers[0]?.linkType ?? 1,
        this.#ns ? 'ns' : 'us',
        this.#snapLen
      )
    }
    for (const c of this.#cursors) {
      c.setFilters(o.startMs, o.endMs, o.keep)
      // The record header is already what we write: little-endian, the output's unit.
      c.verbatim = !this.#pcapng && c.le && (c.fracToNs === 1) === this.#ns
      c.runs = c.verbatim && !c.filtered
      if (await c.advance()) this.#push(c)
    }
    if (this.#kernelAt !== undefined && this.#cursors.every((c) => c.runs))
      this.#kernel = new MergeKernel(
        this.#arena,
        this.#kernelAt,
        this.#cursors.length,
        this.#tiesLast
      )
    return headers
  }

  /** Records whose input ended inside them (dropped), summed over the sources. */
  get truncatedBytes(): number {
    return this.#cursors.reduce((n, c) => n + c.truncatedBytes, 0)
  }

  #before(a: Cursor, b: Cursor): boolean {
    if (a.sec !== b.sec) return a.sec < b.sec
    if (a.nsec !== b.nsec) return a.nsec < b.nsec
    return this.#tiesLast ? a.src > b.src : a.src < b.src
  }

  #push(c: Cursor): void {
    const a = this.#heap
    let i = a.length
    a.push(c)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = a[parent]!
      if (!this.#before(c, p)) break
      a[i] = p
      i = parent
    }
    a[i] = c
  }

  /** The top advanced (`remove` false) or ran out (`remove` true): restore the heap. */
  #fixTop(remove: boolean): void {
    const a = this.#heap
    let h = a[0]!
    if (remove) {
      const last = a.pop()!
      if (a.length === 0) return
      h = last
    }
    const n = a.length
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.#before(a[r]!, a[l]!) ? r : l
      const child = a[c]!
      if (!this.#before(child, h)) break
      a[i] = child
      i = c
    }
    a[i] = h
  }

  /**
   * Copies the top record, and the run of records after it that still sort first (see
   * Cursor.runEnd), into `out` at `o` (`cap` is the end of the piece); returns the end offset.
   */
  #emitPcap(c: Cursor, out: Uint8Array, view: DataView, o: number, cap: number): number {
    let end = c.ro + c.rl
    if (c.runs && c.inPiece) {
      const heap = this.#heap
      let sec = Infinity
      let nsec = 0
      let tieWins = true
      if (heap.length > 1) {
        // The runner-up: the earlier of the top's children.
        let s = heap[1]!
        const r = heap[2]
        if (r !== undefined && this.#before(r, s)) s = r
        sec = s.sec
        nsec = s.nsec
        tieWins = this.#tiesLast ? c.src > s.src : c.src < s.src
      }
      end = c.runEnd(cap - o, sec, nsec, tieWins)
      this.packets += c.runCount
    }
    const rb = c.rb
    if (rb === out) this.#arena.copy(o, c.ro, end - c.ro)
    else out.set(rb.subarray(c.ro, end), o)
    if (!c.verbatim) {
      // Another byte order or unit: rewrite the 16-byte header; the data stays as copied.
      view.setUint32(o, c.sec, true)
      view.setUint32(o + 4, this.#ns ? c.nsec : Math.floor(c.nsec / 1000), true)
      view.setUint32(o + 8, c.rl - PCAP_RECORD_HEADER_SIZE, true)
      view.setUint32(o + 12, c.origLen, true)
    }
    return o + (end - c.ro)
  }

  /** Frames the top record as a pcapng Enhanced Packet Block (§4.3) on interface `c.src`. */
  #emitEpb(c: Cursor, out: Uint8Array, view: DataView, o: number): number {
    const capLen = c.rl - PCAP_RECORD_HEADER_SIZE
    const padded = (capLen + 3) & ~3
    const total = EPB_OVERHEAD + padded
    nsToHiLo(c.sec, c.nsec, hiLo)
    view.setUint32(o, BT_EPB, true)
    view.setUint32(o + 4, total, true)
    view.setUint32(o + 8, c.src, true)
    view.setUint32(o + 12, hiLo[0]!, true)
    view.setUint32(o + 16, hiLo[1]!, true)
    view.setUint32(o + 20, capLen, true)
    view.setUint32(o + 24, Math.max(c.origLen, capLen), true)
    const d = c.ro + PCAP_RECORD_HEADER_SIZE
    if (c.rb === out) this.#arena.copy(o + 28, d, capLen)
    else out.set(c.rb.subarray(d, d + capLen), o + 28)
    for (let i = o + 28 + capLen; i < o + 28 + padded; i++) out[i] = 0
    view.setUint32(o + 28 + padded, total, true)
    return o + total
  }

  /** The next piece of output, or null once everything was produced. */
  async read(): Promise<Uint8Array | null> {
    if (this.#done) return null
    await this.open()
    const prefix = this.#prefix
    if (prefix !== undefined && prefix.length > this.#pieceBytes) {
      // A pcapng prefix larger than a piece (thousands of interfaces): a piece of its own.
      this.#prefix = undefined
      this.bytes += prefix.length
      return prefix
    }
    // A released slot of the arena, else fresh memory (allocUnsafe: written before it is handed
    // out, up to the length returned). Reuse matters: fresh pieces cost page faults and zeroing in
    // the kernel.
    const slot = this.#freeSlots.pop()
    const inArena = slot !== undefined
    const out: Uint8Array = inArena ? this.#arena.bytes : Buffer.allocUnsafe(this.#pieceBytes)
    const view = inArena
      ? this.#arena.view
      : new DataView(out.buffer, out.byteOffset, out.byteLength)
    const start = inArena ? slot : 0
    const cap = start + this.#pieceBytes
    let o = start
    if (prefix !== undefined) {
      out.set(prefix, o)
      o += prefix.length
      this.#prefix = undefined
    }
    const heap = this.#heap
    const pcapng = this.#pcapng
    // The kernel writes into arena memory only.
    const kernel = inArena ? this.#kernel : undefined
    for (;;) {
      let top = heap[0]
      if (top === undefined) {
        this.#done = true
        break
      }
      // Did the kernel emit the top's record already (its next one needs the next read piece)?
      let emitted = false
      if (kernel !== undefined && top.inPiece) {
        o = kernel.run(this.#cursors, heap, o, cap)
        this.packets += kernel.count
        if (kernel.reason === KERNEL_FULL) break
        top = heap[0]!
        // Else KERNEL_OUTSIDE: the top record straddled two pieces; it goes out below.
        emitted = kernel.reason === KERNEL_READ_ON
      }
      if (!emitted) {
        const size = pcapng ? EPB_OVERHEAD + ((top.rl - PCAP_RECORD_HEADER_SIZE + 3) & ~3) : top.rl
        if (o + size > cap) break
        o = pcapng ? this.#emitEpb(top, out, view, o) : this.#emitPcap(top, out, view, o, cap)
        this.packets++
      }
      let more = top.advance()
      if (more !== true && more !== false) {
        more = await more
        if (this.#closed) break
      }
      // The kernel takes the source's new state on its next run (also when this piece is outside
      // the arena: a later one may run the kernel).
      this.#kernel?.markDirty(top.src)
      this.#fixTop(!more)
    }
    if (this.#done) await this.close()
    if (o === start) {
      if (inArena) this.#freeSlots.push(slot)
      return null
    }
    this.bytes += o - start
    if (!inArena) return out.subarray(0, o)
    const piece = Buffer.from(this.#arena.bytes.buffer, start, o - start)
    this.#lent[slot / this.#pieceBytes] = piece
    return piece
  }

  /**
   * Gives a piece returned by read() back for reuse, once nothing refers to it any more (e.g. in
   * the write callback of a socket). Optional: pieces never released are simply not reused (and
   * those outside the arena garbage collected). Only the very piece (object) handed out last from
   * its slot is taken back, so releasing a piece twice, even after its memory went out again as
   * another piece, is harmless.
   */
  release(piece: Uint8Array): void {
    if (piece.buffer !== this.#arena.bytes.buffer) return
    const slot = piece.byteOffset
    const i = slot / this.#pieceBytes
    if (this.#lent[i] !== piece) return
    this.#lent[i] = undefined
    this.#freeSlots.push(slot)
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for (let piece = await this.read(); piece !== null; piece = await this.read()) yield piece
    } finally {
      await this.close()
    }
  }

  /** Releases every source (idempotent); safe to call to stop early. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#done = true
    this.#heap.length = 0
    await Promise.all(this.#cursors.map((c) => c.close()))
  }
}
