import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, requireTool, TestProcess } from './processes.js'

export interface NatsServerHandle {
  url: string
  port: number
  storeDir: string
  process: TestProcess
  /** Stops the server (keeps the store, so a restart replays it). */
  stop(): Promise<void>
  /** Starts it again on the same port and store. */
  restart(): Promise<void>
  /** Stops it and removes the store. */
  dispose(): Promise<void>
}

/** Starts a real nats-server with JetStream on a free loopback port and a temp store. */
export async function startNatsServer(opts: { port?: number; storeDir?: string } = {}): Promise<NatsServerHandle> {
  const bin = requireTool('nats-server', 'nats-server')
  const port = opts.port ?? (await freePort())
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'tapwire-nats-'))
  const launch = async (): Promise<TestProcess> => {
    const p = new TestProcess('nats-server', bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir])
    await p.waitFor(/Server is ready/, 20_000)
    return p
  }
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    process: await launch(),
    async stop() {
      await handle.process.stop()
    },
    async restart() {
      await handle.process.stop()
      handle.process = await launch()
    },
    async dispose() {
      await handle.process.stop()
      rmSync(storeDir, { recursive: true, force: true })
    },
  }
  return handle
}
