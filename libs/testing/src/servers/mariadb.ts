import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { freePort, requireTool, TestProcess } from '../processes.js'
import type { ServerHandle } from './common.js'
import { cleanupFailedLaunch, handle, makeTempDir } from './common.js'

export interface MariadbHandle extends ServerHandle {
  user: string
  password: string
  database: string
  /** Unix socket for administrative access as root. */
  socket: string
  /** Arguments for the `mariadb` client: TCP to 127.0.0.1, password auth, TLS off. */
  clientArgs: string[]
}

/**
 * MariaDB on 127.0.0.1 with a fresh data dir (mariadb-install-db), no TLS, and a password user
 * `tapwire` (mysql_native_password) so the handshake carries real authentication.
 */
export async function startMariadb(
  opts: { port?: number; database?: string } = {}
): Promise<MariadbHandle> {
  const installDb = requireTool('mariadb-install-db', 'mariadb-server')
  const mariadbd = requireTool('mariadbd', 'mariadb-server')
  const client = requireTool('mariadb', 'mariadb-client')
  const port = opts.port ?? (await freePort())
  const dir = makeTempDir('tapwire-mariadb-')
  const data = join(dir, 'data')
  const socket = join(dir, 'mysqld.sock')
  const user = 'tapwire'
  const password = 'tapwire-secret'
  const database = opts.database ?? 'appdb'
  let proc: TestProcess | undefined
  try {
    execFileSync(
      installDb,
      [
        '--no-defaults',
        `--datadir=${data}`,
        '--user=root',
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
      ],
      { stdio: 'pipe' }
    )
    proc = new TestProcess('mariadbd', mariadbd, [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-name-resolve',
      `--pid-file=${join(dir, 'mariadbd.pid')}`,
      '--innodb-buffer-pool-size=32M',
      '--skip-log-bin',
      '--ssl=0',
    ])
    await proc.waitFor(/ready for connections/, 60_000)
    const sql = `CREATE DATABASE ${database}; CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO '${user}'@'127.0.0.1';`
    execFileSync(client, ['--no-defaults', '-S', socket, '-uroot', '-e', sql], { stdio: 'pipe' })
    const clientArgs = [
      '--no-defaults',
      '--protocol=TCP',
      '-h',
      '127.0.0.1',
      '-P',
      String(port),
      `-u${user}`,
      `-p${password}`,
      '--skip-ssl',
    ]
    return { ...handle(port, dir, proc), user, password, database, socket, clientArgs }
  } catch (e) {
    await cleanupFailedLaunch(dir, proc)
    throw e
  }
}
