import { seqAdd, seqDiff } from './seq.js'

interface Segment {
  seq: number
  data: Uint8Array
  tsMs: number
}

export type Deliver = (data: Uint8Array, tsMs: number) => void
export type Gap = (length: number, tsMs: number) => void

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

  /** Handles one segment's payload (and FIN). Returns the number of bytes newly buffered. */
  onSegment(seq: number, payload: Uint8Array, fin: boolean, tsMs: number, deliver: Deliver): number {
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
        const fresh = payload.subarray(-rel)
        this.nextSeq = seqAdd(this.nextSeq, fresh.length)
        deliver(fresh, tsMs)
        this.#drain(deliver)
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
  onPeerAck(ack: number, tsMs: number, deliver: Deliver, gap: Gap): number {
    if (this.nextSeq === undefined) return 0
    if (this.#pending.length === 0) {
      // The peer acknowledged our FIN (it takes one sequence number, RFC 9293 §3.4) while bytes
      // before it never reached the capture: nothing follows that could reveal the hole later.
      if (this.finSeq !== undefined && seqDiff(ack, this.finSeq) > 0) this.#finHole(tsMs, gap)
      return 0
    }
    const first = this.#pending[0]!
    if (seqDiff(ack, first.seq) >= 0) return this.skipHole(tsMs, deliver, gap)
    return 0
  }

  /** Declares the hole before the first buffered segment a gap and delivers what follows. */
  skipHole(tsMs: number, deliver: Deliver, gap: Gap): number {
    const before = this.buffered
    const first = this.#pending[0]
    if (first === undefined || this.nextSeq === undefined) return 0
    const hole = seqDiff(first.seq, this.nextSeq)
    if (hole > 0) {
      this.gaps++
      this.gapBytes += hole
      gap(hole, tsMs)
      this.nextSeq = first.seq
    }
    this.#drain(deliver)
    this.#checkFin()
    return before - this.buffered
  }

  /** Flushes everything buffered (connection closing): holes become gaps. Returns bytes freed. */
  flush(tsMs: number, deliver: Deliver, gap: Gap): number {
    let freed = 0
    while (this.#pending.length > 0) freed += this.skipHole(tsMs, deliver, gap)
    this.#finHole(tsMs, gap)
    return freed
  }

  /** Bytes between what was delivered and a FIN seen beyond it are a gap. */
  #finHole(tsMs: number, gap: Gap): void {
    if (this.finSeq === undefined || this.nextSeq === undefined || this.finished) return
    const hole = seqDiff(this.finSeq, this.nextSeq)
    if (hole <= 0) return
    this.gaps++
    this.gapBytes += hole
    gap(hole, tsMs)
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

  #drain(deliver: Deliver): void {
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
      const fresh = s.data.subarray(-rel)
      this.nextSeq = seqAdd(this.nextSeq, fresh.length)
      deliver(fresh, s.tsMs)
    }
  }

  #checkFin(): void {
    if (this.finSeq !== undefined && this.nextSeq !== undefined && seqDiff(this.nextSeq, this.finSeq) >= 0) {
      this.finished = true
    }
  }
}
