import type { AgentStatus } from '@tapwire/wire'

export interface NodeRecord {
  status: AgentStatus
  receivedAt: number
}

/** The nodes the hub knows, from their heartbeats (tapwire.agent.<node>.status). */
export class NodeRegistry {
  readonly #nodes = new Map<string, NodeRecord>()
  /** A node silent for longer than this is reported offline. */
  readonly offlineAfterMs: number

  constructor(offlineAfterMs = 10_000) {
    this.offlineAfterMs = offlineAfterMs
  }

  update(status: AgentStatus, now = Date.now()): void {
    if (!status.node) return
    this.#nodes.set(status.node, { status, receivedAt: now })
  }

  get(node: string): NodeRecord | undefined {
    return this.#nodes.get(node)
  }

  online(node: string, now = Date.now()): boolean {
    const r = this.#nodes.get(node)
    return r !== undefined && now - r.receivedAt <= this.offlineAfterMs
  }

  all(): NodeRecord[] {
    return [...this.#nodes.values()].sort((a, b) => (a.status.node ?? '').localeCompare(b.status.node ?? ''))
  }
}
