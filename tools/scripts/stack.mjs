#!/usr/bin/env node
// The local stack of `npm start`: NATS with JetStream (only if none answers at NATS_URL), the hub
// on HUB_PORT (8898), and one agent capturing on CAPTURE_INTERFACE (any). Ctrl-C stops what it
// started, and only that.
import { spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { connect } from 'node:net'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const env = process.env
const natsUrl = env.NATS_URL || 'nats://127.0.0.1:4222'
const hubPort = env.HUB_PORT || '8898'
const iface = env.CAPTURE_INTERFACE || 'any'
const dataDir = env.TAPWIRE_DATA_DIR || join(root, '.tapwire')
const { hostname: natsHost, port: natsPortText } = new URL(natsUrl)
const natsPort = Number(natsPortText || 4222)
// Keep the agent from dissecting the stack's own NATS traffic.
const bpf = env.CAPTURE_BPF ?? `not (tcp port ${natsPort})`
const children = []
const log = (msg) => console.log(`[tapwire] ${msg}`)

function natsAnswers() {
  return new Promise((resolve) => {
    const s = connect({ host: natsHost, port: natsPort })
    const done = (ok) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('error', () => done(false))
    s.once('data', (d) => done(d.toString().startsWith('INFO')))
  })
}

function start(name, cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env })
  children.push({ name, child })
  child.once('exit', (code, sig) => {
    if (!stopping) {
      log(`${name} exited (${sig ?? code}); stopping the stack`)
      void stop(1)
    }
  })
  return child
}

let stopping = false
async function stop(code = 0) {
  if (stopping) return
  stopping = true
  for (const { child } of [...children].reverse()) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }
  await Promise.all(children.map(({ child }) => (child.exitCode !== null || child.signalCode !== null ? null : new Promise((r) => child.once('exit', r)))))
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

async function waitFor(what, fn, ms = 30_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`)
}

mkdirSync(dataDir, { recursive: true })
if (await natsAnswers()) {
  log(`using the NATS server at ${natsUrl}`)
} else {
  const store = join(dataDir, 'nats')
  log(`starting nats-server with JetStream on ${natsHost}:${natsPort} (store ${store})`)
  start('nats-server', 'nats-server', ['-a', natsHost, '-p', String(natsPort), '-js', '-sd', store, '-l', join(dataDir, 'nats.log')])
  await waitFor('nats-server', natsAnswers)
}

const token = env.HUB_AUTH_TOKEN
// Without a token the hub listens on loopback only.
const hubHost = token ? env.HUB_HOST || '0.0.0.0' : '127.0.0.1'
start('hub', process.execPath, [join(root, 'apps/hub/dist/main.js'), '--port', hubPort, '--host', hubHost, '--nats', natsUrl, '--data-dir', join(dataDir, 'hub')])
const hubUrl = `http://127.0.0.1:${hubPort}`
await waitFor('the hub', async () => (await fetch(`${hubUrl}/readyz`)).ok)

const node = env.NODE_NAME || hostname()
start('agent', process.execPath, [
  join(root, 'apps/node-agent/dist/main.js'),
  '--interface', iface, '--bpf', bpf, '--nats', natsUrl, '--node', node,
  '--data-dir', join(dataDir, 'agent'), '--port', env.AGENT_PORT || '8897', '--host', '127.0.0.1',
])
await waitFor('the agent', async () => (await fetch(`http://127.0.0.1:${env.AGENT_PORT || '8897'}/readyz`)).ok)

const auth = token ? ` -H "Authorization: Bearer $HUB_AUTH_TOKEN"` : ''
console.log(`
  Tapwire is running.
    hub      ${hubUrl}   ${token ? '(bearer auth on)' : '(no auth: listening on loopback only)'}
    agent    capturing on '${iface}' as node '${node}' (filter: ${bpf || 'none'})
    NATS     ${natsUrl}

  Try it (the hub's own HTTP traffic is captured too, so this shows calls at once):
    curl -s${auth} '${hubUrl}/mcp/calls?limit=5'
    curl -s${auth} '${hubUrl}/mcp/calls?kfl=http%20and%20response.status%20%3E%3D%20400'

  Ctrl-C stops everything this command started.
`)
// One request of our own, so the example query has something to show.
await fetch(`${hubUrl}/mcp`, { headers: token ? { authorization: `Bearer ${token}` } : {} }).catch(() => undefined)
