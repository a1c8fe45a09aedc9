import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const BLOCK = 100_000

/**
 * Flow and connection ids that never repeat on a node, even across restarts (they are part of
 * entry ids). Ids are handed out from blocks; the end of the current block is written to disk
 * before any id of it is used, so a crash skips at most one block and never reuses one.
 */
export class IdAllocator {
  #next: number
  #reservedEnd: number
  readonly #file: string

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true })
    this.#file = join(dataDir, 'id-high-water')
    let start = 1
    try {
      const v = Number(readFileSync(this.#file, 'utf8').trim())
      if (Number.isSafeInteger(v) && v > 0) start = v
    } catch {
      // First start on this data dir.
    }
    this.#next = start
    this.#reservedEnd = start
    this.#reserve()
  }

  next = (): number => {
    if (this.#next >= this.#reservedEnd) this.#reserve()
    return this.#next++
  }

  #reserve(): void {
    this.#reservedEnd = this.#next + BLOCK
    const tmp = `${this.#file}.tmp`
    writeFileSync(tmp, String(this.#reservedEnd))
    renameSync(tmp, this.#file)
  }
}
