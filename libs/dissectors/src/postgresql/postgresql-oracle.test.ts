import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  analyzeFile,
  recordLoopback,
  requireTool,
  startPostgres,
  tempDir,
  tsharkFields,
} from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'
import type { Attr, Entry } from '@tapwire/wire'
import { postgresqlDissector } from './postgresql-dissector.js'

const run = promisify(execFile)
const attr = (e: Entry, name: string): Attr | undefined => e.attrs?.find((a) => a.name === name)

const SIMPLE = [
  'CREATE TABLE items (id int primary key, name text)',
  "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
  'SELECT id, name FROM items ORDER BY id',
  'SELECT * FROM nope',
  "INSERT INTO items VALUES (1, 'dup')",
  "BEGIN; UPDATE items SET name = 'z' WHERE id = 2; SELECT count(*) FROM items; COMMIT",
]

// Real psql (simple query protocol, with and without an SSLRequest) and pgbench (extended query
// protocol: unnamed statements with -M extended, named ones with -M prepared) against a real
// PostgreSQL 15; tshark's PGSQL dissector is the oracle.
describe('PostgreSQL against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'pg.pcap')
  let result: AnalyzeResult
  let port = 0
  let decodeAs: string[] = []

  beforeAll(async () => {
    const psql = requireTool('psql', 'postgresql-client')
    const pgbench = requireTool('/usr/lib/postgresql/15/bin/pgbench', 'postgresql-contrib')
    const pg = await startPostgres()
    port = pg.port
    decodeAs = ['-d', `tcp.port==${port},pgsql`, '-E', 'aggregator=|']
    const env = { ...process.env, ...pg.env }
    const script = join(dir.path, 'bench.sql')
    writeFileSync(
      script,
      '\\set id random(1, 3)\nSELECT name FROM items WHERE id = :id;\nUPDATE items SET name = name WHERE id = :id;\n'
    )
    const bad = join(dir.path, 'bad.sql')
    writeFileSync(bad, 'SELECT * FROM missing_table;\n')
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        const conn = `host=127.0.0.1 port=${port} user=${pg.user} dbname=${pg.database}`
        await run(psql, [`${conn} sslmode=disable`, ...SIMPLE.flatMap((q) => ['-c', q])], {
          env,
        }).catch(() => undefined)
        // sslmode=prefer against a server with ssl=off: SSLRequest answered 'N', then plain text.
        await run(psql, [`${conn} sslmode=prefer`, '-c', 'SELECT 1 AS one'], { env })
        await run(pgbench, ['-n', '-t', '3', '-M', 'extended', '-f', script], { env })
        await run(pgbench, ['-n', '-t', '3', '-M', 'prepared', '-f', script], { env })
        await run(pgbench, ['-n', '-t', '1', '-M', 'extended', '-f', bad], { env }).catch(
          () => undefined
        )
      })
    } finally {
      await pg.stop()
    }
    result = await analyzeFile(file, { dissectors: [postgresqlDissector] })
  }, 60_000)

  afterAll(() => dir.dispose())

  const byQuery = (q: string): Entry[] =>
    result.entries.filter((e) => attr(e, 'postgresql_query')?.str === q)

  it('reports every simple query tshark sees, with the same text', async () => {
    const rows = await tsharkFields(file, 'pgsql.type == "Simple query"', ['pgsql.query'], decodeAs)
    const theirs = rows.flatMap((r) => r[0]!.split('|'))
    const ours = result.entries.filter(
      (e) => attr(e, 'postgresql_query')?.str && !e.errorType && e.method !== 'Startup'
    )
    const oursSimple = ours.filter((e) => theirs.includes(attr(e, 'postgresql_query')!.str!))
    expect(theirs.length).toBe(SIMPLE.length + 1)
    expect(oursSimple.map((e) => attr(e, 'postgresql_query')!.str).sort()).toEqual(
      [...theirs].sort()
    )
  })

  it('one entry per Execute, query text from the Parse (named or unnamed)', async () => {
    const executes = await tsharkFields(file, 'pgsql.type == "Execute"', ['pgsql.type'], decodeAs)
    const nExec = executes.reduce(
      (n, r) => n + r[0]!.split('|').filter((t) => t === 'Execute').length,
      0
    )
    const parses = await tsharkFields(
      file,
      'pgsql.type == "Parse"',
      ['pgsql.statement', 'pgsql.query'],
      decodeAs
    )
    const parsedQueries = new Set(parses.flatMap((r) => r[1]!.split('|')))
    expect(parsedQueries).toEqual(
      new Set([
        'SELECT name FROM items WHERE id = $1;',
        'UPDATE items SET name = name WHERE id = $1;',
        'SELECT * FROM missing_table;',
      ])
    )
    // Named statements with -M prepared.
    expect(parses.flatMap((r) => r[0]!.split('|')).some((s) => s.startsWith('P_'))).toBe(true)
    // pgbench -M prepared sends Parse+Sync alone first (PQprepare): an entry of its own, method Parse.
    const prepares = result.entries.filter((e) => e.method === 'Parse')
    expect(prepares.length).toBe(2)
    const ours = result.entries.filter(
      (e) =>
        e.method !== 'Startup' &&
        e.method !== 'Parse' &&
        parsedQueries.has(attr(e, 'postgresql_query')!.str!)
    )
    // The failing Parse aborts its batch before Execute: that Execute is still one entry, failed.
    expect(ours.length).toBe(nExec)
    expect(ours.filter((e) => e.method === 'SELECT').length).toBe(6)
    expect(ours.filter((e) => e.method === 'UPDATE').length).toBe(6)
    for (const e of ours.filter((x) => x.method === 'SELECT'))
      expect(e.summary).toMatch(/→ SELECT 1$/)
  })

  it('errors carry tshark SQLSTATE codes and messages', async () => {
    const rows = await tsharkFields(
      file,
      'pgsql.type == "Error"',
      ['pgsql.code', 'pgsql.message'],
      decodeAs
    )
    const theirs = rows.map((r) => `${r[0]} ${r[1]}`).sort()
    const ours = result.entries.filter((e) => e.status === 1 && !e.errorType)
    expect(
      ours
        .map(
          (e) =>
            `${attr(e, 'postgresql_error_code')!.str} ${attr(e, 'postgresql_error_message')!.str}`
        )
        .sort()
    ).toEqual(theirs)
    expect(theirs.map((t) => t.slice(0, 5)).sort()).toEqual(['23505', '42P01', '42P01'])
    for (const e of ours) expect(attr(e, 'postgresql_success')!.flag).toBe(false)
  })

  it('command tags match tshark, multi-statement queries keep all of them', async () => {
    const rows = await tsharkFields(
      file,
      'pgsql.type == "Command completion"',
      ['pgsql.tag'],
      decodeAs
    )
    const theirs = rows.flatMap((r) => r[0]!.split('|'))
    const multi = byQuery(SIMPLE[5]!)[0]!
    expect(attr(multi, 'postgresql_command')!.str).toBe('BEGIN;UPDATE;SELECT;COMMIT')
    expect(multi.summary).toContain('UPDATE 1, SELECT 1, COMMIT')
    for (const t of ['CREATE TABLE', 'INSERT 0 3', 'SELECT 3', 'UPDATE 1', 'COMMIT'])
      expect(theirs).toContain(t)
    const select = byQuery(SIMPLE[2]!)[0]!
    expect(select.method).toBe('SELECT')
    expect(select.summary).toContain('SELECT 3')
    expect(byQuery(SIMPLE[1]!)[0]!.method).toBe('INSERT')
  })

  it('startup: user, database, SSLRequest refused, sizes', async () => {
    const startups = result.entries.filter((e) => e.method === 'Startup')
    const theirs = await tsharkFields(
      file,
      'pgsql.type == "Startup message"',
      ['pgsql.parameter_value'],
      decodeAs
    )
    expect(startups.length).toBe(theirs.length)
    // psql twice, pgbench (which connects more than once) three times.
    expect(startups.length).toBeGreaterThanOrEqual(5)
    for (const s of startups) {
      expect(attr(s, 'postgresql_user')!.str).toBe('tapwire')
      expect(attr(s, 'postgresql_database')!.str).toBe('appdb')
      expect(s.status).toBe(0)
    }
    // Only the sslmode=disable psql skipped the SSLRequest (libpq defaults to prefer).
    const ssl = await tsharkFields(file, 'pgsql.type == "SSL request"', ['frame.number'], decodeAs)
    // (tshark 4.0 has no field for the one-byte 'N' answer; the server's ssl=off makes it 'N'.)
    expect(ssl.length).toBe(startups.length - 1)
    expect(startups.filter((s) => s.summary!.includes('SSLRequest refused')).length).toBe(
      ssl.length
    )
    for (const e of result.entries) {
      const req = attr(e, 'postgresql_request_size')!.num!
      const resp = attr(e, 'postgresql_response_size')!.num!
      expect(attr(e, 'postgresql_total_size')!.num).toBe(req + resp)
      expect(e.proto).toBe('postgresql')
      expect(attr(e, 'postgresql_database')!.str).toBe('appdb')
    }
    // Every byte of every TCP payload is accounted to some call (the Terminate 'X' aside).
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })
})
