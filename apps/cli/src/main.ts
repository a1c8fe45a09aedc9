#!/usr/bin/env node
// tapwire: the command-line client of a Tapwire hub (queries, snapshots, and an MCP stdio bridge).
import { run } from './cli.js'

run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`tapwire: ${(e as Error).stack ?? String(e)}\n`)
    process.exitCode = 1
  }
)
