#!/usr/bin/env node
// tapwire-hub: stores dissected calls from the agents and serves them over HTTP (REST + MCP).
import { FlagError, flagHelp } from '@tapwire/wire'
import { HUB_FLAGS, loadHubConfig } from './config.js'
import { Hub } from './hub.js'
import { compileKflFilter } from './kfl-filter.js'

const log = (msg: string): void => console.error(`[tapwire-hub] ${msg}`)

async function main(): Promise<number> {
  let config
  try {
    config = loadHubConfig(process.argv.slice(2), process.env)
  } catch (e) {
    if (e instanceof FlagError) {
      log(e.message)
      return 2
    }
    throw e
  }
  if (config.help) {
    console.log(`usage: tapwire-hub [flags]\n${flagHelp(HUB_FLAGS)}`)
    return 0
  }
  let hub: Hub
  try {
    hub = new Hub(config, log, compileKflFilter)
  } catch (e) {
    if ((e as { code?: string }).code === 'BAD_TOKENS_FILE' || (e as { code?: string }).code === 'ENOENT') {
      log((e as Error).message)
      return 2
    }
    throw e
  }
  const { port } = await hub.start()
  const auth = hub.tokens.enabled ? 'bearer auth on (viewer/admin roles)' : 'NO AUTH: every caller is admin'
  log(`listening on http://${config.host}:${port} (NATS ${config.natsUrl}; ${auth})`)
  if (!hub.tokens.enabled && config.host !== '127.0.0.1' && config.host !== '::1' && config.host !== 'localhost') {
    log(`warning: no token is set and the hub listens on ${config.host}: anyone who reaches it can query and export traffic`)
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  await hub.stop()
  return 0
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`fatal: ${(e as Error).stack ?? String(e)}`)
    process.exit(1)
  }
)
