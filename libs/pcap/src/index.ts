/**
 * @module @tapwire/pcap
 * Streaming pcap/pcapng reading (openCapture, parseCapture), writing (PcapWriter, PcapngWriter,
 * encodePcap, encodePcapng) and the time-ordered k-way merge used for merged exports.
 */
export type {
  ByteOrder,
  CaptureFormat,
  CaptureInfo,
  CaptureInterface,
  CaptureRecord,
  RecordSink,
  CaptureSection,
  CaptureStatus,
  TimedRecord,
  WritableRecord,
} from './types.js'
export {
  PcapBadBlockError,
  PcapBadMagicError,
  PcapBadRecordError,
  PcapError,
  PcapTruncatedError,
  PcapUnsupportedError,
  PcapWriterClosedError,
} from './errors.js'
export type { PcapErrorCode } from './errors.js'
export { MAX_CAPLEN, DEFAULT_SNAPLEN } from './limits.js'
export { parseCapture } from './parse-capture.js'
export type { ParsedCapture } from './parse-capture.js'
export { CaptureFileReader, openCapture } from './open-capture.js'
export type { OpenCaptureOptions } from './open-capture.js'
export type { ByteSink, WritableLike } from './sink.js'
export { PcapWriter, encodePcap } from './pcap-writer.js'
export type { PcapResolution, PcapWriterOptions } from './pcap-writer.js'
export { PcapngWriter, encodePcapng } from './pcapng-writer.js'
export type { PcapngInterfaceSpec, PcapngWriterOptions } from './pcapng-writer.js'
export { PcapMerge } from './pcap-merge.js'
export type { PcapMergeOptions, PcapSourceHeader } from './pcap-merge.js'
export { DEFAULT_READ_CHUNK, fileChunks, streamChunks } from './byte-chunks.js'
export type { ByteChunks } from './byte-chunks.js'
export { PCAP_MIME, PCAPNG_MIME } from './mime.js'
export { PcapRing, PcapRingError } from './ring/index.js'
export type { PcapRingErrorCode, PcapRingOptions, RecordFilter, RingRecovery, RingStats, SliceResult, WriteSliceOptions } from './ring/index.js'
