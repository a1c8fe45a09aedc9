import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, requireTool, TestProcess } from '../processes.js'
import { tempDir } from '../capture.js'

/** A RabbitMQ broker of its own (own node name, ports, epmd and temp dirs), on loopback. */
export interface RabbitmqHandle {
  port: number
  url: string
  node: string
  stop(): Promise<void>
}

const RABBITMQ = '/usr/lib/rabbitmq/bin/rabbitmq-server'

/**
 * Starts Debian's rabbitmq-server (apt-get install -y rabbitmq-server) on free loopback ports.
 * Erlang's port mapper is started here too on a port of its own (ERL_EPMD_PORT), so stopping
 * both by their PIDs leaves nothing behind. Slow: allow up to 60 s.
 */
export async function startRabbitmq(): Promise<RabbitmqHandle> {
  requireTool('rabbitmq-server', 'rabbitmq-server')
  const epmdBin = requireTool('epmd', 'erlang-base')
  const dir = tempDir('tapwire-rabbitmq-')
  const port = await freePort()
  const distPort = await freePort()
  const epmdPort = await freePort()
  const node = `tapwire-test-${port}@localhost`
  for (const d of ['mnesia', 'log', 'home']) mkdirSync(join(dir.path, d))
  writeFileSync(join(dir.path, 'enabled_plugins'), '[].\n')
  writeFileSync(
    join(dir.path, 'rabbitmq.conf'),
    `listeners.tcp.1 = 127.0.0.1:${port}\nloopback_users = none\n`
  )
  const env = {
    ...process.env,
    HOME: join(dir.path, 'home'),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_NODENAME: node,
    RABBITMQ_MNESIA_BASE: join(dir.path, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir.path, 'log'),
    RABBITMQ_LOGS: '-',
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir.path, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir.path, 'rabbitmq.conf'),
    RABBITMQ_PID_FILE: join(dir.path, 'rabbitmq.pid'),
    RABBITMQ_ALLOW_INPUT: '',
  }
  const epmd = new TestProcess(
    'epmd',
    epmdBin,
    ['-port', String(epmdPort), '-address', '127.0.0.1'],
    { env }
  )
  const server = new TestProcess('rabbitmq-server', RABBITMQ, [], { env, cwd: dir.path })
  const stop = async (): Promise<void> => {
    await server.stop(20_000)
    await epmd.stop()
    dir.dispose()
  }
  try {
    await server.waitFor(/Server startup complete|completed with \d+ plugins/, 90_000)
  } catch (e) {
    await stop()
    throw e
  }
  return { port, url: `amqp://guest:guest@127.0.0.1:${port}`, node, stop }
}
