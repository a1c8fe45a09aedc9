/**
 * The merge's inner loop in WebAssembly (merge-kernel.wat), for the common export: classic pcap
 * out, every source's records copied as they are (little-endian, the output's time unit, no
 * filter) and read into the arena. PcapMerge keeps the cursors and the heap in JavaScript and
 * hands them to the loop in the arena's state region before a run; the loop moves records until
 * the output piece is full, a source's next record is not wholly in its read piece (JavaScript
 * reads the next piece, or assembles a record that straddles two), or the earliest record is one
 * JavaScript assembled outside the arena (JavaScript emits it). Only what changed crosses over:
 * the sources JavaScript moved since the last run in, the ones the loop moved and the heap's order
 * out.
 *
 * Measured on the export bench (1.1 GiB, 1.55M records of 60-1514 bytes, three sources, 7 runs
 * each): the merge's CPU time on its thread fell from 0.13-0.15 s to 0.11 s, most of what is left
 * being the copies themselves.
 */
import type { Arena } from './arena.js'

/** The output piece is full (the top record does not fit). */
export const KERNEL_FULL = 0
/** The top source's record went out and its next one is not wholly in its piece. */
export const KERNEL_READ_ON = 1
/** The top record is outside the arena (assembled across two pieces). */
export const KERNEL_OUTSIDE = 2

/** What the kernel reads of a source and tells it back. */
export interface KernelSource {
  readonly src: number
  /** The current record: arena offset and length, when `inPiece`. */
  readonly ro: number
  readonly rl: number
  readonly inPiece: boolean
  /** Its time (seconds and nanoseconds, the fraction below a second). */
  readonly sec: number
  readonly nsec: number
  /** Nanoseconds per unit of the record header's fraction. */
  readonly fracToNs: number
  /** End (arena offset) of the current read piece. */
  readonly pieceEnd: number
  /** The kernel moved on: the record at `ro` of `rl` bytes (in the piece) is current. */
  setCurrent(ro: number, rl: number): void
  /** The kernel emitted the current record; the next unread byte is at `pos`. */
  consumedTo(pos: number): void
}

const HEADER = 16
const SOURCE = 32
const BILLION = 1_000_000_000n

export class MergeKernel {
  readonly #arena: Arena
  /** Arena offsets of the header (and heap) and of the source records. */
  readonly #s: number
  readonly #c: number
  /** Sources whose JavaScript state changed since they were last written to the arena. */
  readonly #dirty: boolean[]
  /** Why the last run stopped, and the records it emitted. */
  reason = KERNEL_FULL
  count = 0

  /** The state region's size for `sources` sources. */
  static bytes(sources: number): number {
    return MergeKernel.#sourcesAt(sources) + SOURCE * sources
  }

  static #sourcesAt(sources: number): number {
    return (HEADER + 4 * sources + 7) & ~7
  }

  /** State at arena offset `at` (8-byte aligned, MergeKernel.bytes(sources) long). */
  constructor(arena: Arena, at: number, sources: number, tiesLast: boolean) {
    if (at % 8 !== 0) throw new RangeError('the kernel state must be 8-byte aligned')
    this.#arena = arena
    this.#s = at
    this.#c = at + MergeKernel.#sourcesAt(sources)
    this.#dirty = new Array<boolean>(sources).fill(true)
    arena.view.setUint32(at + 4, tiesLast ? 1 : 0, true)
  }

  /** JavaScript moved this source (read on, emitted its record): write it before the next run. */
  markDirty(src: number): void {
    this.#dirty[src] = true
  }

  /**
   * Runs the loop over `heap` (cursors by heap position; `sources` by index) from output offset
   * `o` up to `cap`; returns the output's new end, reorders `heap` as the loop left it and sets
   * `reason` and `count`.
   */
  run<S extends KernelSource>(sources: readonly S[], heap: S[], o: number, cap: number): number {
    const v = this.#arena.view
    const s = this.#s
    const n = heap.length
    v.setUint32(s, n, true)
    for (let i = 0; i < n; i++) v.setUint32(s + HEADER + 4 * i, heap[i]!.src, true)
    for (let i = 0; i < sources.length; i++) {
      if (!this.#dirty[i]) continue
      this.#dirty[i] = false
      const x = sources[i]!
      const cp = this.#c + SOURCE * i
      v.setUint32(cp, x.ro, true)
      v.setUint32(cp + 4, x.pieceEnd, true)
      v.setUint32(cp + 8, x.rl, true)
      v.setUint32(cp + 12, x.inPiece ? 1 : 0, true)
      v.setBigUint64(cp + 16, BigInt(x.sec) * BILLION + BigInt(x.nsec), true)
      v.setUint32(cp + 24, x.fracToNs, true)
      v.setUint32(cp + 28, 0, true)
    }
    const end = this.#arena.run(s, this.#c, o, cap)
    this.count = v.getUint32(s + 8, true)
    this.reason = v.getUint32(s + 12, true)
    for (let i = 0; i < n; i++) heap[i] = sources[v.getUint32(s + HEADER + 4 * i, true)]!
    const top = heap[0]!.src
    for (let i = 0; i < sources.length; i++) {
      const cp = this.#c + SOURCE * i
      if (v.getUint32(cp + 28, true) === 0) continue
      v.setUint32(cp + 28, 0, true)
      if (i === top && this.reason === KERNEL_READ_ON) {
        sources[i]!.consumedTo(v.getUint32(cp, true))
        this.#dirty[i] = true
      } else {
        sources[i]!.setCurrent(v.getUint32(cp, true), v.getUint32(cp + 8, true))
      }
    }
    return end
  }
}
