/** Messages between the agent's main thread and its dissector worker. */
import type { AnalyzerStats } from '@tapwire/dissectors'

export interface WorkerInit {
  node: string
  worker: string
  dataDir: string
  dissectionEnabled: boolean
  previewBytes: number
  /** Body bytes the dissectors keep per message (for drill-down). */
  maxBodyBytes: number
  /** Bytes of full bodies the detail cache holds. */
  detailCacheBytes: number
  /** Extra redaction rules on top of the defaults; undefined: no redaction. */
  redaction: { headers: string[]; keys: string[]; patterns: string[] } | undefined
  /** Distinguishes this process's message ids from earlier runs' (JetStream de-duplication). */
  bootId: string
}

export interface DetailsQuery {
  id: string
  maxPayloadSize: number
  includePayload: boolean
  includeL4: boolean
}

export type ToWorker =
  | { type: 'batch'; batch: ArrayBuffer }
  | { type: 'details'; reqId: number; query: DetailsQuery }
  | { type: 'flows'; reqId: number; limit: number }
  | { type: 'dissection'; enabled: boolean }
  | { type: 'tick'; nowMs: number }
  | { type: 'finish' }

export interface EntryBatchMessage {
  type: 'entries'
  /** Encoded tapwire.v1.EntryBatch. */
  bytes: Uint8Array
  count: number
  msgId: string
  oldestTs: number
  newestTs: number
}

export type FromWorker =
  | EntryBatchMessage
  | { type: 'reply'; reqId: number; value: unknown }
  | { type: 'processed'; packets: number }
  | { type: 'stats'; stats: AnalyzerStats }
  | { type: 'finished'; stats: AnalyzerStats }
  | { type: 'error'; message: string }
