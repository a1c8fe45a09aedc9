import { performance } from 'node:perf_hooks'

/**
 * Packet timestamps for sources that do not provide them (an unpatched `cap` binding exposes none;
 * ours passes the kernel's, see tools/scripts/patch-cap.mjs):
 * a monotonic clock anchored to wall time once, so stamps never go backwards when NTP adjusts
 * the wall clock. Precision is that of the JS callback (microseconds), not of the kernel.
 */
export class PacketClock {
  readonly #anchorWallMs = Date.now()
  readonly #anchorPerf = performance.now()
  sec = 0
  nsec = 0

  /** Stamps "now" into `sec`/`nsec`. */
  stamp(): void {
    const ms = this.#anchorWallMs + (performance.now() - this.#anchorPerf)
    const sec = Math.floor(ms / 1000)
    this.sec = sec
    this.nsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6))
  }
}
