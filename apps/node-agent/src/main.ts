#!/usr/bin/env node
// tapwire-agent: captures (or replays) packets, dissects API calls, publishes them over NATS.
import { FlagError, flagHelp } from '@tapwire/wire'
import { Agent } from './agent.js'
import { AGENT_FLAGS, loadAgentConfig } from './config.js'

const log = (msg: string): void => console.error(`[tapwire-agent] ${msg}`)

async function main(): Promise<number> {
  let config
  try {
    config = loadAgentConfig(process.argv.slice(2), process.env)
  } catch (e) {
    if (e instanceof FlagError || (e as { code?: string }).code === 'INVALID_NODE_NAME') {
      log((e as Error).message)
      return 2
    }
    throw e
  }
  if (config.help) {
    console.log(`usage: tapwire-agent [flags]\n${flagHelp(AGENT_FLAGS)}`)
    return 0
  }
  const agent = new Agent(config, log)
  if (config.readFile !== undefined) {
    try {
      await agent.runToCompletion(config.readFile)
    } catch (e) {
      const err = e as Error & { code?: string }
      log(`cannot replay ${config.readFile}: ${err.message}${err.code ? ` (${err.code})` : ''}`)
      await agent.stop().catch(() => undefined)
      return 1
    }
    await agent.stop()
    return 0
  }
  await agent.start()
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => {
      log(`${sig}: stopping`)
      resolve()
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
  await agent.stop()
  return 0
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`fatal: ${(e as Error).stack ?? String(e)}`)
    process.exit(1)
  }
)
