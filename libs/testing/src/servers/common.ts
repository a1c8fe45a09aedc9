import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProcess } from '../processes.js'

/** A real server started by a test on a loopback port; `stop()` ends it by its own PID. */
export interface ServerHandle {
  port: number
  /** Temp directory with the server's data (removed by `stop()`). */
  dir: string
  process: TestProcess
  stop(): Promise<void>
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

/** A handle whose `stop()` stops the process, then removes its temp dir. */
export function handle(
  port: number,
  dir: string,
  proc: TestProcess,
  extra: Partial<ServerHandle> = {}
): ServerHandle {
  return {
    port,
    dir,
    process: proc,
    async stop() {
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
    },
    ...extra,
  }
}

/** Stops the process (if any) and removes the dir when a launch fails half-way. */
export async function cleanupFailedLaunch(
  dir: string,
  proc: TestProcess | undefined
): Promise<void> {
  if (proc) await proc.stop().catch(() => undefined)
  rmSync(dir, { recursive: true, force: true })
}
