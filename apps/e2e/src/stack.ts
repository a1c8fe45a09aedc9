import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startEchoServer, startNatsServer, TestProcess, until } from '@tapwire/testing'
import type { NatsServerHandle } from '@tapwire/testing'

type EchoServer = Awaited<ReturnType<typeof startEchoServer>>

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const HUB_MAIN = join(ROOT, 'apps/hub/dist/main.js')
export const AGENT_MAIN = join(ROOT, 'apps/node-agent/dist/main.js')
export const CLI_MAIN = join(ROOT, 'apps/cli/dist/main.js')

function requireBuilt(path: string): string {
  if (!existsSync(path))
    throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`)
  return path
}

/**
 * fetch, retried once when the server had already closed the pooled keep-alive connection the
 * request went out on ("other side closed"). Suites that run tshark synchronously block their event
 * loop past the hub's 5 s keep-alive timeout, so the client cannot see the close in time; a GET is
 * idempotent and may be retried (RFC 9110 §9.2.2), as HTTP clients do.
 */
export async function fetchRetry(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init)
  } catch (e) {
    const code = ((e as Error).cause as { code?: string } | undefined)?.code
    if ((init?.method ?? 'GET') !== 'GET' || code !== 'UND_ERR_SOCKET') throw e
    return fetch(url, init)
  }
}

export interface HubHandle {
  url: string
  process: TestProcess
  get<T = any>(path: string): Promise<{ status: number; body: T }>
}

/** Starts the built hub against `nats` on a free port and waits until it is ready. */
export async function startHub(
  nats: Pick<NatsServerHandle, 'url'>,
  extraArgs: string[] = []
): Promise<HubHandle> {
  const port = await freePort()
  // Each hub gets its own data dir (snapshots) unless the test names one, e.g. to restart on it;
  // it is removed when that hub process ends.
  const own = extraArgs.includes('--data-dir')
    ? undefined
    : mkdtempSync(join(tmpdir(), 'tapwire-e2e-hub-'))
  const dataDir = own ? ['--data-dir', own] : []
  const p = new TestProcess('hub', process.execPath, [
    requireBuilt(HUB_MAIN),
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--nats',
    nats.url,
    ...dataDir,
    ...extraArgs,
  ])
  if (own) p.child.once('exit', () => rmSync(own, { recursive: true, force: true }))
  const url = `http://127.0.0.1:${port}`
  await until('hub ready', async () => (await fetch(`${url}/readyz`)).status === 200, 30_000)
  return {
    url,
    process: p,
    async get(path) {
      const res = await fetchRetry(url + path)
      return { status: res.status, body: (await res.json()) as never }
    },
  }
}

/**
 * An agent capturing on `lo` with `bpf`, its health server on a free port; resolves once it
 * captures, with the URL of its /metrics.
 */
export async function startLoAgent(opts: {
  nats: Pick<NatsServerHandle, 'url'>
  bpf: string
  node: string
  dataDir: string
  extraArgs?: string[]
}): Promise<{ process: TestProcess; metricsUrl: string }> {
  const port = await freePort()
  const p = agentProcess('agent', [
    '--interface',
    'lo',
    '--bpf',
    opts.bpf,
    '--nats',
    opts.nats.url,
    '--node',
    opts.node,
    '--data-dir',
    opts.dataDir,
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    ...(opts.extraArgs ?? []),
  ])
  await p.waitFor(/capturing on lo/)
  return { process: p, metricsUrl: `http://127.0.0.1:${port}/metrics` }
}

export function agentProcess(name: string, args: string[]): TestProcess {
  // The suites count L7 calls exactly; the agent's L4 entries (on by default) would add to them.
  // A suite that wants L4 entries passes --l4-entries, which overrides this.
  return new TestProcess(name, process.execPath, [
    requireBuilt(AGENT_MAIN),
    '--l4-entries=false',
    ...args,
  ])
}

export { startNatsServer }

/**
 * Ends what a suite started, in order: the agent first (it publishes into NATS), then the hub,
 * NATS, the peer servers and the temp dir. Parts that never started are skipped.
 */
export async function stopStack(parts: {
  agent?: TestProcess | undefined
  hub?: HubHandle | undefined
  nats?: NatsServerHandle | undefined
  servers?: ({ close(): Promise<void> } | undefined)[]
  dir?: { dispose(): void }
}): Promise<void> {
  await parts.agent?.stop()
  await parts.hub?.process.stop()
  await parts.nats?.dispose()
  for (const s of parts.servers ?? []) await s?.close()
  parts.dir?.dispose()
}

/**
 * The stack most fault and load suites run: NATS, a hub, an echo HTTP server answering `body`, and
 * an agent capturing that server's port on `lo` (data dir `<dir>/agent`). `stop()` ends them all,
 * agent first, and removes the temp dir.
 */
export interface EchoStack {
  dir: string
  nats: NatsServerHandle
  hub: HubHandle
  server: EchoServer
  agent: TestProcess
  metricsUrl: string
  stop(): Promise<void>
}

export async function startEchoStack(o: {
  /** Agent node name and temp dir prefix. */
  name: string
  body: string
  agentArgs?: string[]
  /** Adjusts the echo server before the agent starts (timeouts...). */
  configure?: (server: EchoServer) => void
}): Promise<EchoStack> {
  const dir = mkdtempSync(join(tmpdir(), `tapwire-e2e-${o.name}-`))
  const started: {
    nats?: NatsServerHandle
    hub?: HubHandle
    server?: EchoServer
    agent?: TestProcess
  } = {}
  const stop = (): Promise<void> =>
    stopStack({
      ...started,
      servers: [started.server],
      dir: { dispose: () => rmSync(dir, { recursive: true, force: true }) },
    })
  try {
    const nats = (started.nats = await startNatsServer())
    const hub = (started.hub = await startHub(nats))
    const server = (started.server = await startEchoServer(o.body))
    o.configure?.(server)
    const a = await startLoAgent({
      nats,
      bpf: `tcp port ${server.port}`,
      node: `${o.name}-node`,
      dataDir: join(dir, 'agent'),
      ...(o.agentArgs ? { extraArgs: o.agentArgs } : {}),
    })
    started.agent = a.process
    return { dir, nats, hub, server, agent: a.process, metricsUrl: a.metricsUrl, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
