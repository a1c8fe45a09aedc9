/**
 * IPv4 and IPv6 fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5, RFC 5722), bounded and counted.
 *
 * Fragments go in one at a time (`push`); when one completes a datagram, `push` returns it as a
 * synthetic, unfragmented IP packet (LinkType.RAW: IPv4 header or IPv6 unfragmentable part from the
 * offset-0 fragment, fragment fields removed, lengths fixed) so the caller runs the normal decode
 * path over it. Only fragments pay for this: unfragmented packets never reach this module.
 *
 * Time is packet time (the caller's timestamps), never the wall clock, so replaying a capture
 * reassembles the same way as watching it live.
 */

export interface FragmentLimits {
  /** Largest reassembled datagram: IPv4 Total Length, or IPv6 Payload Length (both ≤ 65,535). */
  maxDatagramBytes: number
  /** Datagrams in progress (and dead ones remembered); the oldest is evicted past it. */
  maxDatagrams: number
  /** Fragment bytes held over all datagrams; the oldest datagrams are evicted past it. */
  maxBufferedBytes: number
  /** A datagram not complete this long after its first fragment is dropped (Linux: 30 s). */
  timeoutMs: number
  /**
   * IPv4 overlaps: 'first-wins' keeps the bytes already held and takes only the new ones;
   * 'drop' discards the whole datagram as IPv6 must (and as Linux ≥ 4.19 does for IPv4 too).
   */
  ipv4Overlap: 'first-wins' | 'drop'
}

export const DEFAULT_FRAGMENT_LIMITS: FragmentLimits = {
  maxDatagramBytes: 65_535,
  maxDatagrams: 1024,
  maxBufferedBytes: 4 * 1024 * 1024,
  timeoutMs: 30_000,
  ipv4Overlap: 'first-wins',
}

export interface FragmentStats {
  /** Fragments pushed (including IPv6 atomic fragments). */
  fragments: number
  /** Datagrams completed and handed back. */
  reassembled: number
  /** Datagrams dropped incomplete after `timeoutMs`. */
  timedOut: number
  /** Datagrams dropped to stay within `maxDatagrams` or `maxBufferedBytes`. */
  evicted: number
  /** Overlapping fragments: trimmed (IPv4 first-wins) or their whole datagram dropped. */
  overlaps: number
  /** Exact duplicates (same offset and length), dropped alone (RFC 8200 §4.5). */
  duplicates: number
  /** Datagrams dropped because they would exceed `maxDatagramBytes`. */
  tooLarge: number
  /**
   * Fragments dropped as malformed: a non-last fragment whose length is not a multiple of 8, a
   * truncated capture, a header we cannot parse, or conflicting last fragments (the datagram goes too).
   */
  invalid: number
  /** Fragments arriving for a datagram already dropped (RFC 5722: those are discarded too). */
  discarded: number
  /** Datagrams in progress now. */
  inProgress: number
  /** Fragment bytes held now. */
  bufferedBytes: number
}

interface Piece {
  start: number
  end: number
  data: Uint8Array
}

interface Pending {
  key: string
  version: 4 | 6
  createdTs: number
  /** Dropped (overlap, too large, invalid): remembered until timeout so later fragments go too. */
  dead: boolean
  /** From the offset-0 fragment: the IPv4 header, or the IPv6 header and unfragmentable part. */
  header: Uint8Array | undefined
  /** IPv6: where in `header` the Next Header byte that named the Fragment header sits. */
  nextHeaderPos: number
  /** IPv6: the Next Header of the offset-0 fragment's Fragment header. */
  nextHeader: number
  /** Payload length, known once the last fragment (MF = 0) arrived; -1 until then. */
  total: number
  /** Sorted by `start`, never overlapping. */
  pieces: Piece[]
  /** Bytes of `pieces` plus `header`: what counts against `maxBufferedBytes`. */
  bytes: number
  /** Payload bytes held (`pieces` only). */
  have: number
}

/** One parsed fragment. Reused: parsing allocates nothing. */
interface Frag {
  version: 4 | 6
  /** Offset of the fragment's data in the packet, and its length. */
  dataOffset: number
  dataLength: number
  /** Fragment offset in bytes, and whether more fragments follow. */
  offset: number
  more: boolean
  /** Header bytes before the fragment's data that the reassembled packet keeps. */
  headerLength: number
  /** IPv6: Next Header byte position (absolute) that named the Fragment header; its next header. */
  nextHeaderPos: number
  nextHeader: number
}

const u16 = (d: Uint8Array, o: number): number => (d[o]! << 8) | d[o + 1]!

/**
 * Keys: (src, dst, protocol, id) for IPv4 (RFC 791 §3.2), (src, dst, id) for IPv6 (RFC 8200 §4.5),
 * as a string of 16-bit code units (made for fragments only).
 */
function keyOf(d: Uint8Array, ip: number, version: 4 | 6, idOffset: number): string {
  let k = version === 4 ? `4${String.fromCharCode(d[ip + 9]!)}` : '6'
  const from = version === 4 ? ip + 12 : ip + 8
  const to = version === 4 ? ip + 20 : ip + 40
  for (let i = from; i < to; i += 2) k += String.fromCharCode(u16(d, i))
  k += String.fromCharCode(u16(d, idOffset))
  if (version === 6) k += String.fromCharCode(u16(d, idOffset + 2))
  return k
}

/** RFC 1071 checksum over an IPv4 header whose checksum field is zero. */
function ipv4Checksum(h: Uint8Array): number {
  let sum = 0
  for (let i = 0; i + 1 < h.length; i += 2) sum += u16(h, i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

export class FragmentReassembler {
  readonly limits: FragmentLimits
  /** Insertion order is creation order: the first entry is the oldest. */
  readonly #table = new Map<string, Pending>()
  #buffered = 0
  readonly #frag: Frag = {
    version: 4,
    dataOffset: 0,
    dataLength: 0,
    offset: 0,
    more: false,
    headerLength: 0,
    nextHeaderPos: 0,
    nextHeader: 0,
  }
  readonly #counters = {
    fragments: 0,
    reassembled: 0,
    timedOut: 0,
    evicted: 0,
    overlaps: 0,
    duplicates: 0,
    tooLarge: 0,
    invalid: 0,
    discarded: 0,
  }

  constructor(limits: Partial<FragmentLimits> = {}) {
    this.limits = { ...DEFAULT_FRAGMENT_LIMITS, ...limits }
    this.limits.maxDatagrams = Math.max(1, this.limits.maxDatagrams)
  }

  get stats(): FragmentStats {
    let inProgress = 0
    for (const p of this.#table.values()) if (!p.dead) inProgress++
    return { ...this.#counters, inProgress, bufferedBytes: this.#buffered }
  }

  /**
   * Takes one fragment: `data` holds an IPv4 or IPv6 packet starting at `ipOffset` (after the link
   * header). Returns the reassembled datagram as a whole IP packet when this fragment completed
   * one, else undefined. `data` is copied from, never kept.
   */
  push(data: Uint8Array, ipOffset: number, tsMs: number): Uint8Array | undefined {
    this.#counters.fragments++
    this.#expireHead(tsMs)
    const f = this.#frag
    const version = data[ipOffset]! >> 4
    const key =
      version === 4
        ? this.#parseIpv4(data, ipOffset)
        : version === 6
          ? this.#parseIpv6(data, ipOffset)
          : undefined
    if (key === undefined) {
      this.#counters.invalid++
      return undefined
    }
    const end = f.offset + f.dataLength
    // RFC 791 §3.2 / RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes.
    if (f.more && (f.dataLength === 0 || (f.dataLength & 7) !== 0)) {
      this.#counters.invalid++
      return undefined
    }
    // RFC 6946: an atomic fragment (offset 0, no more) is a whole datagram on its own.
    if (f.offset === 0 && !f.more) {
      if (this.#sizeOf(f, end) > this.limits.maxDatagramBytes) {
        this.#counters.tooLarge++
        return undefined
      }
      this.#counters.reassembled++
      const p = this.#newPending(key, f, tsMs)
      p.header = data.subarray(ipOffset, ipOffset + f.headerLength)
      p.nextHeaderPos = f.nextHeaderPos - ipOffset
      p.nextHeader = f.nextHeader
      return this.#build(
        p,
        [{ start: 0, end, data: data.subarray(f.dataOffset, f.dataOffset + f.dataLength) }],
        end
      )
    }

    let p = this.#table.get(key)
    if (p !== undefined && tsMs - p.createdTs >= this.limits.timeoutMs) {
      this.#remove(p)
      if (!p.dead) this.#counters.timedOut++
      p = undefined
    }
    if (p === undefined) {
      while (this.#table.size >= this.limits.maxDatagrams) this.#evictOldest()
      p = this.#newPending(key, f, tsMs)
      this.#table.set(key, p)
    }
    if (p.dead) {
      this.#counters.discarded++
      return undefined
    }
    // Ping of death (RFC 8200 §4.5; RFC 791 lengths are 16 bits): the datagram could never fit.
    if (this.#sizeOf(f, end) > this.limits.maxDatagramBytes) {
      this.#counters.tooLarge++
      this.#kill(p)
      return undefined
    }
    if (!f.more) {
      // The last fragment fixes the length; a second, different one or data past it is corrupt.
      const lastEnd = p.pieces.length > 0 ? p.pieces[p.pieces.length - 1]!.end : 0
      if ((p.total >= 0 && p.total !== end) || lastEnd > end) {
        this.#counters.invalid++
        this.#kill(p)
        return undefined
      }
      p.total = end
    } else if (p.total >= 0 && end > p.total) {
      this.#counters.invalid++
      this.#kill(p)
      return undefined
    }
    if (f.offset === 0 && p.header === undefined) {
      if (!this.#makeRoom(p, f.headerLength)) return undefined
      p.header = data.slice(ipOffset, ipOffset + f.headerLength)
      p.nextHeaderPos = f.nextHeaderPos - ipOffset
      p.nextHeader = f.nextHeader
      this.#account(p, p.header.length)
    }
    if (!this.#insert(p, data, f, end)) return undefined
    if (p.total < 0 || p.have !== p.total || p.header === undefined) return undefined
    const headerExtra = p.version === 4 ? p.header.length : p.header.length - 40
    if (headerExtra + p.total > this.limits.maxDatagramBytes) {
      this.#counters.tooLarge++
      this.#kill(p)
      return undefined
    }
    this.#remove(p)
    this.#counters.reassembled++
    return this.#build(p, p.pieces, p.total)
  }

  /** Drops datagrams older than the timeout at packet time `nowMs`. */
  expire(nowMs: number): void {
    for (const p of this.#table.values()) {
      if (nowMs - p.createdTs < this.limits.timeoutMs) continue
      this.#remove(p)
      if (!p.dead) this.#counters.timedOut++
    }
  }

  /** The oldest entries, usually the only candidates: creation order follows packet time. */
  #expireHead(nowMs: number): void {
    for (let i = 0; i < this.limits.maxDatagrams; i++) {
      const first = this.#table.values().next()
      if (first.done === true || nowMs - first.value.createdTs < this.limits.timeoutMs) return
      this.#remove(first.value)
      if (!first.value.dead) this.#counters.timedOut++
    }
  }

  /** The reassembled datagram's length field: IPv4 Total Length or IPv6 Payload Length. */
  #sizeOf(f: Frag, end: number): number {
    return f.version === 4 ? f.headerLength + end : f.headerLength - 40 + end
  }

  #newPending(key: string, f: Frag, tsMs: number): Pending {
    return {
      key,
      version: f.version,
      createdTs: tsMs,
      dead: false,
      header: undefined,
      nextHeaderPos: 0,
      nextHeader: 0,
      total: -1,
      pieces: [],
      bytes: 0,
      have: 0,
    }
  }

  // RFC 791 §3.1: the fragment fields and the header length.
  #parseIpv4(d: Uint8Array, ip: number): string | undefined {
    if (d.length < ip + 20) return undefined
    const ihl = (d[ip]! & 0x0f) * 4
    const total = u16(d, ip + 2)
    if (ihl < 20 || total < ihl || d.length < ip + total) return undefined
    const frag = u16(d, ip + 6)
    const f = this.#frag
    f.version = 4
    f.headerLength = ihl
    f.dataOffset = ip + ihl
    f.dataLength = total - ihl
    f.offset = (frag & 0x1fff) * 8
    f.more = (frag & 0x2000) !== 0
    f.nextHeaderPos = 0
    f.nextHeader = 0
    return keyOf(d, ip, 4, ip + 4)
  }

  // RFC 8200 §4.1, §4.5: the extension headers before the Fragment header are the unfragmentable part.
  #parseIpv6(d: Uint8Array, ip: number): string | undefined {
    if (d.length < ip + 40) return undefined
    const end = ip + 40 + u16(d, ip + 4)
    if (d.length < end) return undefined
    let nhPos = ip + 6
    let p = ip + 40
    for (let hops = 0; hops < 8; hops++) {
      const next = d[nhPos]!
      if (next === 44) {
        if (end < p + 8) return undefined
        const f = this.#frag
        const off = u16(d, p + 2)
        f.version = 6
        f.headerLength = p - ip
        f.dataOffset = p + 8
        f.dataLength = end - (p + 8)
        f.offset = off & 0xfff8
        f.more = (off & 1) !== 0
        f.nextHeaderPos = nhPos
        f.nextHeader = d[p]!
        return keyOf(d, ip, 6, p + 4)
      }
      if (next !== 0 && next !== 43 && next !== 60 && next !== 51) return undefined
      if (end < p + 8) return undefined
      nhPos = p
      // Authentication header (RFC 4302) counts 4-octet units minus 2, the others 8-octet units.
      p += next === 51 ? (d[p + 1]! + 2) * 4 : (d[p + 1]! + 1) * 8
    }
    return undefined
  }

  /**
   * Adds the fragment's bytes. IPv6 (RFC 5722) and IPv4 with ipv4Overlap 'drop': any overlap drops
   * the datagram. IPv4 'first-wins': only the bytes not held yet are taken. Returns false when the
   * datagram died or nothing new was added.
   */
  #insert(p: Pending, data: Uint8Array, f: Frag, end: number): boolean {
    const start = f.offset
    if (start === end) return true
    const pieces = p.pieces
    // Binary search for the first piece ending after `start` (ends are sorted like starts).
    let lo = 0
    let hi = pieces.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (pieces[mid]!.end <= start) lo = mid + 1
      else hi = mid
    }
    const i = lo
    if (i === pieces.length || pieces[i]!.start >= end) {
      if (!this.#makeRoom(p, end - start)) return false
      pieces.splice(i, 0, {
        start,
        end,
        data: data.slice(f.dataOffset, f.dataOffset + f.dataLength),
      })
      this.#account(p, end - start)
      p.have += end - start
      return true
    }
    if (pieces[i]!.start === start && pieces[i]!.end === end) {
      this.#counters.duplicates++
      return false
    }
    this.#counters.overlaps++
    if (p.version === 6 || this.limits.ipv4Overlap === 'drop') {
      this.#kill(p)
      return false
    }
    // First wins: the held pieces that overlap stay, the holes between them are filled.
    const merged: Piece[] = []
    let bytes = 0
    let at = start
    let j = i
    const hole = (to: number): void => {
      const from = f.dataOffset + (at - start)
      merged.push({ start: at, end: to, data: data.slice(from, from + (to - at)) })
      bytes += to - at
    }
    for (; j < pieces.length && pieces[j]!.start < end; j++) {
      const q = pieces[j]!
      if (q.start > at) hole(q.start)
      merged.push(q)
      at = Math.max(at, q.end)
    }
    if (at < end) hole(end)
    if (bytes === 0 || !this.#makeRoom(p, bytes)) return false
    pieces.splice(i, j - i, ...merged)
    this.#account(p, bytes)
    p.have += bytes
    return true
  }

  /** Evicts the oldest other datagrams until `bytes` more fit; evicts `p` itself if they never will. */
  #makeRoom(p: Pending, bytes: number): boolean {
    const max = this.limits.maxBufferedBytes
    while (this.#buffered + bytes > max) {
      let victim: Pending | undefined
      for (const q of this.#table.values()) {
        if (q !== p && q.bytes > 0) {
          victim = q
          break
        }
      }
      if (victim === undefined) {
        this.#counters.evicted++
        this.#kill(p)
        return false
      }
      this.#counters.evicted++
      this.#remove(victim)
    }
    return true
  }

  #evictOldest(): void {
    const first = this.#table.values().next()
    if (first.done === true) return
    if (!first.value.dead) this.#counters.evicted++
    this.#remove(first.value)
  }

  #account(p: Pending, bytes: number): void {
    p.bytes += bytes
    this.#buffered += bytes
  }

  /** Frees the datagram's bytes but remembers its key until the timeout (RFC 5722 §4). */
  #kill(p: Pending): void {
    this.#buffered -= p.bytes
    p.bytes = 0
    p.have = 0
    p.pieces = []
    p.header = undefined
    p.dead = true
  }

  #remove(p: Pending): void {
    this.#buffered -= p.bytes
    p.bytes = 0
    this.#table.delete(p.key)
  }

  /** The whole datagram as an unfragmented IP packet. */
  #build(p: Pending, pieces: readonly Piece[], total: number): Uint8Array {
    const h = p.header!
    const out = new Uint8Array(h.length + total)
    out.set(h, 0)
    for (const piece of pieces) out.set(piece.data, h.length + piece.start)
    if (p.version === 4) {
      // RFC 791 §3.1: Total Length covers the header; MF and Fragment Offset cleared, DF kept.
      const len = h.length + total
      out[2] = len >> 8
      out[3] = len & 0xff
      out[6]! &= 0x40
      out[7] = 0
      out[10] = out[11] = 0
      const sum = ipv4Checksum(out.subarray(0, h.length))
      out[10] = sum >> 8
      out[11] = sum & 0xff
    } else {
      // RFC 8200 §4.5: the Fragment header goes; its Next Header moves to the header before it.
      const len = h.length - 40 + total
      out[4] = len >> 8
      out[5] = len & 0xff
      out[p.nextHeaderPos] = p.nextHeader
    }
    return out
  }
}
