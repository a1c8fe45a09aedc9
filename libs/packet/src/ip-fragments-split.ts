/**
 * The inverse of FragmentReassembler: splits one unfragmented IP packet into fragments the way a
 * sending host does (RFC 791 §3.2 for IPv4, RFC 8200 §4.5 for IPv6). Tests and benches use it to
 * turn real recorded traffic into fragmented traffic that tshark and the reassembler both read.
 */

const u16 = (d: Uint8Array, o: number): number => (d[o]! << 8) | d[o + 1]!
const put16 = (d: Uint8Array, o: number, v: number): void => {
  d[o] = (v >> 8) & 0xff
  d[o + 1] = v & 0xff
}

/** RFC 1071 over an IPv4 header; the checksum field must be zero. */
function checksum(h: Uint8Array): number {
  let sum = 0
  for (let i = 0; i + 1 < h.length; i += 2) sum += u16(h, i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/**
 * Splits `ip` (an IPv4 or IPv6 packet starting at byte 0) into fragments of at most
 * `fragmentData` payload bytes each (rounded down to a multiple of 8, at least 8). `id` is the
 * Identification: 16 bits for IPv4 (default: the packet's own), 32 bits for IPv6 (default 1).
 * A packet that fits in one fragment still comes back fragmented (one fragment, MF clear: for
 * IPv6 an atomic fragment).
 */
export function splitIpPacket(ip: Uint8Array, fragmentData: number, id?: number): Uint8Array[] {
  const size = Math.max(8, fragmentData & ~7)
  const version = ip[0]! >> 4
  if (version === 4) return splitIpv4(ip, size, id)
  if (version === 6) return splitIpv6(ip, size, id ?? 1)
  throw new Error(`not an IP packet (version ${version})`)
}

function splitIpv4(ip: Uint8Array, size: number, id: number | undefined): Uint8Array[] {
  const ihl = (ip[0]! & 0x0f) * 4
  const total = Math.min(ip.length, u16(ip, 2))
  const payload = ip.subarray(ihl, total)
  // RFC 791 §3.1: only options with the copied flag go into fragments after the first.
  const copied: number[] = []
  for (let o = 20; o < ihl;) {
    const type = ip[o]!
    if (type === 0) break
    if (type === 1) {
      o++
      continue
    }
    const len = Math.max(2, ip[o + 1] ?? 2)
    if (type & 0x80) for (let i = 0; i < len && o + i < ihl; i++) copied.push(ip[o + i]!)
    o += len
  }
  while (copied.length % 4 !== 0) copied.push(0)
  const out: Uint8Array[] = []
  for (let off = 0; off < payload.length || off === 0; off += size) {
    const chunk = payload.subarray(off, off + size)
    const hlen = off === 0 ? ihl : 20 + copied.length
    const f = new Uint8Array(hlen + chunk.length)
    f.set(ip.subarray(0, 20), 0)
    if (off === 0) f.set(ip.subarray(20, ihl), 20)
    else f.set(copied, 20)
    f[0] = 0x40 | (hlen / 4)
    put16(f, 2, f.length)
    if (id !== undefined) put16(f, 4, id & 0xffff)
    // DF cleared (a sender that fragments has not set it); MF on all but the last.
    const more = off + size < payload.length
    put16(f, 6, (more ? 0x2000 : 0) | (off >> 3))
    put16(f, 10, 0)
    put16(f, 10, checksum(f.subarray(0, hlen)))
    f.set(chunk, hlen)
    out.push(f)
  }
  return out
}

function splitIpv6(ip: Uint8Array, size: number, id: number): Uint8Array[] {
  const end = Math.min(ip.length, 40 + u16(ip, 4))
  // The unfragmentable part (RFC 8200 §4.5): the header and the hop-by-hop, routing and destination
  // options headers in front of the upper-layer header.
  let nhPos = 6
  let p = 40
  for (let hops = 0; hops < 8; hops++) {
    const next = ip[nhPos]!
    if ((next !== 0 && next !== 43 && next !== 60) || p + 8 > end) break
    nhPos = p
    p += (ip[p + 1]! + 1) * 8
  }
  const unfrag = ip.subarray(0, p)
  const next = ip[nhPos]!
  const payload = ip.subarray(p, end)
  const out: Uint8Array[] = []
  for (let off = 0; off < payload.length || off === 0; off += size) {
    const chunk = payload.subarray(off, off + size)
    const f = new Uint8Array(unfrag.length + 8 + chunk.length)
    f.set(unfrag, 0)
    f[nhPos] = 44
    put16(f, 4, f.length - 40)
    const h = unfrag.length
    f[h] = next
    f[h + 1] = 0
    put16(f, h + 2, off | (off + size < payload.length ? 1 : 0))
    put16(f, h + 4, (id >>> 16) & 0xffff)
    put16(f, h + 6, id & 0xffff)
    f.set(chunk, h + 8)
    out.push(f)
  }
  return out
}
