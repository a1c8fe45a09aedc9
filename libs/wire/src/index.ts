/**
 * @module @tapwire/wire
 * The protobuf schema and NATS contract between agents and the hub.
 */
export {
  pb,
  WireDecodeError,
  encodeEntryBatch,
  decodeEntryBatch,
  encodeAgentStatus,
  decodeAgentStatus,
  encodeDetailsRequest,
  decodeDetailsRequest,
  encodeDetailsResponse,
  decodeDetailsResponse,
  encodePcapSliceRequest,
  decodePcapSliceRequest,
  encodePcapChunk,
  decodePcapChunk,
  encodeFlowsRequest,
  decodeFlowsRequest,
  encodeFlowsResponse,
  decodeFlowsResponse,
} from './codec.js'
export type {
  Entry,
  Endpoint,
  Header,
  Attr,
  EntryBatch,
  AgentStatus,
  CaptureStats,
  DetailsRequest,
  DetailsResponse,
  L4Stats,
  PcapSliceRequest,
  PcapChunk,
  FlowsRequest,
  FlowRecord,
  FlowsResponse,
} from './codec.js'
export {
  ENTRY_STREAM,
  ENTRY_SUBJECT_PREFIX,
  CONTROL_BUCKET,
  InvalidNodeNameError,
  toNodeToken,
  subjects,
  controlKeys,
} from './subjects.js'
export type { AgentVerb } from './subjects.js'
export { EntryBatchWriter } from './entry-encoder.js'
export { formatEntryId, parseEntryId } from './entry-id.js'
export type { EntryIdParts } from './entry-id.js'
export { DEFAULT_ENTRY_STREAM_LIMITS, DUPLICATE_WINDOW_MS, ensureEntryStream, entryStreamConfig } from './stream-config.js'
export type { EntryStreamLimits, StreamAdmin } from './stream-config.js'
export { FlagError, flagHelp, parseDuration, parseFlags, parseIntFlag, parseSize } from './flags.js'
export type { FlagSpec } from './flags.js'
export { renderMetrics } from './metrics.js'
export type { MetricSet } from './metrics.js'
