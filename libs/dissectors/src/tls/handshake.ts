// TLS handshake parsing (RFC 8446 §4.1.2-4.1.3, RFC 5246 §7.4.1) and client fingerprints:
// JA3 (github.com/salesforce/ja3) and JA4 (github.com/FoxIO-LLC/ja4, technical_details/JA4.md).
import { Reader, text } from '../generic/framer.js'
import { md5Hex, sha256Hex } from './hash.js'

export interface ClientHello {
  legacyVersion: number
  ciphers: number[]
  /** Extension types in wire order. */
  extensions: number[]
  sni?: string
  alpn: string[]
  supportedVersions: number[]
  groups: number[]
  pointFormats: number[]
  signatureAlgorithms: number[]
}

export interface ServerHello {
  legacyVersion: number
  cipher: number
  /** supported_versions (TLS 1.3) or legacy_version. */
  version: number
  alpn?: string
  helloRetry: boolean
}

/** RFC 8701: GREASE values are 0x?a?a with both bytes equal; fingerprints ignore them. */
export const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff)

const u16s = (r: Reader, bytes: number): number[] => {
  const out: number[] = []
  for (let i = 0; i + 1 < bytes; i += 2) out.push(r.u16())
  return out
}

export function parseClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body)
  const h: ClientHello = {
    legacyVersion: r.u16(),
    ciphers: [],
    extensions: [],
    alpn: [],
    supportedVersions: [],
    groups: [],
    pointFormats: [],
    signatureAlgorithms: [],
  }
  r.skip(32)
  r.skip(r.u8())
  h.ciphers = u16s(r, r.u16())
  r.skip(r.u8())
  if (r.left < 2) return h
  const end = r.pos + r.u16()
  while (r.pos + 4 <= end) {
    const type = r.u16()
    const len = r.u16()
    const e = new Reader(r.bytes(len))
    h.extensions.push(type)
    try {
      if (type === 0) {
        e.u16()
        if (e.u8() === 0) h.sni = text(e.bytes(e.u16()))
      } else if (type === 16) {
        const listEnd = e.u16() + 2
        while (e.pos < listEnd) h.alpn.push(text(e.bytes(e.u8())))
      } else if (type === 43) {
        h.supportedVersions = u16s(e, e.u8())
      } else if (type === 10) {
        h.groups = u16s(e, e.u16())
      } else if (type === 11) {
        const n = e.u8()
        for (let i = 0; i < n; i++) h.pointFormats.push(e.u8())
      } else if (type === 13) {
        h.signatureAlgorithms = u16s(e, e.u16())
      }
    } catch {
      // A malformed extension body: keep its type, skip its content.
    }
  }
  return h
}

/** SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3): a ServerHello with this random is an HRR. */
const HRR_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'

export function parseServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body)
  const legacyVersion = r.u16()
  const random = r.bytes(32)
  let rnd = ''
  for (const b of random) rnd += (b < 16 ? '0' : '') + b.toString(16)
  r.skip(r.u8())
  const s: ServerHello = {
    legacyVersion,
    cipher: r.u16(),
    version: legacyVersion,
    helloRetry: rnd === HRR_RANDOM,
  }
  r.skip(1)
  if (r.left < 2) return s
  const end = r.pos + r.u16()
  while (r.pos + 4 <= end) {
    const type = r.u16()
    const e = new Reader(r.bytes(r.u16()))
    try {
      if (type === 43) s.version = e.u16()
      else if (type === 16) {
        e.u16()
        s.alpn = text(e.bytes(e.u8()))
      }
    } catch {
      // ignore a malformed extension
    }
  }
  return s
}

export function versionName(v: number): string {
  switch (v) {
    case 0x0300:
      return 'SSL 3.0'
    case 0x0301:
      return 'TLS 1.0'
    case 0x0302:
      return 'TLS 1.1'
    case 0x0303:
      return 'TLS 1.2'
    case 0x0304:
      return 'TLS 1.3'
    default:
      return `0x${v.toString(16).padStart(4, '0')}`
  }
}

/** JA3: SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats in decimal, GREASE removed. */
export function ja3(h: ClientHello): { full: string; hash: string } {
  const list = (xs: number[]): string => xs.filter((x) => !isGrease(x)).join('-')
  const full = [
    String(h.legacyVersion),
    list(h.ciphers),
    list(h.extensions),
    list(h.groups),
    h.pointFormats.join('-'),
  ].join(',')
  return { full, hash: md5Hex(full) }
}

const hex4 = (v: number): string => v.toString(16).padStart(4, '0')

const JA4_VERSIONS: Record<number, string> = {
  0x0304: '13',
  0x0303: '12',
  0x0302: '11',
  0x0301: '10',
  0x0300: 's3',
  0x0002: 's2',
}

/** JA4 (TLS over TCP) and its raw form JA4_r. */
export function ja4(
  h: ClientHello,
  transport: 't' | 'q' | 'd' = 't'
): { ja4: string; raw: string } {
  const versions = h.supportedVersions.filter((v) => !isGrease(v))
  const version =
    JA4_VERSIONS[versions.length > 0 ? Math.max(...versions) : h.legacyVersion] ?? '00'
  const ciphers = h.ciphers.filter((c) => !isGrease(c))
  const exts = h.extensions.filter((e) => !isGrease(e))
  const count = (n: number): string => String(Math.min(n, 99)).padStart(2, '0')
  let alpn = '00'
  const first = h.alpn[0]
  if (first !== undefined && first.length > 0) {
    const a = first[0]!
    const z = first[first.length - 1]!
    if (/^[A-Za-z0-9]$/.test(a) && /^[A-Za-z0-9]$/.test(z)) alpn = a + z
    else {
      // Non-alphanumeric: first and last characters of the value's hex (JA4.md, "ALPN Extension Value").
      const hx = [...new TextEncoder().encode(first)]
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('')
      alpn = hx[0]! + hx[hx.length - 1]!
    }
  }
  const a = `${transport}${version}${h.sni !== undefined ? 'd' : 'i'}${count(ciphers.length)}${count(exts.length)}${alpn}`
  const cipherList = ciphers.map(hex4).sort().join(',')
  // Sorted extensions without SNI (0x0000) and ALPN (0x0010), then the signature algorithms in wire order.
  const extList = exts
    .filter((e) => e !== 0 && e !== 0x10)
    .map(hex4)
    .sort()
    .join(',')
  const sigs = h.signatureAlgorithms
    .filter((s) => !isGrease(s))
    .map(hex4)
    .join(',')
  const c = sigs === '' ? extList : `${extList}_${sigs}`
  const trunc = (s: string, empty: boolean): string =>
    empty ? '000000000000' : sha256Hex(s).slice(0, 12)
  return {
    ja4: `${a}_${trunc(cipherList, ciphers.length === 0)}_${trunc(c, extList === '')}`,
    raw: `${a}_${cipherList}_${c}`,
  }
}

/** IANA TLS cipher suite names for the common suites; others print as hex. */
const CIPHERS: Record<number, string> = {
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xccaa: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc023: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  0xc024: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  0x009f: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x003c: 'TLS_RSA_WITH_AES_128_CBC_SHA256',
  0x003d: 'TLS_RSA_WITH_AES_256_CBC_SHA256',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
}

export const cipherName = (c: number): string => CIPHERS[c] ?? `0x${hex4(c)}`

/** RFC 8446 §6 / RFC 5246 §7.2 alert descriptions. */
const ALERTS: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  21: 'decryption_failed',
  22: 'record_overflow',
  30: 'decompression_failure',
  40: 'handshake_failure',
  41: 'no_certificate',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  60: 'export_restriction',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  100: 'no_renegotiation',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  113: 'bad_certificate_status_response',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
}

export const alertName = (d: number): string => ALERTS[d] ?? `alert_${d}`
