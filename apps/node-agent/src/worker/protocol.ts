/** Messages between the agent's main thread and its dissector worker. */
import type { AnalyzerStats, ConnWindow } from '@tapwire/dissectors'
import type { DetailsResponse } from '@tapwire/wire'

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
  /** L4 connection/flow entries (`--l4-entries`) and their report window (`--l4-interval`). */
  l4Entries: boolean
  l4IntervalMs: number
}

export interface DetailsQuery {
  id: string
  maxPayloadSize: number
  includePayload: boolean
  includeL4: boolean
  /** include_pcap: answer with the connection's window too, for the main thread to cut the ring. */
  includeConn: boolean
  /** From the hub's stored entry: finds the connection when the detail cache forgot the call. */
  connId: number
  flowId: number
}

/** The worker's answer to `details`: the wire answer plus, when asked, the connection's window. */
export type WorkerDetails = DetailsResponse & { conn?: ConnWindow | undefined }

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
