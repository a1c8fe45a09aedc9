import type { Attr } from '@tapwire/wire'
import type { Direction } from '@tapwire/reassembly'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import type { ErrPacket, MysqlPacket } from './mysql-packets.js'
import {
  CLIENT_CONNECT_WITH_DB,
  CLIENT_DEPRECATE_EOF,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SSL,
  COMMANDS,
  MysqlFramer,
  parseEofStatus,
  parseErr,
  parseOk,
  PayloadReader,
  SERVER_MORE_RESULTS_EXISTS,
} from './mysql-packets.js'

const KEEP_CLIENT = 16 * 1024
const KEEP_SERVER = 1024
const MAX_QUERY_CHARS = 4096
const MAX_STATEMENTS = 1024

type Expect = 'simple' | 'resultset' | 'prepare' | 'fieldlist' | 'auth' | 'rows' | 'none'
type Phase = 'first' | 'columns' | 'coleof' | 'rows' | 'defs' | 'done'

interface Command {
  name: string
  query: string
  stmtId: number | undefined
  reqSize: number
  reqTs: number
  respSize: number
  respTs: number | undefined
  expect: Expect
  phase: Phase
  /** Column definitions (or prepare definitions and EOFs) still to come. */
  left: number
  rows: number
  affected: number
  resultSets: number
  error: ErrPacket | undefined
  /** Statement id and parameter count from COM_STMT_PREPARE's OK. */
  prepared: { id: number; params: number; columns: number } | undefined
}

const decoder = new TextDecoder('utf-8', { fatal: false })
const bound = (s: string): string =>
  s.length > MAX_QUERY_CHARS ? s.slice(0, MAX_QUERY_CHARS) + '…' : s

/** What the server sends back for each command ("Command Phase"). */
function expectFor(cmd: number): Expect {
  switch (cmd) {
    case 0x03: // COM_QUERY: OK, ERR, LOCAL INFILE or a text result set
    case 0x17: // COM_STMT_EXECUTE: OK, ERR or a binary result set
    case 0x0a: // COM_PROCESS_INFO
    case 0xfa:
      return 'resultset'
    case 0x16:
      return 'prepare'
    case 0x04:
      return 'fieldlist'
    case 0x11:
      return 'auth'
    case 0x1c: // COM_STMT_FETCH: rows then EOF
      return 'rows'
    case 0x01: // COM_QUIT: the server closes
    case 0x18: // COM_STMT_SEND_LONG_DATA: no response
    case 0x19: // COM_STMT_CLOSE: no response
      return 'none'
    default:
      return 'simple'
  }
}

/** One MySQL/MariaDB connection: handshake, then one command at a time. */
class MysqlSession implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #client: MysqlFramer
  readonly #server: MysqlFramer
  readonly #pending: Command[] = []
  readonly #statements = new Map<number, string>()
  #phase: 'greeting' | 'login' | 'auth' | 'command' | 'encrypted'
  #serverCaps = 0
  #clientCaps = 0
  #database = ''
  #user = ''
  #login: Command | undefined

  constructor(ctx: SessionContext) {
    this.#ctx = ctx
    this.#client = new MysqlFramer(KEEP_CLIENT, (p) => this.#onClient(p))
    this.#server = new MysqlFramer(KEEP_SERVER, (p) => this.#onServer(p))
    this.#phase = 'greeting'
  }

  get #deprecateEof(): boolean {
    return (this.#serverCaps & this.#clientCaps & CLIENT_DEPRECATE_EOF) !== 0
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#phase === 'encrypted') return
    if (dir === 0) this.#client.push(data, tsMs)
    else this.#server.push(data, tsMs)
  }

  onGap(): void {
    this.#phase = 'encrypted' // framing lost: stop, as with TLS
    this.#flush({ type: 'dissection', message: 'capture gap' })
  }

  onClose(): void {
    this.#flush({ type: 'connection', message: 'connection closed before a response' })
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    while (this.#pending.length > 0) {
      const c = this.#pending[0]!
      if (c.respTs !== undefined || nowMs - c.reqTs < timeout) break
      this.#pending.shift()
      this.#emit(c, { type: 'timeout', message: `no response within ${timeout} ms` })
    }
  }

  #flush(error: CallRecord['error']): void {
    if (this.#login) this.#emit(this.#login, error)
    this.#login = undefined
    for (const c of this.#pending.splice(0)) this.#emit(c, error)
  }

  #newCommand(name: string, p: MysqlPacket, expect: Expect): Command {
    return {
      name,
      query: '',
      stmtId: undefined,
      reqSize: p.size,
      reqTs: p.ts,
      respSize: 0,
      respTs: undefined,
      expect,
      phase: expect === 'rows' ? 'rows' : 'first',
      left: 0,
      rows: 0,
      affected: 0,
      resultSets: 0,
      error: undefined,
      prepared: undefined,
    }
  }

  #onClient(p: MysqlPacket): void {
    if (this.#phase === 'greeting' || this.#phase === 'login') {
      if (p.seq === 0 && this.#phase === 'greeting') return this.#onCommand(p) // picked up mid-connection
      return this.#onLoginRequest(p)
    }
    if (this.#phase === 'auth') {
      // Auth switch / more-data answers belong to the login exchange.
      if (this.#login) this.#login.reqSize += p.size
      return
    }
    if (p.seq !== 0) {
      // Not a new command: LOCAL INFILE contents, COM_CHANGE_USER auth data.
      const c = this.#pending[this.#pending.length - 1]
      if (c) c.reqSize += p.size
      return
    }
    this.#onCommand(p)
  }

  /** HandshakeResponse41 ("Protocol::HandshakeResponse41"), or the SSLRequest that precedes TLS. */
  #onLoginRequest(p: MysqlPacket): void {
    const r = new PayloadReader(p.payload)
    const caps = r.int(4) ?? 0
    this.#clientCaps = caps
    const login = this.#newCommand('Handshake', p, 'auth')
    if ((caps & CLIENT_SSL) !== 0 && p.length === 32) {
      // SSLRequest: the rest of the connection is TLS.
      this.#phase = 'encrypted'
      login.query = 'TLS'
      this.#emit(login)
      return
    }
    if ((caps & CLIENT_PROTOCOL_41) !== 0) {
      r.skip(4 + 1 + 23) // max packet size, character set, filler
      this.#user = r.cstring(decoder) ?? ''
      if ((caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) !== 0) r.skip(r.lenenc() ?? 0)
      else if ((caps & CLIENT_SECURE_CONNECTION) !== 0) r.skip(r.int(1) ?? 0)
      else r.cstring(decoder)
      if ((caps & CLIENT_CONNECT_WITH_DB) !== 0) this.#database = r.cstring(decoder) ?? ''
    }
    this.#login = login
    this.#phase = 'auth'
  }

  #onCommand(p: MysqlPacket): void {
    const cmd = p.payload[0]
    if (cmd === undefined) return
    this.#phase = 'command'
    const name = COMMANDS[cmd] ?? `COM_0x${cmd.toString(16).padStart(2, '0')}`
    const c = this.#newCommand(name, p, expectFor(cmd))
    const r = new PayloadReader(p.payload, 1)
    switch (cmd) {
      case 0x03: // COM_QUERY (MariaDB and MySQL without query attributes: the rest is the text)
      case 0x16: // COM_STMT_PREPARE
        c.query = bound(r.rest(decoder))
        break
      case 0x02: // COM_INIT_DB
        c.query = r.rest(decoder)
        break
      case 0x17: // COM_STMT_EXECUTE: statement id (4), flags, iteration count, parameters
      case 0x18: // COM_STMT_SEND_LONG_DATA
      case 0x19: // COM_STMT_CLOSE
      case 0x1a: // COM_STMT_RESET
      case 0x1c: // COM_STMT_FETCH
      case 0xfa: {
        c.stmtId = r.int(4)
        c.query = c.stmtId !== undefined ? (this.#statements.get(c.stmtId) ?? '') : ''
        if (cmd === 0x19 && c.stmtId !== undefined) this.#statements.delete(c.stmtId)
        break
      }
    }
    if (c.expect === 'none') {
      // No response is ever sent for these.
      c.phase = 'done'
      this.#emit(c)
      return
    }
    if (this.#pending.length >= this.#ctx.limits.maxPendingRequests) {
      this.#emit(this.#pending.shift()!, {
        type: 'pair-not-found',
        message: 'too many commands waiting for a response',
      })
    }
    this.#pending.push(c)
  }

  #onServer(p: MysqlPacket): void {
    const b0 = p.payload[0]
    if (this.#phase === 'greeting') {
      if (b0 === 0x0a) this.#onGreeting(p)
      else if (b0 === 0xff) this.#phase = 'command' // "Host is not allowed": ERR instead of a greeting
      return
    }
    if (this.#phase === 'auth' || (this.#phase === 'login' && this.#login)) {
      const login = this.#login
      if (login) {
        login.respSize += p.size
        login.respTs ??= p.ts
      }
      // OK or ERR ends authentication; 0xFE AuthSwitchRequest and 0x01 AuthMoreData continue it.
      if (b0 === 0x00 || b0 === 0xff) {
        if (login) {
          if (b0 === 0xff) login.error = parseErr(p.payload, decoder)
          this.#emit(login)
        }
        this.#login = undefined
        this.#phase = 'command'
      }
      return
    }
    const c = this.#pending[0]
    if (c === undefined) return
    c.respSize += p.size
    c.respTs ??= p.ts
    if (this.#advance(c, p, b0)) {
      this.#pending.shift()
      this.#emit(c)
    }
  }

  /** Protocol::HandshakeV10: capabilities from the two halves of the flags. */
  #onGreeting(p: MysqlPacket): void {
    const r = new PayloadReader(p.payload, 1)
    r.cstring(decoder) // server version
    r.skip(4 + 8 + 1) // thread id, auth-plugin-data-part-1, filler
    const low = r.int(2) ?? 0
    r.skip(1 + 2) // character set, status flags
    const high = r.int(2) ?? 0
    this.#serverCaps = low | (high << 16)
    this.#phase = 'login'
  }

  /** Feeds one response packet to the command's state machine; true when the response is complete. */
  #advance(c: Command, p: MysqlPacket, b0: number | undefined): boolean {
    const payload = p.payload
    const isErr = b0 === 0xff
    const isEof = b0 === 0xfe && (this.#deprecateEof ? p.length < 0xffffff : p.length < 9)
    switch (c.phase) {
      case 'first': {
        if (isErr) {
          c.error = parseErr(payload, decoder)
          return true
        }
        if (c.expect === 'simple' || c.expect === 'auth') {
          // COM_CHANGE_USER may switch auth methods (0xFE / 0x01) before its OK.
          return c.expect === 'simple' || b0 === 0x00
        }
        if (c.expect === 'fieldlist') {
          c.phase = 'rows'
          return isEof
        }
        if (c.expect === 'prepare') {
          if (b0 !== 0x00) return true
          // COM_STMT_PREPARE_OK: status, statement id (4), columns (2), params (2), filler, warnings.
          const r = new PayloadReader(payload, 1)
          const id = r.int(4) ?? 0
          const columns = r.int(2) ?? 0
          const params = r.int(2) ?? 0
          c.prepared = { id, params, columns }
          c.stmtId = id
          if (this.#statements.size >= MAX_STATEMENTS)
            this.#statements.delete(this.#statements.keys().next().value!)
          this.#statements.set(id, c.query)
          const eofs = this.#deprecateEof ? 0 : (params > 0 ? 1 : 0) + (columns > 0 ? 1 : 0)
          c.left = params + columns + eofs
          c.phase = 'defs'
          return c.left === 0
        }
        // Result set or OK ("COM_QUERY Response").
        if (b0 === 0x00 || isEof) {
          const ok =
            b0 === 0x00 ? parseOk(payload) : { affected: 0, status: parseEofStatus(payload) }
          c.affected += ok.affected
          return (ok.status & SERVER_MORE_RESULTS_EXISTS) === 0
        }
        if (b0 === 0xfb) return false // LOCAL INFILE request: the client sends the file, then OK
        const n = new PayloadReader(payload).lenenc() ?? 0
        c.resultSets++
        c.left = n
        c.phase = n > 0 ? 'columns' : 'rows'
        return false
      }
      case 'columns':
        if (isErr) {
          c.error = parseErr(payload, decoder)
          return true
        }
        if (--c.left <= 0) c.phase = this.#deprecateEof ? 'rows' : 'coleof'
        return false
      case 'coleof':
        c.phase = 'rows'
        return false
      case 'rows': {
        if (isErr) {
          c.error = parseErr(payload, decoder)
          return true
        }
        if (!isEof) {
          c.rows++
          return false
        }
        const status = this.#deprecateEof ? parseOk(payload).status : parseEofStatus(payload)
        if ((status & SERVER_MORE_RESULTS_EXISTS) !== 0 && c.expect === 'resultset') {
          c.phase = 'first'
          return false
        }
        return true
      }
      case 'defs':
        return --c.left <= 0
      default:
        return true
    }
  }

  #emit(c: Command, error?: CallRecord['error']): void {
    if (c.name === 'COM_INIT_DB' && c.error === undefined && c.respTs !== undefined)
      this.#database = c.query
    else if (c.name === 'COM_QUERY' && c.error === undefined && c.respTs !== undefined) {
      const use = /^\s*use\s+`?([^`;\s]+)`?/i.exec(c.query)
      if (use) this.#database = use[1]!
    }
    const noResponse = c.expect === 'none'
    const failed =
      c.error !== undefined || (error !== undefined && !(noResponse || c.name === 'COM_QUIT'))
    const attrs: Attr[] = [
      { name: 'mysql_command', str: c.name },
      {
        name: 'mysql_query',
        str: c.name === 'COM_INIT_DB' || c.name === 'Handshake' ? '' : c.query,
      },
      { name: 'mysql_database', str: this.#database },
      { name: 'mysql_request_size', num: c.reqSize },
      { name: 'mysql_response_size', num: c.respSize },
      { name: 'mysql_total_size', num: c.reqSize + c.respSize },
      { name: 'mysql_success', flag: !failed },
    ]
    if (c.stmtId !== undefined) attrs.push({ name: 'mysql_statement_id', num: c.stmtId })
    if (c.error)
      attrs.push(
        { name: 'mysql_error_code', num: c.error.code },
        { name: 'mysql_error_message', str: c.error.message }
      )
    let summary = c.name === 'Handshake' ? `${this.#user}@${this.#database}` : c.query || c.name
    if (summary.length > 160) summary = summary.slice(0, 160) + '…'
    if (c.error) summary += ` → ERROR ${c.error.code} (${c.error.sqlState}): ${c.error.message}`
    else if (c.prepared) summary += ` → statement ${c.prepared.id} (${c.prepared.params} params)`
    else if (c.resultSets > 0) summary += ` → ${c.rows} rows`
    else if (c.respTs !== undefined && c.expect === 'resultset')
      summary += ` → OK, ${c.affected} affected`
    const path = c.name === 'Handshake' ? this.#database : c.query
    const call: CallRecord = {
      proto: 'mysql',
      reqTs: c.reqTs,
      respTs: c.respTs,
      method: c.name,
      path,
      status: failed ? 1 : 0,
      reqBodySize: c.reqSize,
      respBodySize: c.respSize,
      summary,
      attrs,
    }
    if (error && !noResponse && c.name !== 'COM_QUIT') call.error = error
    this.#ctx.emit(call)
  }
}

/** The server greeting (Protocol::HandshakeV10) from the server, or a command on port 3306. */
function probeMysql(d: Uint8Array, dir: Direction, serverPort: number): ProbeVerdict {
  if (d.length < 5) return 'more'
  const len = d[0]! | (d[1]! << 8) | (d[2]! << 16)
  if (d[3] !== 0 || len < 2) return 'no'
  if (d[4] === 0x0a) {
    // Protocol version 10, then a printable NUL-terminated version ("10.11.6-MariaDB", "8.0.36").
    let i = 5
    while (i < d.length && i < 5 + 64 && d[i] !== 0) {
      if (d[i]! < 0x20 || d[i]! > 0x7e) return 'no'
      i++
    }
    if (i >= d.length) return d.length < 5 + 64 ? 'more' : 'no'
    if (i === 5 || !(d[5]! >= 0x30 && d[5]! <= 0x39) || len < i - 4 + 13) return 'no'
    return dir === 1 ? 'match' : 'match-reversed'
  }
  if (dir === 0 && serverPort === 3306 && COMMANDS[d[4]!] !== undefined && len < 0xffffff)
    return 'match'
  return 'no'
}

/** MySQL / MariaDB client/server protocol over TCP (no TLS), port 3306 first and any port by content. */
export const mysqlDissector: Dissector = {
  id: 'mysql',
  transport: 'tcp',
  portHints: [3306, 3307, 33060],
  probe: (data, dir, conn) => probeMysql(data, dir, conn.server.port),
  newSession: (ctx) => new MysqlSession(ctx),
}
