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
  const hub = new Hub(config, log, compileKflFilter)
  const { port } = await hub.start()
  log(`listening on http://${config.host}:${port} (NATS ${config.natsUrl}${config.authToken ? ', bearer auth on' : ', no auth'})`)
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
