import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startNatsServer, TestProcess, until } from '@tapwire/testing'
import type { NatsServerHandle } from '@tapwire/testing'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const HUB_MAIN = join(ROOT, 'apps/hub/dist/main.js')
export const AGENT_MAIN = join(ROOT, 'apps/node-agent/dist/main.js')

function requireBuilt(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`)
  return path
}

export interface HubHandle {
  url: string
  process: TestProcess
  get<T = any>(path: string): Promise<{ status: number; body: T }>
}

/** Starts the built hub against `nats` on a free port and waits until it is ready. */
export async function startHub(nats: Pick<NatsServerHandle, 'url'>, extraArgs: string[] = []): Promise<HubHandle> {
  const port = await freePort()
  // Each hub gets its own data dir (snapshots) unless the test names one, e.g. to restart on it;
  // it is removed when that hub process ends.
  const own = extraArgs.includes('--data-dir') ? undefined : mkdtempSync(join(tmpdir(), 'tapwire-e2e-hub-'))
  const dataDir = own ? ['--data-dir', own] : []
  const p = new TestProcess('hub', process.execPath, [requireBuilt(HUB_MAIN), '--port', String(port), '--host', '127.0.0.1', '--nats', nats.url, ...dataDir, ...extraArgs])
  if (own) p.child.once('exit', () => rmSync(own, { recursive: true, force: true }))
  const url = `http://127.0.0.1:${port}`
  await until('hub ready', async () => (await fetch(`${url}/readyz`)).status === 200, 30_000)
  return {
    url,
    process: p,
    async get(path) {
      const res = await fetch(url + path)
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
    '--interface', 'lo', '--bpf', opts.bpf, '--nats', opts.nats.url, '--node', opts.node,
    '--data-dir', opts.dataDir, '--port', String(port), '--host', '127.0.0.1', ...(opts.extraArgs ?? []),
  ])
  await p.waitFor(/capturing on lo/)
  return { process: p, metricsUrl: `http://127.0.0.1:${port}/metrics` }
}

export function agentProcess(name: string, args: string[]): TestProcess {
  // The suites count L7 calls exactly; the agent's L4 entries (on by default) would add to them.
  // A suite that wants L4 entries passes --l4-entries, which overrides this.
  return new TestProcess(name, process.execPath, [requireBuilt(AGENT_MAIN), '--l4-entries=false', ...args])
}

export { startNatsServer }
