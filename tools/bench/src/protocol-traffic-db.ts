import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { requireTool, startMariadb, startPostgres, startRedis } from '@tapwire/testing'
import type { Recorded } from './protocol-util.js'
import { recordComplete, runTool } from './protocol-util.js'

const msLeft = (deadline: number): number => deadline - Date.now()

/**
 * Redis: redis-benchmark (a real RESP client) with 4 connections, 16 commands pipelined on each,
 * SET/GET/INCR/HSET over 1,000 random keys. Besides the commands, each run's own CONFIG GETs.
 */
export async function recordRedis(file: string, calls: number, deadline: number): Promise<Recorded> {
  const bench = requireTool('redis-benchmark', 'redis-tools')
  const server = await startRedis()
  const tests = ['set', 'get', 'incr', 'hset']
  const perTest = Math.max(1, Math.ceil(calls / tests.length))
  try {
    const made = await recordComplete(file, `tcp port ${server.port}`, async () => {
      const args = ['-h', '127.0.0.1', '-p', String(server.port), '-c', '4', '-P', '16', '-r', '1000', '-n', String(perTest), '-t', tests.join(','), '-q']
      await runTool(bench, args, { timeoutMs: msLeft(deadline) })
      return perTest * tests.length
    })
    return { port: server.port, made }
  } finally {
    await server.stop()
  }
}

/**
 * PostgreSQL: pgbench with 4 clients running a SELECT and an UPDATE per transaction, half the
 * calls over the simple query protocol (Query messages), half over the extended one (Parse/Bind/
 * Execute/Sync), on a 100-row table created before recording.
 */
export async function recordPostgres(file: string, calls: number, deadline: number, dir: string): Promise<Recorded> {
  const psql = requireTool('psql', 'postgresql-client')
  const pgbench = requireTool('/usr/lib/postgresql/15/bin/pgbench', 'postgresql-contrib')
  const pg = await startPostgres()
  const env = { ...process.env, ...pg.env }
  const script = join(dir, 'pg-bench.sql')
  writeFileSync(script, '\\set id random(1, 100)\nSELECT name FROM items WHERE id = :id;\nUPDATE items SET name = name WHERE id = :id;\n')
  const clients = 4
  // Two statements per transaction, two protocols.
  const perClient = Math.max(1, Math.ceil(calls / 2 / 2 / clients))
  try {
    await runTool(psql, ['-v', 'ON_ERROR_STOP=1', '-c', "CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g"], {
      env,
      timeoutMs: 30_000,
    })
    const made = await recordComplete(file, `tcp port ${pg.port}`, async () => {
      for (const mode of ['simple', 'extended'])
        await runTool(pgbench, ['-n', '-c', String(clients), '-t', String(perClient), '-M', mode, '-f', script], { env, timeoutMs: msLeft(deadline) })
      return 2 * 2 * clients * perClient
    })
    return { port: pg.port, made }
  } finally {
    await pg.stop()
  }
}

/**
 * MySQL: the MariaDB command-line client in batch mode, 4 connections at once, each sending its
 * share of SELECT/UPDATE/INSERT/DELETE statements (one COM_QUERY each) to a real MariaDB.
 */
export async function recordMysql(file: string, calls: number, deadline: number): Promise<Recorded> {
  const cli = requireTool('mariadb', 'mariadb-client')
  const db = await startMariadb()
  const sql = (input: string): Promise<string> => runTool(cli, [...db.clientArgs, '-D', db.database, '--batch'], { input, timeoutMs: msLeft(deadline) })
  const statement = (i: number): string => {
    const id = (i % 100) + 1
    switch (i % 5) {
      case 0:
      case 1:
        return `SELECT id, name FROM items WHERE id = ${id};`
      case 2:
        return `UPDATE items SET name = 'item ${i}' WHERE id = ${id};`
      case 3:
        return `INSERT INTO log (item, note) VALUES (${id}, 'call ${i}');`
      default:
        return `DELETE FROM log WHERE id < ${i - 50};`
    }
  }
  const connections = 4
  const perConnection = Math.max(1, Math.ceil(calls / connections))
  try {
    await sql(
      "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40)); CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, item INT, note VARCHAR(40));" +
        Array.from({ length: 100 }, (_, i) => `INSERT INTO items VALUES (${i + 1}, 'item ${i + 1}');`).join('')
    )
    const made = await recordComplete(file, `tcp port ${db.port}`, async () => {
      await Promise.all(
        Array.from({ length: connections }, (_, c) =>
          sql(Array.from({ length: perConnection }, (_, i) => statement(c * perConnection + i)).join('\n'))
        )
      )
      return connections * perConnection
    })
    return { port: db.port, made }
  } finally {
    await db.stop()
  }
}
