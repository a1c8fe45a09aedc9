/** Address formatting, done once per new flow, never per packet. */

export function formatIpv4(d: Uint8Array, o: number): string {
  return `${d[o]}.${d[o + 1]}.${d[o + 2]}.${d[o + 3]}`
}

/** RFC 5952 text form: lower case, leading zeros dropped, the longest run of zero groups as `::`. */
export function formatIpv6(d: Uint8Array, o: number): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push((d[o + i]! << 8) | d[o + i + 1]!)
  // IPv4-mapped addresses read better in dotted form.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(d, o + 12)}`
  }
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i > 1) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  const head = hex.slice(0, bestStart).join(':')
  const tail = hex.slice(bestStart + bestLen).join(':')
  return `${head}::${tail}`
}

export function formatAddress(d: Uint8Array, o: number, len: number): string {
  return len === 4 ? formatIpv4(d, o) : formatIpv6(d, o)
}
