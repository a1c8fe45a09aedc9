import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  recordLoopback,
  requireTool,
  startMariadb,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Attr, Entry } from '@tapwire/wire'
import { COMMANDS } from './mysql-packets.js'
import { mysqlDissector } from './mysql-dissector.js'

const run = promisify(execFile)
const attr = (e: Entry, name: string): Attr | undefined => e.attrs?.find((a) => a.name === name)

/**
 * A minimal binary-protocol client: the mariadb CLI only speaks COM_QUERY, and PREPARE/EXECUTE in
 * SQL are COM_QUERY too, so COM_STMT_PREPARE/EXECUTE/CLOSE come from here (mysql_native_password
 * login, no CLIENT_DEPRECATE_EOF, so EOF packets appear; the CLI negotiates its own flags).
 */
class BinaryClient {
  readonly #sock: Socket
  #buf = Buffer.alloc(0)
  #waiters: (() => void)[] = []

  private constructor(sock: Socket) {
    this.#sock = sock
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d])
      for (const w of this.#waiters.splice(0)) w()
    })
  }

  static async connect(
    port: number,
    user: string,
    password: string,
    db: string
  ): Promise<BinaryClient> {
    const sock = connect(port, '127.0.0.1')
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j))
    const c = new BinaryClient(sock)
    const greeting = (await c.read()).payload
    let p = greeting.indexOf(0, 1) + 1 + 4
    const salt1 = greeting.subarray(p, p + 8)
    p += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    const salt2 = greeting.subarray(p, p + 12)
    const token = nativePassword(password, Buffer.concat([salt1, salt2]))
    // LONG_PASSWORD | CONNECT_WITH_DB | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | MULTI_RESULTS | PLUGIN_AUTH
    const caps = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000
    const head = Buffer.alloc(32)
    head.writeUInt32LE(caps, 0)
    head.writeUInt32LE(1 << 24, 4)
    head[8] = 33
    c.write(
      1,
      Buffer.concat([
        head,
        Buffer.from(user + '\0'),
        Buffer.from([token.length]),
        token,
        Buffer.from(db + '\0'),
        Buffer.from('mysql_native_password\0'),
      ])
    )
    const reply = await c.read()
    if (reply.payload[0] === 0xfe) {
      // AuthSwitchRequest: plugin name, then a fresh salt.
      const at = reply.payload.indexOf(0, 1) + 1
      c.write(reply.seq + 1, nativePassword(password, reply.payload.subarray(at, at + 20)))
      await c.read()
    }
    return c
  }

  write(seq: number, payload: Buffer): void {
    const h = Buffer.alloc(4)
    h.writeUIntLE(payload.length, 0, 3)
    h[3] = seq
    this.#sock.write(Buffer.concat([h, payload]))
  }

  async read(): Promise<{ seq: number; payload: Buffer }> {
    for (;;) {
      if (this.#buf.length >= 4) {
        const len = this.#buf.readUIntLE(0, 3)
        if (this.#buf.length >= 4 + len) {
          const out = { seq: this.#buf[3]!, payload: this.#buf.subarray(4, 4 + len) }
          this.#buf = this.#buf.subarray(4 + len)
          return out
        }
      }
      await new Promise<void>((r) => this.#waiters.push(r))
    }
  }

  /** Reads a response: OK/ERR, or a result set up to its second EOF. */
  async result(): Promise<Buffer> {
    const first = (await this.read()).payload
    if (first[0] === 0x00 || first[0] === 0xff) return first
    for (let eofs = 0; eofs < 2;) {
      const p = (await this.read()).payload
      if (p[0] === 0xff) return p
      if (p[0] === 0xfe && p.length < 9) eofs++
    }
    return first
  }

  async prepare(sql: string): Promise<number> {
    this.write(0, Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]))
    const ok = (await this.read()).payload
    if (ok[0] !== 0x00) throw new Error('prepare failed: ' + ok.subarray(3).toString())
    const id = ok.readUInt32LE(1)
    const columns = ok.readUInt16LE(5)
    const params = ok.readUInt16LE(7)
    for (let n = params + columns + (params > 0 ? 1 : 0) + (columns > 0 ? 1 : 0); n > 0; n--)
      await this.read()
    return id
  }

  /** COM_STMT_EXECUTE with one LONGLONG parameter. */
  async execute(id: number, value: bigint): Promise<Buffer> {
    const p = Buffer.alloc(1 + 4 + 1 + 4 + 1 + 1 + 2 + 8)
    p[0] = 0x17
    p.writeUInt32LE(id, 1)
    p[5] = 0 // CURSOR_TYPE_NO_CURSOR
    p.writeUInt32LE(1, 6) // iteration count
    p[10] = 0 // NULL bitmap
    p[11] = 1 // new params bound
    p.writeUInt16LE(0x08, 12) // MYSQL_TYPE_LONGLONG
    p.writeBigInt64LE(value, 14)
    this.write(0, p)
    return this.result()
  }

  close(id: number): void {
    const p = Buffer.alloc(5)
    p[0] = 0x19
    p.writeUInt32LE(id, 1)
    this.write(0, p)
  }

  async simple(cmd: number, arg = ''): Promise<Buffer> {
    this.write(0, Buffer.concat([Buffer.from([cmd]), Buffer.from(arg)]))
    return (await this.read()).payload
  }

  async quit(): Promise<void> {
    this.write(0, Buffer.from([0x01]))
    await new Promise<void>((r) => this.#sock.end(r))
  }
}

function nativePassword(password: string, salt: Buffer): Buffer {
  // mysql_native_password: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest()
  const h1 = sha1(Buffer.from(password))
  const h2 = sha1(Buffer.concat([salt, sha1(h1)]))
  return Buffer.from(h1.map((b, i) => b ^ h2[i]!))
}

// Real mariadb CLI traffic (COM_QUERY, COM_INIT_DB, COM_QUIT, result sets, errors) plus the
// binary-protocol client above, against a real MariaDB; tshark's MySQL dissector is the oracle.
describe('MySQL/MariaDB against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'mysql.pcap')
  let result: AnalyzeResult
  let port = 0
  let decodeAs: string[] = []
  let stmtId = 0

  beforeAll(async () => {
    const cli = requireTool('mariadb', 'mariadb-client')
    const db = await startMariadb()
    port = db.port
    decodeAs = ['-d', `tcp.port==${port},mysql`, '-E', 'aggregator=|']
    const sql = (q: string, dbName = db.database): Promise<unknown> =>
      run(cli, [...db.clientArgs, '-D', dbName, '-e', q])
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        await sql('CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))')
        await sql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        await sql('SELECT id, name FROM t ORDER BY id')
        await sql('SELECT * FROM nope').catch(() => undefined)
        await sql('use appdb; SELECT DATABASE()', 'mysql')
        const c = await BinaryClient.connect(port, db.user, db.password, db.database)
        stmtId = await c.prepare('SELECT id, name FROM t WHERE id > ?')
        await c.execute(stmtId, 1n)
        await c.execute(stmtId, 0n)
        await c.execute(9999, 0n) // unknown statement: ERR
        c.close(stmtId)
        await c.simple(0x0e) // COM_PING
        await c.simple(0x02, 'appdb') // COM_INIT_DB
        await c.simple(0x02, 'nope') // COM_INIT_DB: ERR 1049
        await c.quit()
      })
    } finally {
      await db.stop()
    }
    result = await analyzeFile(file, { dissectors: [mysqlDissector] })
  }, 90_000)

  afterAll(() => dir.dispose())

  it('one entry per command tshark sees, same command and query', async () => {
    const rows = await tsharkFields(
      file,
      'mysql.command',
      ['mysql.command', 'mysql.query'],
      decodeAs
    )
    const theirs = rows.flatMap((r) => {
      const cmds = r[0]!.split('|')
      const queries = (r[1] ?? '').split('|')
      let qi = 0
      return cmds.map((c) => {
        const name = COMMANDS[Number(c)] ?? c
        return name === 'COM_QUERY' || name === 'COM_STMT_PREPARE'
          ? `${name} ${queries[qi++]}`
          : name
      })
    })
    const ours = result.entries
      .filter((e) => e.method !== 'Handshake')
      .map((e) =>
        e.method === 'COM_QUERY' || e.method === 'COM_STMT_PREPARE'
          ? `${e.method} ${e.path}`
          : e.method!
      )
    expect(ours.sort()).toEqual(theirs.sort())
    for (const c of [
      'COM_QUERY',
      'COM_INIT_DB',
      'COM_PING',
      'COM_QUIT',
      'COM_STMT_PREPARE',
      'COM_STMT_EXECUTE',
      'COM_STMT_CLOSE',
    ]) {
      expect(
        ours.some((o) => o.startsWith(c)),
        c
      ).toBe(true)
    }
  })

  it('statement ids match tshark, executes carry the prepared query', async () => {
    const rows = await tsharkFields(file, 'mysql.stmt_id', ['mysql.stmt_id'], decodeAs)
    const theirs = rows.flatMap((r) => r[0]!.split('|')).map(Number)
    expect(theirs).toContain(stmtId)
    const ours = result.entries.filter((e) => attr(e, 'mysql_statement_id') !== undefined)
    expect(ours.map((e) => attr(e, 'mysql_statement_id')!.num).sort()).toEqual([...theirs].sort())
    const execs = ours.filter((e) => e.method === 'COM_STMT_EXECUTE')
    expect(execs.map((e) => `${e.path}|${e.status}|${e.summary}`)).toEqual([
      'SELECT id, name FROM t WHERE id > ?|0|SELECT id, name FROM t WHERE id > ? → 2 rows',
      'SELECT id, name FROM t WHERE id > ?|0|SELECT id, name FROM t WHERE id > ? → 3 rows',
      '|1|COM_STMT_EXECUTE → ERROR 1243 (HY000): Unknown prepared statement handler (9999) given to mysqld_stmt_execute',
    ])
    const close = result.entries.find((e) => e.method === 'COM_STMT_CLOSE')!
    expect(close.errorType).toBe('')
    expect(attr(close, 'mysql_success')!.flag).toBe(true)
  })

  it('errors match tshark codes and messages', async () => {
    const rows = await tsharkFields(
      file,
      'mysql.error_code',
      ['mysql.error_code', 'mysql.error.message'],
      decodeAs
    )
    const theirs = rows.map((r) => `${r[0]} ${r[1]}`).sort()
    const ours = result.entries.filter((e) => e.status === 1)
    expect(
      ours
        .map((e) => `${attr(e, 'mysql_error_code')!.num} ${attr(e, 'mysql_error_message')!.str}`)
        .sort()
    ).toEqual(theirs)
    expect(ours.map((e) => attr(e, 'mysql_error_code')!.num).sort()).toEqual([1049, 1146, 1243])
    for (const e of ours) expect(attr(e, 'mysql_success')!.flag).toBe(false)
  })

  it('handshake, databases, result rows and sizes', async () => {
    const logins = result.entries.filter((e) => e.method === 'Handshake')
    const theirs = await tsharkFields(
      file,
      'mysql.login_request',
      ['mysql.user', 'mysql.schema'],
      decodeAs
    )
    expect(logins.length).toBe(theirs.length)
    expect(logins.map((l) => l.summary).sort()).toEqual(theirs.map((r) => `${r[0]}@${r[1]}`).sort())
    for (const l of logins) expect(l.status).toBe(0)
    const select = result.entries.find((e) => e.path === 'SELECT id, name FROM t ORDER BY id')!
    expect(select.summary).toContain('→ 3 rows')
    expect(attr(select, 'mysql_database')!.str).toBe('appdb')
    const insert = result.entries.find((e) => e.path?.startsWith('INSERT'))!
    expect(insert.summary).toContain('3 affected')
    const initDb = result.entries.filter((e) => e.method === 'COM_INIT_DB')
    expect(initDb.length).toBe(3)
    // The CLI asks SELECT DATABASE() itself after connecting (to mysql); its `use appdb` is a
    // COM_INIT_DB that switches the connection's database for the query after it.
    const [before, afterUse] = result.entries.filter((e) => e.path === 'SELECT DATABASE()')
    expect(attr(before!, 'mysql_database')!.str).toBe('mysql')
    expect(attr(afterUse!, 'mysql_database')!.str).toBe('appdb')
    for (const e of result.entries) {
      expect(e.proto).toBe('mysql')
      const req = attr(e, 'mysql_request_size')!.num!
      expect(attr(e, 'mysql_total_size')!.num).toBe(req + attr(e, 'mysql_response_size')!.num!)
      if (e.method !== 'COM_QUIT' && e.method !== 'COM_STMT_CLOSE')
        expect(e.elapsedUs).toBeGreaterThan(0)
    }
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })
})
