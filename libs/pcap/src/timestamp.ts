/**
 * pcapng timestamps are one 64-bit count of `if_tsresol` units, stored as two u32 halves
 * (draft-ietf-opsawg-pcapng §4.3, "Timestamp (High)/(Low)"). Converting to seconds + nanoseconds
 * without a BigInt per packet: long division of the 64-bit value in 16-bit digits keeps every
 * intermediate below 2^53 as long as the divisor is below 2^36, which covers µs, ns and 2^-k (k ≤ 36).
 */

const TWO32 = 4294967296

export interface TsConverter {
  /** Units per second. */
  readonly units: number
  /** Writes the converted timestamp into `out[0]` (seconds) and `out[1]` (nanoseconds). */
  convert(hi: number, lo: number, out: Float64Array): void
}

/** Builds a converter for one interface's resolution (units per second) and if_tsoffset (seconds). */
export function tsConverter(
  unitsPerSecond: number,
  tsOffset: number,
  unitsExact?: bigint
): TsConverter {
  const u = unitsPerSecond
  if (u <= 2 ** 36 && Number.isInteger(u)) {
    // When the unit divides a second evenly into nanoseconds (1, 10, ..., 1e9) it is a multiply.
    const nsMul = 1e9 % u === 0 ? 1e9 / u : 0
    return {
      units: u,
      convert(hi, lo, out) {
        let r = hi % u
        const qHi = (hi - r) / u
        let cur = r * 65536 + (lo >>> 16)
        let q1 = Math.floor(cur / u)
        r = cur - q1 * u
        if (r < 0) {
          q1--
          r += u
        }
        cur = r * 65536 + (lo & 0xffff)
        let q0 = Math.floor(cur / u)
        r = cur - q0 * u
        if (r < 0) {
          q0--
          r += u
        }
        out[0] = qHi * TWO32 + q1 * 65536 + q0 + tsOffset
        if (nsMul !== 0) out[1] = r * nsMul
        else {
          const scaled = r * 1e9
          out[1] =
            scaled <= Number.MAX_SAFE_INTEGER
              ? (scaled - (scaled % u)) / u
              : Number((BigInt(r) * 1000000000n) / BigInt(u))
        }
      },
    }
  }
  // Exotic resolutions (picoseconds, 2^-40...): exact but slow.
  const big = unitsExact ?? BigInt(Math.round(u))
  return {
    units: u,
    convert(hi, lo, out) {
      const v = (BigInt(hi) << 32n) | BigInt(lo)
      out[0] = Number(v / big) + tsOffset
      out[1] = Number(((v % big) * 1000000000n) / big)
    },
  }
}

/**
 * Splits seconds + nanoseconds into the high/low u32 halves of a 64-bit nanosecond count
 * (the EPB timestamp with if_tsresol = 9), exactly, without BigInt. Requires 0 ≤ tsSec < 2^32.
 */
export function nsToHiLo(tsSec: number, tsNsec: number, out: Float64Array): void {
  // ns = tsSec * 1e9 + tsNsec = sh * 1e9 * 2^16 + (sl * 1e9 + tsNsec), each product exact (< 2^53).
  const sh = Math.floor(tsSec / 65536)
  const sl = tsSec - sh * 65536
  const y = sh * 1e9
  const x = sl * 1e9 + tsNsec
  const yh = Math.floor(y / 65536)
  const yl = y - yh * 65536
  const t = yl * 65536 + x
  const carry = Math.floor(t / TWO32)
  out[0] = yh + carry
  out[1] = t - carry * TWO32
}
