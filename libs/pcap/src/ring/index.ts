/** The agent's rolling pcap ring (segment files + time index). */
export { PcapRing } from './ring.js'
export type {
  PcapRingOptions,
  RecordFilter,
  RingRecovery,
  RingStats,
  SliceResult,
  WriteSliceOptions,
} from './ring.js'
export { PcapRingError } from './errors.js'
export type { PcapRingErrorCode } from './errors.js'
