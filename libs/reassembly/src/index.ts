/**
 * @module @tapwire/reassembly
 * Flow table, TCP reassembly and L4 connection statistics.
 */
export { FlowTable } from './flow-table.js'
export type { FlowTableOptions, FlowTableStats } from './flow-table.js'
export { Connection } from './connection.js'
export type { ConnectionState, DirectionStats } from './connection.js'
export { TcpHalf } from './tcp-half.js'
export { seqAdd, seqDiff } from './seq.js'
export { DEFAULT_FLOW_LIMITS } from './types.js'
export type { CloseReason, Direction, FlowLimits, Peer, StreamConsumer } from './types.js'
