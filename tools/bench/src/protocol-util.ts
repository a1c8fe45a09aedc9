import { spawn } from 'node:child_process'
import { recordLoopback } from '@tapwire/testing'

/** What a protocol's recording gives the replay bench: the peer's port and the calls the client made. */
export interface Recorded {
  port: number
  /** Requests the generator completed (its own count, before any dissector saw them). */
  made: number
}

/**
 * Records loopback traffic like recordLoopback, again (up to 3 times in all) while the kernel
 * reports packets tcpdump did not keep up with: an incomplete file would make both readers' call
 * counts meaningless. `traffic` runs once per attempt, so it must be repeatable on the same peer.
 */
export async function recordComplete(file: string, filter: string, traffic: () => Promise<number>): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    let made = 0
    const stats = await recordLoopback(file, filter, async () => {
      made = await traffic()
    })
    if (stats.droppedByKernel === 0) return made
    if (attempt >= 3) {
      console.error(`bench: tcpdump dropped ${stats.droppedByKernel} packets in every attempt; ${file} is incomplete`)
      return made
    }
  }
}

/**
 * Runs `count` tasks with at most `width` in flight and stops starting new ones at `deadline`
 * (ms since the epoch), so every generator ends by itself. Returns how many tasks completed; a
 * task that throws fails the whole run (a broken generator must be loud, not a short table row).
 */
export async function pool(count: number, width: number, deadline: number, task: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < count && Date.now() < deadline) {
      await task(next++)
      done++
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker))
  return done
}

/**
 * Runs a client tool to completion with `input` on its standard input; killed (and rejected)
 * after `timeoutMs`. Resolves with its standard output; a non-zero exit rejects with its stderr.
 */
export function runTool(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env })
    let out = ''
    let err = ''
    // Keep only the tail: result sets of thousands of queries are not needed, only errors are.
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-65_536)))
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8192)))
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(1000, opts.timeoutMs))
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${signal ? `killed (${signal}, over ${opts.timeoutMs} ms)` : `exited ${code}`}: ${err.slice(-2000)}`))
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(opts.input ?? '')
  })
}
