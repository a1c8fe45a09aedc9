import { execFileSync } from 'node:child_process'
import { chownSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, requireTool, TestProcess } from '../processes.js'
import type { ServerHandle } from './common.js'
import { cleanupFailedLaunch, handle, makeTempDir } from './common.js'

export interface PostgresHandle extends ServerHandle {
  user: string
  password: string
  /** A database created for the test (besides `postgres`). */
  database: string
  /** Environment for psql/pgbench: PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE over TCP. */
  env: Record<string, string>
}

const PG_BIN = '/usr/lib/postgresql/15/bin'

function pgTool(name: string): string {
  try {
    return requireTool(name, 'postgresql')
  } catch {
    // Debian keeps the server binaries off PATH.
    return requireTool(join(PG_BIN, name), 'postgresql')
  }
}

/**
 * A PostgreSQL server on 127.0.0.1 with SSL off and SCRAM password auth over TCP. PostgreSQL
 * refuses to run as root, so initdb and postgres run as the `postgres` user (setpriv keeps the
 * PID ours) on a temp data dir owned by it.
 */
export async function startPostgres(
  opts: { port?: number; database?: string } = {}
): Promise<PostgresHandle> {
  const initdb = pgTool('initdb')
  const postgres = pgTool('postgres')
  const psql = requireTool('psql', 'postgresql-client')
  const setpriv = requireTool('setpriv', 'util-linux')
  const port = opts.port ?? (await freePort())
  const dir = makeTempDir('tapwire-pg-')
  const user = 'tapwire'
  const password = 'tapwire-secret'
  const database = opts.database ?? 'appdb'
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  const asPostgres = ['--reuid=postgres', '--regid=postgres', '--init-groups', '--']
  let proc: TestProcess | undefined
  try {
    chownSync(dir, uid, gid)
    const pwfile = join(dir, 'pw')
    writeFileSync(pwfile, password + '\n')
    chownSync(pwfile, uid, gid)
    execFileSync(
      setpriv,
      [
        ...asPostgres,
        initdb,
        '-D',
        join(dir, 'data'),
        '-U',
        user,
        `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=trust',
        '-E',
        'UTF8',
        '--no-sync',
      ],
      {
        stdio: 'pipe',
        cwd: dir,
      }
    )
    proc = new TestProcess(
      'postgres',
      setpriv,
      [
        ...asPostgres,
        postgres,
        '-D',
        join(dir, 'data'),
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'ssl=off',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=50',
      ],
      { cwd: dir }
    )
    await proc.waitFor(/ready to accept connections/, 30_000)
    execFileSync(
      psql,
      [
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        user,
        '-d',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        `CREATE DATABASE ${database}`,
      ],
      { stdio: 'pipe' }
    )
    const env = {
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: user,
      PGPASSWORD: password,
      PGDATABASE: database,
    }
    return { ...handle(port, dir, proc), user, password, database, env }
  } catch (e) {
    await cleanupFailedLaunch(dir, proc)
    throw e
  }
}
