import { spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'

/** A child process started by a test: output kept, stopped by its own PID only. */
export class TestProcess {
  readonly child: ChildProcess
  readonly name: string
  output = ''
  #exit: Promise<number | null>

  constructor(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}) {
    this.name = name
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    const append = (d: Buffer): void => {
      this.output += d.toString()
      if (this.output.length > 1 << 20) this.output = this.output.slice(-(1 << 19))
    }
    this.child.stdout?.on('data', append)
    this.child.stderr?.on('data', append)
    this.#exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null
  }

  /** Resolves with the exit code (null when killed by a signal). */
  wait(timeoutMs = 60_000): Promise<number | null> {
    return Promise.race([
      this.#exit,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.output}`)), timeoutMs).unref()
      ),
    ])
  }

  /** Waits until the output matches `re`. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!re.test(this.output)) {
      if (this.exited) throw new Error(`${this.name} exited before printing ${re}:\n${this.output}`)
      if (Date.now() > deadline) throw new Error(`${this.name} did not print ${re} in ${timeoutMs} ms:\n${this.output}`)
      await sleep(50)
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exited && this.pid !== undefined) process.kill(this.pid, sig)
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return
    this.signal('SIGTERM')
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs)
    await this.#exit
    clearTimeout(timer)
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs = 30_000,
  everyMs = 100
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as Exclude<T, undefined | null | false | 0 | ''>
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    await sleep(everyMs)
  }
}

/** Throws a clear error when a required tool is missing (npm test installs them all). */
export function requireTool(binary: string, debianPackage: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error(`${binary} is missing: install the Debian package '${debianPackage}' (npm test does this)`)
  }
}
