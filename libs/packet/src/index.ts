/**
 * @module @tapwire/packet
 * Link/network/transport decoding and the packet batch format shared by capture and dissection.
 */
export { LinkType, linkTypeFromName, linkTypeName } from './link-type.js'
export {
  BATCH_MAGIC,
  BATCH_HEADER_SIZE,
  RECORD_HEADER_SIZE,
  BatchBuilder,
  BatchFormatError,
  forEachPacket,
  readBatchInfo,
} from './batch.js'
export type { PacketView, BatchInfo } from './batch.js'
export { BatchPacker } from './batch-packer.js'
export type { BatchPackerOptions } from './batch-packer.js'
export { DecodeStatus, IpProto, TcpFlag, decodePacket, newDecodedPacket, payloadOf } from './decode.js'
export type { DecodedPacket } from './decode.js'
export { formatAddress, formatIpv4, formatIpv6 } from './address.js'
export { DEFAULT_FRAGMENT_LIMITS, FragmentReassembler } from './ip-fragments.js'
export type { FragmentLimits, FragmentStats } from './ip-fragments.js'
export { splitIpPacket } from './ip-fragments-split.js'
