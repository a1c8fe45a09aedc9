import { seqAdd, seqDiff } from './seq.js'
import type { Direction } from './types.js'

interface Segment {
  seq: number
  data: Uint8Array
  tsMs: number
}

/**
 * Where a half's bytes go: the connection's consumer, told the direction they travelled. An object
 * and a direction rather than two callbacks, so that no closure is made per packet.
 */
export interface HalfOutput {
  onData(dir: Direction, data: Uint8Array, tsMs: number): void
  onGap(dir: Direction, length: number, tsMs: number): void
}

/**
 * One direction of a TCP connection: delivers bytes in sequence order exactly once, buffering
 * segments that arrive early and trimming retransmitted or overlapping bytes. Where an earlier
 * segment never arrives, the hole is reported as a gap and delivery resumes after it.
 */
export class TcpHalf {
  /** Next expected sequence number; undefined until the stream's start is known. */
  nextSeq: number | undefined
  finSeq: number | undefined
  finished = false
  midStream = false
  buffered = 0
  gaps = 0
  gapBytes = 0
  retransmissions = 0
  #pending: Segment[] = []

  onSyn(seq: number): void {
    if (this.nextSeq === undefined) this.nextSeq = seqAdd(seq, 1)
  }

  /**
   * Handles one segment's payload (and FIN); bytes in order go to `out` (if any) as direction
   * `dir`. Returns the number of bytes newly buffered.
   */
  onSegment(
    seq: number,
    payload: Uint8Array,
    fin: boolean,
    tsMs: number,
    out: HalfOutput | undefined,
    dir: Direction
  ): number {
    if (this.nextSeq === undefined) {
      // Picked up mid-stream: start at the first byte we see.
      this.nextSeq = seq
      this.midStream = true
    }
    if (fin) this.finSeq = seqAdd(seq, payload.length)
    let added = 0
    if (payload.length > 0) {
      const rel = seqDiff(seq, this.nextSeq)
      if (rel + payload.length <= 0) {
        this.retransmissions++
      } else if (rel <= 0) {
        const fresh = rel === 0 ? payload : payload.subarray(-rel)
        this.nextSeq = seqAdd(this.nextSeq, fresh.length)
        out?.onData(dir, fresh, tsMs)
        this.#drain(out, dir)
      } else {
        added = this.#buffer(seq, payload, tsMs)
      }
    }
    this.#checkFin()
    return added
  }

  /**
   * The peer acknowledged `ack`: bytes before it were sent, so if we buffered later data and
   * `ack` covers the hole, the hole's bytes were lost by the capture, not the network.
   */
  onPeerAck(ack: number, tsMs: number, out: HalfOutput | undefined, dir: Direction): number {
    if (this.nextSeq === undefined) return 0
    if (this.#pending.length === 0) {
      // The peer acknowledged our FIN (it takes one sequence number, RFC 9293 §3.4) while bytes
      // before it never reached the capture: nothing follows that could reveal the hole later.
      if (this.finSeq !== undefined && seqDiff(ack, this.finSeq) > 0) this.#finHole(tsMs, out, dir)
      return 0
    }
    const first = this.#pending[0]!
    if (seqDiff(ack, first.seq) >= 0) return this.skipHole(tsMs, out, dir)
    return 0
  }

  /** Declares the hole before the first buffered segment a gap and delivers what follows. */
  skipHole(tsMs: number, out: HalfOutput | undefined, dir: Direction): number {
    const before = this.buffered
    const first = this.#pending[0]
    if (first === undefined || this.nextSeq === undefined) return 0
    const hole = seqDiff(first.seq, this.nextSeq)
    if (hole > 0) {
      this.gaps++
      this.gapBytes += hole
      out?.onGap(dir, hole, tsMs)
      this.nextSeq = first.seq
    }
    this.#drain(out, dir)
    this.#checkFin()
    return before - this.buffered
  }

  /** Flushes everything buffered (connection closing): holes become gaps. Returns bytes freed. */
  flush(tsMs: number, out: HalfOutput | undefined, dir: Direction): number {
    let freed = 0
    while (this.#pending.length > 0) freed += this.skipHole(tsMs, out, dir)
    this.#finHole(tsMs, out, dir)
    return freed
  }

  /** Bytes between what was delivered and a FIN seen beyond it are a gap. */
  #finHole(tsMs: number, out: HalfOutput | undefined, dir: Direction): void {
    if (this.finSeq === undefined || this.nextSeq === undefined || this.finished) return
    const hole = seqDiff(this.finSeq, this.nextSeq)
    if (hole <= 0) return
    this.gaps++
    this.gapBytes += hole
    out?.onGap(dir, hole, tsMs)
    this.nextSeq = this.finSeq
    this.#checkFin()
  }

  #buffer(seq: number, payload: Uint8Array, tsMs: number): number {
    const list = this.#pending
    // Keep the list sorted by sequence; an exact duplicate of a buffered segment is dropped.
    let i = list.length
    while (i > 0 && seqDiff(list[i - 1]!.seq, seq) > 0) i--
    const prev = list[i - 1]
    if (prev && prev.seq === seq && prev.data.length >= payload.length) {
      this.retransmissions++
      return 0
    }
    list.splice(i, 0, { seq, data: payload.slice(), tsMs })
    this.buffered += payload.length
    return payload.length
  }

  #drain(out: HalfOutput | undefined, dir: Direction): void {
    const list = this.#pending
    while (list.length > 0 && this.nextSeq !== undefined) {
      const s = list[0]!
      const rel = seqDiff(s.seq, this.nextSeq)
      if (rel > 0) break
      list.shift()
      this.buffered -= s.data.length
      if (rel + s.data.length <= 0) {
        this.retransmissions++
        continue
      }
      const fresh = rel === 0 ? s.data : s.data.subarray(-rel)
      this.nextSeq = seqAdd(this.nextSeq, fresh.length)
      out?.onData(dir, fresh, s.tsMs)
    }
  }

  #checkFin(): void {
    if (this.finSeq !== undefined && this.nextSeq !== undefined && seqDiff(this.nextSeq, this.finSeq) >= 0) {
      this.finished = true
    }
  }
}
