// MySQL client/server protocol basics (MySQL Source Code Documentation, "Client/Server Protocol"
// → "MySQL Packets", "Basic Data Types", "Connection Phase", "Generic Response Packets"); the
// MariaDB server speaks the same wire format.

/** A logical packet: one or more physical packets (payloads of 0xFFFFFF continue, "Sending More Than 16Mb"). */
export interface MysqlPacket {
  seq: number
  /** The first `keep` payload bytes. */
  payload: Uint8Array
  /** Whole payload length (all physical packets). */
  length: number
  /** Bytes on the wire, headers included. */
  size: number
  ts: number
}

const MAX_PAYLOAD = 0xffffff

/** Splits one direction's bytes into packets: 3-byte little-endian length, sequence id, payload. */
export class MysqlFramer {
  readonly #keep: number
  readonly #onPacket: (p: MysqlPacket) => void
  readonly #head = new Uint8Array(4)
  #headLen = 0
  #left = -1
  #partLen = 0
  #payload = new Uint8Array(0)
  #kept = 0
  #length = 0
  #size = 0
  #seq = 0
  #ts = 0
  #continuing = false

  constructor(keep: number, onPacket: (p: MysqlPacket) => void) {
    this.#keep = keep
    this.#onPacket = onPacket
  }

  reset(): void {
    this.#headLen = 0
    this.#left = -1
    this.#continuing = false
  }

  push(data: Uint8Array, tsMs: number): void {
    let i = 0
    while (i < data.length) {
      if (this.#left < 0) {
        if (this.#headLen === 0 && !this.#continuing) this.#ts = tsMs
        while (this.#headLen < 4 && i < data.length) this.#head[this.#headLen++] = data[i++]!
        if (this.#headLen < 4) return
        this.#headLen = 0
        this.#partLen = this.#head[0]! | (this.#head[1]! << 8) | (this.#head[2]! << 16)
        this.#left = this.#partLen
        if (!this.#continuing) {
          this.#seq = this.#head[3]!
          this.#payload = new Uint8Array(Math.min(this.#keep, this.#partLen))
          this.#kept = 0
          this.#length = 0
          this.#size = 0
        } else if (this.#kept < this.#keep && this.#payload.length < this.#keep) {
          const grown = new Uint8Array(Math.min(this.#keep, this.#kept + this.#partLen))
          grown.set(this.#payload.subarray(0, this.#kept))
          this.#payload = grown
        }
        this.#size += 4
      }
      const take = Math.min(this.#left, data.length - i)
      const keep = Math.min(take, this.#payload.length - this.#kept)
      if (keep > 0) {
        this.#payload.set(data.subarray(i, i + keep), this.#kept)
        this.#kept += keep
      }
      i += take
      this.#left -= take
      this.#length += take
      this.#size += take
      if (this.#left === 0) {
        this.#left = -1
        this.#continuing = this.#partLen === MAX_PAYLOAD
        if (!this.#continuing) {
          this.#onPacket({
            seq: this.#seq,
            payload: this.#payload.subarray(0, this.#kept),
            length: this.#length,
            size: this.#size,
            ts: this.#ts,
          })
        }
      }
    }
  }
}

/** Cursor over a payload: fixed and length-encoded integers, NUL-terminated strings ("Basic Data Types"). */
export class PayloadReader {
  pos: number
  readonly #b: Uint8Array

  constructor(b: Uint8Array, pos = 0) {
    this.#b = b
    this.pos = pos
  }

  get remaining(): number {
    return this.#b.length - this.pos
  }

  int(n: number): number | undefined {
    if (this.pos + n > this.#b.length) return undefined
    let v = 0
    for (let k = n - 1; k >= 0; k--) v = v * 256 + this.#b[this.pos + k]!
    this.pos += n
    return v
  }

  /** Length-encoded integer: < 0xFB itself, 0xFC 2 bytes, 0xFD 3, 0xFE 8. */
  lenenc(): number | undefined {
    const first = this.int(1)
    if (first === undefined) return undefined
    if (first < 0xfb) return first
    if (first === 0xfc) return this.int(2)
    if (first === 0xfd) return this.int(3)
    if (first === 0xfe) return this.int(8)
    return undefined // 0xFB is NULL in rows, 0xFF an error marker
  }

  cstring(decoder: Utf8Decoder): string | undefined {
    if (this.pos >= this.#b.length) return undefined
    let end = this.#b.indexOf(0, this.pos)
    if (end < 0) end = this.#b.length
    const s = decoder.decode(this.#b.subarray(this.pos, end))
    this.pos = end + 1
    return s
  }

  skip(n: number): void {
    this.pos += n
  }

  rest(decoder: Utf8Decoder): string {
    const s = this.pos < this.#b.length ? decoder.decode(this.#b.subarray(this.pos)) : ''
    this.pos = this.#b.length
    return s
  }
}

// Capability flags ("Capabilities Flags").
export const CLIENT_CONNECT_WITH_DB = 0x8
export const CLIENT_PROTOCOL_41 = 0x200
export const CLIENT_SSL = 0x800
export const CLIENT_SECURE_CONNECTION = 0x8000
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000
export const CLIENT_DEPRECATE_EOF = 0x1000000
/** Server status flag: another result set follows ("SERVER_MORE_RESULTS_EXISTS"). */
export const SERVER_MORE_RESULTS_EXISTS = 0x8

/** Command bytes ("Text Protocol", "Prepared Statements", "Utility Commands"). */
export const COMMANDS: Record<number, string> = {
  0x00: 'COM_SLEEP',
  0x01: 'COM_QUIT',
  0x02: 'COM_INIT_DB',
  0x03: 'COM_QUERY',
  0x04: 'COM_FIELD_LIST',
  0x05: 'COM_CREATE_DB',
  0x06: 'COM_DROP_DB',
  0x07: 'COM_REFRESH',
  0x08: 'COM_SHUTDOWN',
  0x09: 'COM_STATISTICS',
  0x0a: 'COM_PROCESS_INFO',
  0x0c: 'COM_PROCESS_KILL',
  0x0d: 'COM_DEBUG',
  0x0e: 'COM_PING',
  0x11: 'COM_CHANGE_USER',
  0x12: 'COM_BINLOG_DUMP',
  0x16: 'COM_STMT_PREPARE',
  0x17: 'COM_STMT_EXECUTE',
  0x18: 'COM_STMT_SEND_LONG_DATA',
  0x19: 'COM_STMT_CLOSE',
  0x1a: 'COM_STMT_RESET',
  0x1b: 'COM_SET_OPTION',
  0x1c: 'COM_STMT_FETCH',
  0x1f: 'COM_RESET_CONNECTION',
  0xfa: 'COM_BULK_EXECUTE',
}

export interface ErrPacket {
  code: number
  sqlState: string
  message: string
}

/** ERR_Packet: 0xFF, error code (2), '#' + SQL state (5) with CLIENT_PROTOCOL_41, message. */
export function parseErr(p: Uint8Array, decoder: Utf8Decoder): ErrPacket {
  const r = new PayloadReader(p, 1)
  const code = r.int(2) ?? 0
  let sqlState = ''
  if (p[r.pos] === 0x23) {
    sqlState = decoder.decode(p.subarray(r.pos + 1, r.pos + 6))
    r.skip(6)
  }
  return { code, sqlState, message: r.rest(decoder) }
}

/** OK_Packet (0x00 or 0xFE header): affected rows, last insert id, status flags. */
export function parseOk(p: Uint8Array): { affected: number; status: number } {
  const r = new PayloadReader(p, 1)
  const affected = r.lenenc() ?? 0
  r.lenenc()
  return { affected, status: r.int(2) ?? 0 }
}

/** EOF_Packet: 0xFE, warnings (2), status flags (2). */
export function parseEofStatus(p: Uint8Array): number {
  const r = new PayloadReader(p, 3)
  return r.int(2) ?? 0
}

/** The part of TextDecoder these readers use. */
export interface Utf8Decoder {
  decode(input: Uint8Array): string
}
