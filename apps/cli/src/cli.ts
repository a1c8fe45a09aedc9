import { parseArgs } from 'node:util'
import { runBridge } from './bridge.js'
import { download } from './download.js'
import { renderCalls, renderSnapshots } from './format.js'
import type { HubOptions } from './hub-client.js'
import { HubError, hubJson, hubUrl } from './hub-client.js'

export const USAGE = `usage: tapwire [--hub URL] [--token TOKEN] <command> [options]

commands:
  calls [--kfl FILTER] [--limit N] [--format compact|full|raw] [--start MS] [--end MS] [--json]
  details ID [--node NODE] [--json]
  snapshot create NAME [--duration 30m]
  snapshot list [--json]
  snapshot get NAME
  snapshot delete NAME
  snapshot download NAME [--out FILE]     resumes a partial FILE (HTTP Range)
  dissection status|enable|disable
  mcp                                     stdio <-> Streamable HTTP bridge to the hub's /mcp

global:
  --hub URL      hub address [TAPWIRE_HUB, default http://127.0.0.1:8898]
  --token TOKEN  bearer token [TAPWIRE_TOKEN]
  --json         print the hub's JSON answer
  -h, --help

exit codes: 0 ok, 1 hub or network error, 2 usage error`

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean }
  stderr: { write(s: string): unknown; isTTY?: boolean }
  stdin: NodeJS.ReadableStream
  env: Record<string, string | undefined>
}

class UsageError extends Error {}

const OPTIONS = {
  hub: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  kfl: { type: 'string' },
  limit: { type: 'string' },
  format: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  node: { type: 'string' },
  duration: { type: 'string' },
  out: { type: 'string' },
} as const

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string
}

/** Only the options a command understands; anything else is a usage error, not silently ignored. */
const ALLOWED: Record<string, readonly (keyof typeof OPTIONS)[]> = {
  calls: ['kfl', 'limit', 'format', 'start', 'end'],
  details: ['node'],
  'snapshot create': ['duration'],
  'snapshot list': [],
  'snapshot get': [],
  'snapshot delete': [],
  'snapshot download': ['out'],
  'dissection status': [],
  'dissection enable': [],
  'dissection disable': [],
  mcp: [],
}
const GLOBAL: readonly string[] = ['hub', 'token', 'json', 'help']

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v)) throw new UsageError(`--${name} must be an integer, got '${v}'`)
  return Number(v)
}

function arg(positionals: string[], i: number, what: string): string {
  const v = positionals[i]
  if (v === undefined || v === '') throw new UsageError(`missing ${what}`)
  return v
}

/** Runs one CLI invocation; returns the exit code. Never throws for hub or usage errors. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : `${s}\n`)
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`)
  let values: Values
  let positionals: string[]
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
    values = parsed.values
    positionals = parsed.positionals
  } catch (e) {
    err(`tapwire: ${(e as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (values.help) {
    out(USAGE)
    return 0
  }
  const hub: HubOptions = {
    hub: values.hub ?? io.env['TAPWIRE_HUB'] ?? 'http://127.0.0.1:8898',
    token: values.token ?? io.env['TAPWIRE_TOKEN'] ?? undefined,
  }
  const [cmd, sub] = positionals
  const key = cmd === 'snapshot' || cmd === 'dissection' ? `${cmd} ${sub ?? ''}` : (cmd ?? '')
  const json = (v: unknown) => out(JSON.stringify(v, null, 2))
  try {
    try {
      new URL(hub.hub)
    } catch {
      throw new UsageError(`--hub must be a URL, got '${hub.hub}'`)
    }
    const allowed = ALLOWED[key]
    if (!allowed) throw new UsageError(cmd ? `unknown command '${key.trim()}'` : 'missing command')
    for (const name of Object.keys(values)) {
      if (!GLOBAL.includes(name) && !allowed.includes(name as keyof typeof OPTIONS))
        throw new UsageError(`--${name} does not apply to '${key}'`)
    }
    const extra =
      positionals.length -
      (cmd === 'snapshot'
        ? sub === 'list'
          ? 2
          : 3
        : cmd === 'dissection'
          ? 2
          : cmd === 'details'
            ? 2
            : 1)
    if (extra > 0) throw new UsageError(`unexpected argument '${positionals.at(-1)}'`)

    switch (key) {
      case 'calls': {
        if (values.format !== undefined && !['compact', 'full', 'raw'].includes(values.format)) {
          throw new UsageError(`--format must be compact, full or raw, got '${values.format}'`)
        }
        const body = await hubJson(hub, 'GET', '/mcp/calls', {
          query: {
            kfl: values.kfl,
            limit: int('limit', values.limit),
            format: values.format,
            start: int('start', values.start),
            end: int('end', values.end),
          },
        })
        if (values.json) json(body)
        else out(renderCalls(body))
        return 0
      }
      case 'details': {
        const id = arg(positionals, 1, 'call ID (from tapwire calls)')
        // The node is the first part of an id "<node>/<flow>/<index>" unless given.
        const node = values.node ?? (id.startsWith('/') ? undefined : id.split('/')[0])
        if (!node)
          throw new UsageError('--node is required for an id without a node ("/<flow>/<index>")')
        json(
          await hubJson(hub, 'POST', '/mcp/tools/get_api_call_details', {
            body: { id, node_id: node },
          })
        )
        return 0
      }
      case 'snapshot create': {
        const name = arg(positionals, 2, 'snapshot NAME')
        json(
          await hubJson(hub, 'POST', '/mcp/snapshots', {
            body: { name, ...(values.duration ? { duration: values.duration } : {}) },
          })
        )
        return 0
      }
      case 'snapshot list': {
        const body = await hubJson(hub, 'GET', '/mcp/snapshots')
        if (values.json) json(body)
        else out(renderSnapshots(body))
        return 0
      }
      case 'snapshot get':
        json(
          await hubJson(
            hub,
            'GET',
            `/mcp/snapshots/${encodeURIComponent(arg(positionals, 2, 'snapshot NAME'))}`
          )
        )
        return 0
      case 'snapshot delete':
        json(
          await hubJson(
            hub,
            'DELETE',
            `/mcp/snapshots/${encodeURIComponent(arg(positionals, 2, 'snapshot NAME'))}`
          )
        )
        return 0
      case 'snapshot download': {
        const name = arg(positionals, 2, 'snapshot NAME')
        const file = values.out ?? `${name}.pcap`
        const r = await download(
          hub,
          hubUrl(hub, `/mcp/snapshots/${encodeURIComponent(name)}/pcap`),
          file,
          {
            progress: io.stderr,
            log: (m) => err(`tapwire: ${m}`),
          }
        )
        const how = r.resumedFrom > 0 ? ` (resumed at byte ${r.resumedFrom})` : ''
        if (values.json)
          json({ file, bytes: r.bytes, resumed_from: r.resumedFrom, complete: r.complete })
        else
          err(
            `${file}: ${r.bytes} bytes${how}${r.complete ? '' : ' (incomplete: run again to resume)'}`
          )
        return r.complete ? 0 : 1
      }
      case 'dissection status':
      case 'dissection enable':
      case 'dissection disable': {
        const body =
          sub === 'status'
            ? await hubJson(hub, 'GET', '/mcp/dissection')
            : await hubJson(hub, 'POST', `/mcp/dissection/${sub}`, { body: {} })
        if (values.json) json(body)
        else
          out(
            `dissection: ${(body as { enabled?: unknown }).enabled === true ? 'enabled' : 'disabled'}`
          )
        return 0
      }
      case 'mcp':
        return await runBridge(hub, {
          stdin: io.stdin,
          stdout: io.stdout,
          log: (m) => err(`[tapwire mcp] ${m}`),
        })
    }
    throw new UsageError(`unknown command '${key}'`)
  } catch (e) {
    if (e instanceof UsageError) {
      err(`tapwire: ${e.message}\n\n${USAGE}`)
      return 2
    }
    if (e instanceof HubError) {
      err(`tapwire: ${e.code}${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}`)
      return 1
    }
    err(`tapwire: ${(e as Error).message}`)
    return 1
  }
}
