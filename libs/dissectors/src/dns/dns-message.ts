// DNS message parsing: RFC 1035 §4.1 (header, question, resource records), §4.1.4 (name
// compression), §3.3 (standard RR data), RFC 3596 §2 (AAAA), RFC 2782 (SRV). Never throws: a
// malformed message parses as far as it goes and reports `malformed`.

export interface DnsQuestion {
  name: string
  type: number
  cls: number
}

export interface DnsRecord {
  name: string
  type: number
  cls: number
  ttl: number
  /** RDATA rendered as text (see `renderRdata`). */
  data: string
}

export interface DnsMessage {
  id: number
  /** QR bit: true for responses (RFC 1035 §4.1.1). */
  response: boolean
  opcode: number
  rcode: number
  flags: number
  qdcount: number
  ancount: number
  questions: DnsQuestion[]
  answers: DnsRecord[]
  /** Parsing stopped early (truncated or inconsistent message). */
  malformed: boolean
}

export const DNS_HEADER_LENGTH = 12
/** Pointer hops followed while reading one name (RFC 1035 §4.1.4 pointers may chain). */
const MAX_POINTER_HOPS = 32
/** RFC 1035 §2.3.4: names are at most 255 octets. */
const MAX_NAME_LENGTH = 255
/** Records decoded per section: bounds work on hostile counts. */
const MAX_RECORDS = 64

const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  41: 'OPT',
  65: 'HTTPS',
  255: 'ANY',
}

/** Mnemonic of an RR type (RFC 1035 §3.2.2 and later RFCs); unknown ones as `TYPE<n>` (RFC 3597 §5). */
export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE${type}`
}

interface NameResult {
  name: string
  /** Offset just after the name in the original position (pointers end a name, §4.1.4). */
  next: number
}

/** Reads a possibly compressed domain name (RFC 1035 §4.1.4); undefined when malformed. */
export function readName(msg: Uint8Array, offset: number): NameResult | undefined {
  const labels: string[] = []
  let pos = offset
  let next = -1
  let hops = 0
  let length = 0
  for (;;) {
    if (pos >= msg.length) return undefined
    const len = msg[pos]!
    if (len === 0) {
      if (next < 0) next = pos + 1
      break
    }
    const kind = len & 0xc0
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length || ++hops > MAX_POINTER_HOPS) return undefined
      if (next < 0) next = pos + 2
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!
      // Pointers must point backwards into the message (prior occurrence, §4.1.4).
      if (target >= pos) return undefined
      pos = target
      continue
    }
    if (kind !== 0) return undefined // 0x40/0x80: extended label types (RFC 6891 §5), unsupported
    if (pos + 1 + len > msg.length) return undefined
    length += len + 1
    if (length > MAX_NAME_LENGTH) return undefined
    labels.push(labelText(msg, pos + 1, pos + 1 + len))
    pos += 1 + len
  }
  return { name: labels.length === 0 ? '<Root>' : labels.join('.'), next }
}

/** Label octets as text; dots and non-printables escaped like RFC 1035 §5.1 master files. */
function labelText(b: Uint8Array, start: number, end: number): string {
  let s = ''
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c)
    else if (c > 0x20 && c < 0x7f) s += String.fromCharCode(c)
    else s += '\\' + String(c).padStart(3, '0')
  }
  return s
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!
const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)

/** An IPv6 address in RFC 5952 §4 form (lower case, longest zero run compressed). */
export function formatIpv6(b: Uint8Array, o: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(u16(b, o + i * 2))
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':')
  if (bestStart < 0) return hex(groups)
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`
}

/** RDATA as text: A, AAAA, CNAME, NS, PTR, MX, TXT, SRV decoded; other types as `TYPE<n>`. */
export function renderRdata(
  msg: Uint8Array,
  type: number,
  start: number,
  rdlength: number
): string | undefined {
  const end = start + rdlength
  switch (type) {
    case 1: // RFC 1035 §3.4.1
      return rdlength === 4
        ? `${msg[start]}.${msg[start + 1]}.${msg[start + 2]}.${msg[start + 3]}`
        : undefined
    case 28: // RFC 3596 §2.2
      return rdlength === 16 ? formatIpv6(msg, start) : undefined
    case 2: // NS, §3.3.11
    case 5: // CNAME, §3.3.1
    case 12: // PTR, §3.3.12
      return readName(msg, start)?.name
    case 15: {
      // MX, §3.3.9: PREFERENCE then EXCHANGE
      if (rdlength < 3) return undefined
      const ex = readName(msg, start + 2)
      return ex ? `${u16(msg, start)} ${ex.name}` : undefined
    }
    case 16: {
      // TXT, §3.3.14: one or more <character-string>s, concatenated here
      let s = ''
      let p = start
      while (p < end) {
        const n = msg[p]!
        if (p + 1 + n > end) return undefined
        for (let i = p + 1; i < p + 1 + n; i++) s += String.fromCharCode(msg[i]!)
        p += 1 + n
      }
      return s
    }
    case 33: {
      // SRV, RFC 2782: Priority Weight Port Target
      if (rdlength < 7) return undefined
      const target = readName(msg, start + 6)
      return target
        ? `${u16(msg, start)} ${u16(msg, start + 2)} ${u16(msg, start + 4)} ${target.name}`
        : undefined
    }
    default:
      return typeName(type)
  }
}

/** Quick structural check for probing: a header plus a parsable first question. */
export function plausibleDns(msg: Uint8Array): boolean {
  if (msg.length < DNS_HEADER_LENGTH + 5) return false
  const flags = u16(msg, 2)
  const opcode = (flags >> 11) & 0xf
  if (opcode > 6 || opcode === 3) return false // RFC 6895 §2.2: 0-6 assigned, 3 unassigned
  if ((flags & 0x0040) !== 0) return false // Z bit must be zero (RFC 1035 §4.1.1)
  const qd = u16(msg, 4)
  if (qd < 1 || qd > 16) return false
  if (u16(msg, 6) > 256 || u16(msg, 8) > 256 || u16(msg, 10) > 256) return false
  const q = readName(msg, DNS_HEADER_LENGTH)
  if (q === undefined || q.next + 4 > msg.length) return false
  const cls = u16(msg, q.next + 2)
  return cls === 1 || cls === 3 || cls === 4 || cls === 255 || cls === 254
}

/** Parses a whole DNS message (RFC 1035 §4.1); undefined when even the header is missing. */
export function parseDns(msg: Uint8Array): DnsMessage | undefined {
  if (msg.length < DNS_HEADER_LENGTH) return undefined
  const flags = u16(msg, 2)
  const out: DnsMessage = {
    id: u16(msg, 0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    flags,
    qdcount: u16(msg, 4),
    ancount: u16(msg, 6),
    questions: [],
    answers: [],
    malformed: false,
  }
  let pos = DNS_HEADER_LENGTH
  for (let i = 0; i < out.qdcount; i++) {
    const q = readName(msg, pos)
    if (q === undefined || q.next + 4 > msg.length) {
      out.malformed = true
      return out
    }
    if (out.questions.length < MAX_RECORDS)
      out.questions.push({ name: q.name, type: u16(msg, q.next), cls: u16(msg, q.next + 2) })
    pos = q.next + 4
  }
  for (let i = 0; i < out.ancount; i++) {
    const rr = readName(msg, pos)
    if (rr === undefined || rr.next + 10 > msg.length) {
      out.malformed = true
      return out
    }
    const type = u16(msg, rr.next)
    const rdlength = u16(msg, rr.next + 8)
    const rdstart = rr.next + 10
    if (rdstart + rdlength > msg.length) {
      out.malformed = true
      return out
    }
    if (out.answers.length < MAX_RECORDS) {
      const data = renderRdata(msg, type, rdstart, rdlength)
      if (data === undefined) out.malformed = true
      out.answers.push({
        name: rr.name,
        type,
        cls: u16(msg, rr.next + 2),
        ttl: u32(msg, rr.next + 4),
        data: data ?? typeName(type),
      })
    }
    pos = rdstart + rdlength
  }
  return out
}

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
}

/** RFC 1035 §4.1.1 / RFC 6895 §2.3 response code mnemonic. */
export const rcodeName = (rcode: number): string => RCODE_NAMES[rcode] ?? `RCODE${rcode}`
