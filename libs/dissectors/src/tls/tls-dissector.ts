import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import { list, num, str } from '../generic/attrs.js'
import type { Frame } from '../generic/framer.js'
import { LengthFramer } from '../generic/framer.js'
import type { ClientHello, ServerHello } from './handshake.js'
import {
  alertName,
  cipherName,
  ja3,
  ja4,
  parseClientHello,
  parseServerHello,
  versionName,
} from './handshake.js'

// TLS record layer (RFC 8446 §5.1, RFC 5246 §6.2.1): type, legacy version, length, fragment.
const CHANGE_CIPHER_SPEC = 20
const ALERT = 21
const HANDSHAKE = 22
const APPLICATION_DATA = 23
/** 2^14 plus the largest expansion RFC 5246 §6.2.3 allows. */
const MAX_RECORD = 16384 + 2048
/** Handshake bytes buffered per direction while looking for the hellos (ClientHellos with post-quantum key shares exceed 1 KiB). */
const MAX_HANDSHAKE_BUFFER = 64 * 1024

interface Alert {
  dir: Direction
  level: number
  description: number
  ts: number
}

/**
 * One TLS connection: the ClientHello, the ServerHello and any alert sent in the clear make one
 * entry; after that the bytes are encrypted and no longer parsed.
 */
class TlsSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #framers: [LengthFramer, LengthFramer]
  readonly #hs: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)]
  /** Records from this direction are encrypted (after its ChangeCipherSpec, or TLS 1.3 ServerHello). */
  readonly #encrypted: [boolean, boolean] = [false, false]
  readonly #bytes: [number, number] = [0, 0]
  #client: ClientHello | undefined
  #clientTs = 0
  #server: ServerHello | undefined
  #serverTs: number | undefined
  #helloRetry = false
  #alert: Alert | undefined
  #done = false
  #malformed: string | undefined

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    const frameLength = (h: Uint8Array): number => {
      const len = (h[3]! << 8) | h[4]!
      return h[1] !== 3 || len > MAX_RECORD ? -1 : 5 + len
    }
    const lost = (reason: string): void => {
      this.#malformed = reason
      this.#finish()
    }
    this.#framers = [
      new LengthFramer({
        headerLength: 5,
        frameLength,
        keep: 5 + MAX_RECORD,
        onFrame: (f) => this.#onRecord(0, f),
        onLost: lost,
      }),
      new LengthFramer({
        headerLength: 5,
        frameLength,
        keep: 5 + MAX_RECORD,
        onFrame: (f) => this.#onRecord(1, f),
        onLost: lost,
      }),
    ]
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#done) return
    this.#framers[dir].push(data, tsMs)
  }

  onGap(dir: Direction, length: number): void {
    if (!this.#done) this.#framers[dir].gap(length)
  }

  onClose(): void {
    this.#finish()
  }

  #onRecord(dir: Direction, f: Frame): void {
    if (this.#done) return
    this.#bytes[dir] += f.total
    const type = f.bytes[0]
    const payload = f.bytes.subarray(5)
    if (type === HANDSHAKE && !this.#encrypted[dir]) this.#onHandshakeBytes(dir, payload, f.ts)
    else if (type === CHANGE_CIPHER_SPEC) {
      // TLS 1.2: what follows from this side is encrypted; the server's CCS ends the visible handshake.
      // TLS 1.3 sends CCS only for middlebox compatibility (RFC 8446 §D.4).
      this.#encrypted[dir] = true
      if (dir === 1) this.#finish()
    } else if (type === ALERT && !this.#encrypted[dir] && payload.length >= 2) {
      this.#alert = { dir, level: payload[0]!, description: payload[1]!, ts: f.ts }
      this.#finish()
    } else if (type === APPLICATION_DATA) this.#finish()
  }

  #onHandshakeBytes(dir: Direction, payload: Uint8Array, ts: number): void {
    let buf = this.#hs[dir]
    if (buf.length + payload.length > MAX_HANDSHAKE_BUFFER) {
      this.#malformed = 'handshake message too large'
      return this.#finish()
    }
    const joined = new Uint8Array(buf.length + payload.length)
    joined.set(buf)
    joined.set(payload, buf.length)
    buf = joined
    // Handshake messages: msg_type, uint24 length, body (RFC 8446 §4); they may span records.
    let off = 0
    while (buf.length - off >= 4 && !this.#done && !this.#encrypted[dir]) {
      const len = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!
      if (buf.length - off < 4 + len) break
      this.#onMessage(dir, buf[off]!, buf.subarray(off + 4, off + 4 + len), ts)
      off += 4 + len
    }
    this.#hs[dir] = buf.slice(off)
  }

  #onMessage(dir: Direction, type: number, body: Uint8Array, ts: number): void {
    try {
      if (type === 1 && dir === 0) {
        // After a HelloRetryRequest the client sends a second ClientHello: it is the one that counts.
        if (this.#client === undefined || this.#helloRetry) {
          const first = this.#client === undefined
          this.#client = parseClientHello(body)
          if (first) this.#clientTs = ts
        }
      } else if (type === 2 && dir === 1) {
        const s = parseServerHello(body)
        this.#server = s
        this.#serverTs ??= ts
        this.#helloRetry = s.helloRetry
        // TLS 1.3: everything after ServerHello is encrypted with handshake keys (RFC 8446 §2).
        if (s.version === 0x0304 && !s.helloRetry) {
          this.#encrypted[1] = true
          this.#finish()
        }
      }
    } catch {
      this.#malformed = type === 1 ? 'malformed ClientHello' : 'malformed ServerHello'
      this.#finish()
    }
  }

  #finish(): void {
    if (this.#done) return
    this.#done = true
    this.#hs[0] = new Uint8Array(0)
    this.#hs[1] = new Uint8Array(0)
    const c = this.#client
    if (c === undefined) return // no ClientHello seen: nothing to report
    const s = this.#server
    const fp3 = ja3(c)
    const fp4 = ja4(c)
    const parts = ['ClientHello']
    if (this.#helloRetry && s) parts.push('HelloRetryRequest')
    else if (s) parts.push('ServerHello')
    const alert = this.#alert
    if (alert)
      parts.push(
        `Alert (${alert.level === 2 ? 'fatal' : 'warning'}, ${alertName(alert.description)})`
      )
    const info = s ? `${versionName(s.version)}, ${cipherName(s.cipher)}` : ''
    const [req, resp] = this.#bytes
    const attrs: Attr[] = [
      str('tls_summary', parts.join(', ')),
      str('tls_info', info),
      num('tls_request_size', req),
      num('tls_response_size', resp),
      num('tls_total_size', req + resp),
      str('tls_sni', c.sni ?? ''),
      list('tls_alpn', c.alpn),
      str('tls_ja3', fp3.full),
      str('tls_ja3_hash', fp3.hash),
      str('tls_ja4', fp4.ja4),
      list(
        'tls_client_versions',
        (c.supportedVersions.length > 0 ? c.supportedVersions : [c.legacyVersion])
          .filter((v) => (v & 0x0f0f) !== 0x0a0a)
          .map(versionName)
      ),
    ]
    if (s) {
      attrs.push(
        str('tls_version', versionName(s.version)),
        str('tls_cipher', cipherName(s.cipher)),
        num('tls_cipher_id', s.cipher)
      )
      if (s.alpn !== undefined) attrs.push(str('tls_alpn_selected', s.alpn))
    }
    if (alert) {
      attrs.push(
        str('tls_alert', alertName(alert.description)),
        num('tls_alert_code', alert.description),
        str('tls_alert_level', alert.level === 2 ? 'fatal' : 'warning'),
        str('tls_alert_from', alert.dir === 0 ? 'client' : 'server')
      )
    }
    const call: CallRecord = {
      proto: 'tls',
      reqTs: this.#clientTs,
      respTs: this.#serverTs ?? alert?.ts,
      method: 'ClientHello',
      path: c.sni ?? '',
      version: s
        ? versionName(s.version)
        : versionName(
            Math.max(c.legacyVersion, ...c.supportedVersions.filter((v) => (v & 0x0f0f) !== 0x0a0a))
          ),
      // A fatal alert in the clear is the handshake failing: its description is the status.
      status: alert && alert.level === 2 ? alert.description : 0,
      reqHeaderSize: req,
      respHeaderSize: resp,
      summary: [c.sni, info, alert ? `alert ${alertName(alert.description)}` : '']
        .filter((x) => x)
        .join(' · '),
      attrs,
    }
    if (this.#malformed) call.error = { type: 'dissection', message: this.#malformed }
    this.#ctx.emit(call)
  }
}

/**
 * Detection on any port: a handshake record (0x16, version 3.0-3.4) whose first message is a
 * ClientHello (type 1). Seen from the server side, the roles are swapped.
 */
function probe(data: Uint8Array, dir: Direction): ProbeVerdict {
  const expect = [HANDSHAKE, 0x03]
  for (let i = 0; i < Math.min(data.length, 2); i++) if (data[i] !== expect[i]) return 'no'
  if (data.length >= 3 && data[2]! > 0x04) return 'no'
  if (data.length < 6) return 'more'
  if (data[5] !== 1) return 'no'
  const len = (data[3]! << 8) | data[4]!
  if (len < 4 || len > MAX_RECORD) return 'no'
  return dir === 0 ? 'match' : 'match-reversed'
}

export const tlsDissector: Dissector = {
  id: 'tls',
  transport: 'tcp',
  portHints: [443, 8443, 6443, 10250, 2379, 9443],
  probe,
  newSession: (ctx) => new TlsSession(ctx),
}
