import { spawn } from 'node:child_process'

export interface Timed {
  seconds: number
  maxRssMiB: number
  /** User + system CPU seconds. */
  cpuS: number
  stdout: string
}

/**
 * Runs a command under GNU time for wall time and peak RSS (the same measure for our pipeline
 * and for the peer tool), and keeps its standard output.
 */
export function timeCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn('/usr/bin/time', ['-f', 'TAPWIRE_TIME %e %M %U %S', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      const wall = Number(process.hrtime.bigint() - start) / 1e9
      const m = /TAPWIRE_TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(err)
      if (code !== 0 || !m) return reject(new Error(`${cmd} failed (${code}): ${err.slice(-2000)}`))
      resolve({ seconds: wall, maxRssMiB: Number(m[2]) / 1024, cpuS: Number(m[3]) + Number(m[4]), stdout: out })
    })
  })
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
