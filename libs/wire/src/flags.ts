/**
 * Command-line flags with environment fallbacks, shared by the hub and agent CLIs:
 * `--name value`, `--name=value` and boolean `--name`; a flag beats its env variable.
 */

export interface FlagSpec {
  name: string
  env?: string
  default?: string
  description: string
  boolean?: boolean
}

export class FlagError extends Error {
  readonly code = 'BAD_FLAG'
  constructor(message: string) {
    super(message)
    this.name = 'FlagError'
  }
}

export function parseFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  specs: readonly FlagSpec[]
): Record<string, string | undefined> {
  const byName = new Map(specs.map((s) => [s.name, s]))
  const out: Record<string, string | undefined> = {}
  for (const s of specs) {
    const fromEnv = s.env ? env[s.env] : undefined
    out[s.name] = fromEnv !== undefined && fromEnv !== '' ? fromEnv : s.default
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument '${arg}'`)
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const spec = byName.get(name)
    if (!spec) throw new FlagError(`unknown flag --${name}`)
    if (eq >= 0) out[name] = arg.slice(eq + 1)
    else if (spec.boolean) out[name] = 'true'
    else {
      const v = argv[++i]
      if (v === undefined) throw new FlagError(`--${name} needs a value`)
      out[name] = v
    }
  }
  return out
}

export function flagHelp(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const env = s.env ? ` [${s.env}]` : ''
      const def = s.default !== undefined ? ` (default ${s.default})` : ''
      return `  --${s.name}${env}  ${s.description}${def}`
    })
    .join('\n')
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
}

/** Parses sizes like `1GiB`, `512MiB`, `100MB`, `4096`. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) throw new FlagError(`'${text}' is not a size (e.g. 512MiB, 1GiB)`)
  return Math.floor(Number(m[1]) * unit)
}

/** Parses Go-style durations: `30m`, `1h`, `2h30m`, `90s`, `250ms`. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(text)) !== null) {
    const n = Number(m[1])
    total += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n
    matched = re.lastIndex
  }
  if (text.length === 0 || matched !== text.length) {
    throw new FlagError(`'${text}' is not a duration (e.g. 30m, 1h, 2h30m)`)
  }
  return Math.round(total)
}

export function parseIntFlag(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text)
  if (text === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new FlagError(`--${name} must be an integer from ${min} to ${max}, got '${text ?? ''}'`)
  }
  return n
}
