import { execFileSync } from 'node:child_process'
import type { SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { TestProcess } from './processes.js'

/**
 * Network namespaces for multi-node tests: a Linux bridge in the root namespace with an address on
 * a private /24, and one namespace per "node" joined to it by a veth pair. Everything is named
 * `tw-`/`tw` + a random suffix and removed by `destroy()` (idempotent; also on process exit), so a
 * failed test leaves nothing behind. Needs root (CAP_NET_ADMIN) and iproute2.
 */
export interface NetnsNode {
  /** Namespace name. */
  ns: string
  /** Interface inside the namespace (capture on it). */
  iface: string
  /** Its IPv4 address. */
  ip: string
}

export interface NetnsLab {
  /** The bridge's address: root-namespace services listen here to be reachable from the nodes. */
  hostIp: string
  bridge: string
  nodes: NetnsNode[]
  /** Runs a command inside a namespace and returns its stdout. */
  exec(ns: string, cmd: string, args: string[]): string
  /** Starts a long-running process inside a namespace (stopped by its PID via TestProcess). */
  spawn(ns: string, name: string, cmd: string, args: string[], opts?: SpawnOptions): TestProcess
  destroy(): void
}

const ip = (args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

function quiet(fn: () => unknown): void {
  try {
    fn()
  } catch {
    // Already gone.
  }
}

/** Whether this process may create namespaces (root with iproute2). */
export function netnsAvailable(): boolean {
  if (process.getuid?.() !== 0) return false
  // `ip netns list` can fail for a moment while another suite deletes a namespace: ask again.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      ip(['netns', 'list'])
      return true
    } catch {
      execFileSync('sleep', ['0.2'])
    }
  }
  return false
}

/** Fails loudly (never skips) when this machine cannot make network namespaces. */
export function requireNetns(): void {
  if (!netnsAvailable()) {
    throw new Error('multi-node tests need root and iproute2 (`ip netns`): run them as root (npm test installs iproute2)')
  }
}

export function createNetnsLab(opts: { nodes: number; subnet?: number }): NetnsLab {
  const sfx = randomBytes(3).toString('hex')
  // 10.231.<x>.0/24 with x random: parallel runs are unlikely to collide, and it is private space.
  const x = opts.subnet ?? 1 + (randomBytes(1)[0]! % 250)
  const bridge = `tw-br${sfx}`
  const hostIp = `10.231.${x}.1`
  const nsNames: string[] = []
  const hostVeths: string[] = []
  let destroyed = false
  const destroy = (): void => {
    if (destroyed) return
    destroyed = true
    for (const v of hostVeths) quiet(() => ip(['link', 'del', v]))
    for (const ns of nsNames) quiet(() => ip(['netns', 'del', ns]))
    quiet(() => ip(['link', 'del', bridge]))
    process.off('exit', destroy)
  }
  process.on('exit', destroy)
  const nodes: NetnsNode[] = []
  try {
    ip(['link', 'add', bridge, 'type', 'bridge'])
    ip(['addr', 'add', `${hostIp}/24`, 'dev', bridge])
    ip(['link', 'set', bridge, 'up'])
    for (let i = 0; i < opts.nodes; i++) {
      const ns = `tw-${sfx}-n${i}`
      const host = `tw${sfx}h${i}`
      const peer = `tw${sfx}n${i}`
      ip(['netns', 'add', ns])
      nsNames.push(ns)
      ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', peer])
      hostVeths.push(host)
      ip(['link', 'set', peer, 'netns', ns])
      ip(['link', 'set', host, 'master', bridge])
      ip(['link', 'set', host, 'up'])
      const addr = `10.231.${x}.${10 + i}`
      ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', peer])
      ip(['-n', ns, 'link', 'set', peer, 'up'])
      ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      nodes.push({ ns, iface: peer, ip: addr })
    }
  } catch (e) {
    destroy()
    throw e
  }
  return {
    hostIp,
    bridge,
    nodes,
    exec: (ns, cmd, args) =>
      execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' }),
    spawn: (ns, name, cmd, args, o) =>
      new TestProcess(name, 'ip', ['netns', 'exec', ns, cmd, ...args], o),
    destroy,
  }
}

/** Lists leftovers of earlier runs (names starting with tw-), for assertions that cleanup worked. */
export function leftoverNetns(prefix = 'tw-'): string[] {
  const names = ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
  return names.filter((n) => n.startsWith(prefix))
}
