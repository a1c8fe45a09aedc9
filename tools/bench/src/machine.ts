import { execFileSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'

/** The line every table carries: where and when its numbers were measured. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  const tshark = tryRun('tshark', ['--version']).split('\n')[0] ?? 'tshark ?'
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ')
  return `${date} UTC · ${cpus().length} cores (${cpu}) · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version} · ${tshark}`
}

export function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return ''
  }
}
