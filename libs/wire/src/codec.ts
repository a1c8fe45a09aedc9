import protobuf from 'protobufjs/minimal.js'
import { tapwire } from '../generated/tapwire.js'
import { encodeEntryBatchFast } from './entry-encoder.js'

// 64-bit fields decode to plain numbers: ids and counters stay far below 2^53, and Long objects
// would leak into every consumer (JSON, KFL, comparisons).
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long
protobuf.configure()

export const pb = tapwire.v1

export type Entry = tapwire.v1.IEntry
export type Endpoint = tapwire.v1.IEndpoint
export type Header = tapwire.v1.IHeader
export type Attr = tapwire.v1.IAttr
export type EntryBatch = tapwire.v1.IEntryBatch
export type AgentStatus = tapwire.v1.IAgentStatus
export type CaptureStats = tapwire.v1.ICaptureStats
export type DetailsRequest = tapwire.v1.IDetailsRequest
export type DetailsResponse = tapwire.v1.IDetailsResponse
export type L4Stats = tapwire.v1.IL4Stats
export type PcapSliceRequest = tapwire.v1.IPcapSliceRequest
export type PcapChunk = tapwire.v1.IPcapChunk
export type FlowsRequest = tapwire.v1.IFlowsRequest
export type FlowRecord = tapwire.v1.IFlowRecord
export type FlowsResponse = tapwire.v1.IFlowsResponse

/** A decode failure with a stable code, so callers can count and skip bad messages. */
export class WireDecodeError extends Error {
  readonly code = 'WIRE_DECODE_FAILED'
  constructor(what: string, options?: ErrorOptions) {
    super(`cannot decode ${what}`, options)
    this.name = 'WireDecodeError'
  }
}

function decoder<T>(what: string, decode: (bytes: Uint8Array) => T): (bytes: Uint8Array) => T {
  return (bytes) => {
    try {
      return decode(bytes)
    } catch (cause) {
      throw new WireDecodeError(what, { cause })
    }
  }
}

/** The agent's hot path: a specialised encoder, byte for byte what `pb.EntryBatch.encode` gives. */
export const encodeEntryBatch = (batch: EntryBatch): Uint8Array => encodeEntryBatchFast(batch)
export const decodeEntryBatch = decoder('EntryBatch', (b) => pb.EntryBatch.decode(b))
export const encodeAgentStatus = (s: AgentStatus): Uint8Array => pb.AgentStatus.encode(s).finish()
export const decodeAgentStatus = decoder('AgentStatus', (b) => pb.AgentStatus.decode(b))
export const encodeDetailsRequest = (r: DetailsRequest): Uint8Array => pb.DetailsRequest.encode(r).finish()
export const decodeDetailsRequest = decoder('DetailsRequest', (b) => pb.DetailsRequest.decode(b))
export const encodeDetailsResponse = (r: DetailsResponse): Uint8Array => pb.DetailsResponse.encode(r).finish()
export const decodeDetailsResponse = decoder('DetailsResponse', (b) => pb.DetailsResponse.decode(b))
export const encodePcapSliceRequest = (r: PcapSliceRequest): Uint8Array => pb.PcapSliceRequest.encode(r).finish()
export const decodePcapSliceRequest = decoder('PcapSliceRequest', (b) => pb.PcapSliceRequest.decode(b))
export const encodePcapChunk = (c: PcapChunk): Uint8Array => pb.PcapChunk.encode(c).finish()
export const decodePcapChunk = decoder('PcapChunk', (b) => pb.PcapChunk.decode(b))
export const encodeFlowsRequest = (r: FlowsRequest): Uint8Array => pb.FlowsRequest.encode(r).finish()
export const decodeFlowsRequest = decoder('FlowsRequest', (b) => pb.FlowsRequest.decode(b))
export const encodeFlowsResponse = (r: FlowsResponse): Uint8Array => pb.FlowsResponse.encode(r).finish()
export const decodeFlowsResponse = decoder('FlowsResponse', (b) => pb.FlowsResponse.decode(b))
