import { freePort, requireTool, TestProcess } from '../processes.js'
import type { ServerHandle } from './common.js'
import { cleanupFailedLaunch, handle, makeTempDir } from './common.js'

/** redis-server on 127.0.0.1, no persistence, data dir in a temp dir. */
export async function startRedis(opts: { port?: number } = {}): Promise<ServerHandle> {
  const bin = requireTool('redis-server', 'redis-server')
  const port = opts.port ?? (await freePort())
  const dir = makeTempDir('tapwire-redis-')
  let proc: TestProcess | undefined
  try {
    proc = new TestProcess('redis-server', bin, [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--protected-mode',
      'no',
    ])
    await proc.waitFor(/Ready to accept connections/, 20_000)
    return handle(port, dir, proc)
  } catch (e) {
    await cleanupFailedLaunch(dir, proc)
    throw e
  }
}
