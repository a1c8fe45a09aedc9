import type { KV } from 'nats'
import { controlKeys } from '@tapwire/wire'

/** Dissection on/off, kept in the JetStream KV bucket agents watch (survives restarts of both). */
export interface DissectionControl {
  enabled(): Promise<boolean>
  set(enabled: boolean): Promise<void>
}

export class KvDissectionControl implements DissectionControl {
  readonly #kv: KV

  constructor(kv: KV) {
    this.#kv = kv
  }

  async enabled(): Promise<boolean> {
    const e = await this.#kv.get(controlKeys.dissectionEnabled)
    // Absent means never switched off: dissection is on by default.
    return e?.string() !== 'false'
  }

  async set(enabled: boolean): Promise<void> {
    await this.#kv.put(controlKeys.dissectionEnabled, enabled ? 'true' : 'false')
  }
}
