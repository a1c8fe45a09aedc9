// Kafka wire protocol tables and body parsers.
// Source: Kafka protocol guide (kafka.apache.org/protocol) and the message JSON schemas in
// clients/src/main/resources/common/message/*.json (api keys, versions, "flexibleVersions").
import { Reader, text } from '../generic/framer.js'

/** Every api key the protocol guide lists (Kafka 4.x), named like KFL expects (PRODUCE, FETCH). */
export const API_KEY_NAMES: readonly string[] = [
  'PRODUCE',
  'FETCH',
  'LIST_OFFSETS',
  'METADATA',
  'LEADER_AND_ISR',
  'STOP_REPLICA',
  'UPDATE_METADATA',
  'CONTROLLED_SHUTDOWN',
  'OFFSET_COMMIT',
  'OFFSET_FETCH',
  'FIND_COORDINATOR',
  'JOIN_GROUP',
  'HEARTBEAT',
  'LEAVE_GROUP',
  'SYNC_GROUP',
  'DESCRIBE_GROUPS',
  'LIST_GROUPS',
  'SASL_HANDSHAKE',
  'API_VERSIONS',
  'CREATE_TOPICS',
  'DELETE_TOPICS',
  'DELETE_RECORDS',
  'INIT_PRODUCER_ID',
  'OFFSET_FOR_LEADER_EPOCH',
  'ADD_PARTITIONS_TO_TXN',
  'ADD_OFFSETS_TO_TXN',
  'END_TXN',
  'WRITE_TXN_MARKERS',
  'TXN_OFFSET_COMMIT',
  'DESCRIBE_ACLS',
  'CREATE_ACLS',
  'DELETE_ACLS',
  'DESCRIBE_CONFIGS',
  'ALTER_CONFIGS',
  'ALTER_REPLICA_LOG_DIRS',
  'DESCRIBE_LOG_DIRS',
  'SASL_AUTHENTICATE',
  'CREATE_PARTITIONS',
  'CREATE_DELEGATION_TOKEN',
  'RENEW_DELEGATION_TOKEN',
  'EXPIRE_DELEGATION_TOKEN',
  'DESCRIBE_DELEGATION_TOKEN',
  'DELETE_GROUPS',
  'ELECT_LEADERS',
  'INCREMENTAL_ALTER_CONFIGS',
  'ALTER_PARTITION_REASSIGNMENTS',
  'LIST_PARTITION_REASSIGNMENTS',
  'OFFSET_DELETE',
  'DESCRIBE_CLIENT_QUOTAS',
  'ALTER_CLIENT_QUOTAS',
  'DESCRIBE_USER_SCRAM_CREDENTIALS',
  'ALTER_USER_SCRAM_CREDENTIALS',
  'VOTE',
  'BEGIN_QUORUM_EPOCH',
  'END_QUORUM_EPOCH',
  'DESCRIBE_QUORUM',
  'ALTER_PARTITION',
  'UPDATE_FEATURES',
  'ENVELOPE',
  'FETCH_SNAPSHOT',
  'DESCRIBE_CLUSTER',
  'DESCRIBE_PRODUCERS',
  'BROKER_REGISTRATION',
  'BROKER_HEARTBEAT',
  'UNREGISTER_BROKER',
  'DESCRIBE_TRANSACTIONS',
  'LIST_TRANSACTIONS',
  'ALLOCATE_PRODUCER_IDS',
  'CONSUMER_GROUP_HEARTBEAT',
  'CONSUMER_GROUP_DESCRIBE',
  'CONTROLLER_REGISTRATION',
  'GET_TELEMETRY_SUBSCRIPTIONS',
  'PUSH_TELEMETRY',
  'ASSIGN_REPLICAS_TO_DIRS',
  'LIST_CLIENT_METRICS_RESOURCES',
  'DESCRIBE_TOPIC_PARTITIONS',
  'SHARE_GROUP_HEARTBEAT',
  'SHARE_GROUP_DESCRIBE',
  'SHARE_FETCH',
  'SHARE_ACKNOWLEDGE',
  'ADD_RAFT_VOTER',
  'REMOVE_RAFT_VOTER',
  'UPDATE_RAFT_VOTER',
  'INITIALIZE_SHARE_GROUP_STATE',
  'READ_SHARE_GROUP_STATE',
  'WRITE_SHARE_GROUP_STATE',
  'DELETE_SHARE_GROUP_STATE',
  'READ_SHARE_GROUP_STATE_SUMMARY',
  'STREAMS_GROUP_HEARTBEAT',
  'STREAMS_GROUP_DESCRIBE',
  'DESCRIBE_SHARE_GROUP_OFFSETS',
  'ALTER_SHARE_GROUP_OFFSETS',
  'DELETE_SHARE_GROUP_OFFSETS',
]

export const apiKeyName = (key: number): string => API_KEY_NAMES[key] ?? `UNKNOWN_${key}`

/**
 * First flexible version of each api key ("flexibleVersions" in the message schemas, KIP-482):
 * from it on, headers carry tagged fields and strings/arrays use compact (varint) lengths. -1: never.
 * Keys past the table's end (52+) were born flexible.
 */
const FLEXIBLE_FROM: readonly number[] = [
  9, 12, 6, 9, 4, 2, 6, 3, 8, 6, 3, 6, 4, 4, 4, 5, 3, -1, 3, 5, 4, 2, 2, 4, 3, 3, 3, 1, 3, 2, 2, 2,
  4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0, 0, -1, 1, 1, 0, 0,
]

export function isFlexible(apiKey: number, version: number): boolean {
  const from = FLEXIBLE_FROM[apiKey] ?? 0
  return from >= 0 && version >= from
}

/** Highest version Tapwire treats as plausible in detection (the largest today is Fetch 17). */
export const MAX_PLAUSIBLE_VERSION = 20

/** Common error codes (protocol guide, "Error Codes"). */
const ERROR_NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  1: 'OFFSET_OUT_OF_RANGE',
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  17: 'INVALID_TOPIC_EXCEPTION',
  19: 'NOT_ENOUGH_REPLICAS',
  25: 'UNKNOWN_MEMBER_ID',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  36: 'TOPIC_ALREADY_EXISTS',
  41: 'NOT_CONTROLLER',
  42: 'INVALID_REQUEST',
  58: 'SASL_AUTHENTICATION_FAILED',
}

export const errorName = (code: number): string => ERROR_NAMES[code] ?? `ERROR_${code}`

export interface RequestHeader {
  apiKey: number
  apiVersion: number
  correlationId: number
  clientId: string | null
  /** Offset of the body within the message (after the 4-byte length). */
  bodyOffset: number
}

/**
 * Request header v1 (api_key, api_version, correlation_id, client_id as a nullable INT16 string)
 * and v2 (v1 plus tagged fields) — client_id stays a non-compact string even in v2. Header v0
 * (no client_id) is only ControlledShutdown v0, which no client sends any more.
 */
export function parseRequestHeader(b: Uint8Array): RequestHeader {
  const r = new Reader(b, 4)
  const apiKey = r.i16()
  const apiVersion = r.i16()
  const correlationId = r.i32()
  let clientId: string | null = null
  if (!(apiKey === 7 && apiVersion === 0)) {
    const n = r.i16()
    if (n >= 0) clientId = text(r.bytes(n))
  }
  if (isFlexible(apiKey, apiVersion)) skipTaggedFields(r)
  return { apiKey, apiVersion, correlationId, clientId, bodyOffset: r.pos }
}

export function skipTaggedFields(r: Reader): void {
  const n = r.uvarint()
  for (let i = 0; i < n; i++) {
    r.uvarint()
    r.skip(r.uvarint())
  }
}

/** Reads strings, arrays and bytes in the version's encoding (compact when flexible). */
class Fields {
  readonly r: Reader
  readonly flex: boolean
  constructor(r: Reader, flex: boolean) {
    this.r = r
    this.flex = flex
  }
  str(): string | null {
    const n = this.flex ? this.r.uvarint() - 1 : this.r.i16()
    return n < 0 ? null : text(this.r.bytes(n))
  }
  /** Array length; -1 for null. */
  arr(): number {
    return this.flex ? this.r.uvarint() - 1 : this.r.i32()
  }
  skipBytes(): void {
    const n = this.flex ? this.r.uvarint() - 1 : this.r.i32()
    if (n > 0) this.r.skip(n)
  }
  tags(): void {
    if (this.flex) skipTaggedFields(this.r)
  }
}

export interface RequestBody {
  topics: string[]
  /** Produce acks: 0 means the broker sends no response. */
  acks?: number
}

/**
 * Topics of Produce, Fetch and Metadata requests. The message may be truncated (only its first
 * bytes are kept): whatever topics were read before the end are returned.
 */
export function parseRequestBody(h: RequestHeader, b: Uint8Array): RequestBody {
  const out: RequestBody = { topics: [] }
  const v = h.apiVersion
  const f = new Fields(new Reader(b, h.bodyOffset), isFlexible(h.apiKey, v))
  const r = f.r
  try {
    if (h.apiKey === 0) {
      // ProduceRequest: [transactional_id (v3+)] acks timeout_ms topic_data[name (topic_id v13+) partition_data[index records]]
      if (v >= 3) f.str()
      out.acks = r.i16()
      r.i32()
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        if (v >= 13) r.skip(16)
        else out.topics.push(f.str() ?? '')
        const parts = f.arr()
        for (let p = 0; p < parts; p++) {
          r.i32()
          f.skipBytes()
          f.tags()
        }
        f.tags()
      }
    } else if (h.apiKey === 1) {
      // FetchRequest: replica_id max_wait min_bytes [max_bytes v3+] [isolation v4+] [session v7+] topics[...]
      if (v >= 15) return out // replica_id moved to a tagged field; not decoded
      r.skip(12)
      if (v >= 3) r.skip(4)
      if (v >= 4) r.skip(1)
      if (v >= 7) r.skip(8)
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        if (v >= 13) {
          r.skip(16) // topic_id: names are gone from the request
          break
        }
        out.topics.push(f.str() ?? '')
        const parts = f.arr()
        // partition, [current_leader_epoch v9+], fetch_offset, [last_fetched_epoch v12+], [log_start_offset v5+], max_bytes
        const size = 4 + (v >= 9 ? 4 : 0) + 8 + (v >= 12 ? 4 : 0) + (v >= 5 ? 8 : 0) + 4
        for (let p = 0; p < parts; p++) {
          r.skip(size)
          f.tags()
        }
        f.tags()
      }
    } else if (h.apiKey === 3) {
      // MetadataRequest: topics (nullable from v1; null = all)[ [topic_id v10+] name ]
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        if (v >= 10) r.skip(16)
        const name = f.str()
        if (name !== null) out.topics.push(name)
        f.tags()
      }
    }
  } catch {
    // Truncated or malformed: keep what was read.
  }
  return out
}

export interface ResponseBody {
  /** First non-zero error code found (0 when none). */
  errorCode: number
  topics: string[]
}

/** Error codes (and topics) of Produce, Fetch and Metadata responses; the header is already read. */
export function parseResponseBody(
  apiKey: number,
  v: number,
  b: Uint8Array,
  offset: number
): ResponseBody {
  const out: ResponseBody = { errorCode: 0, topics: [] }
  const flex = isFlexible(apiKey, v)
  const f = new Fields(new Reader(b, offset), flex)
  const r = f.r
  // Response header v1 (flexible, except ApiVersions which always uses header v0) adds tagged fields.
  const err = (code: number): void => {
    if (out.errorCode === 0 && code !== 0) out.errorCode = code
  }
  try {
    if (flex && apiKey !== 18) skipTaggedFields(r)
    if (apiKey === 0) {
      // ProduceResponse: responses[name partition_responses[index error_code base_offset ...]] throttle
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        if (v >= 13) r.skip(16)
        else out.topics.push(f.str() ?? '')
        const parts = f.arr()
        for (let p = 0; p < parts; p++) {
          r.i32()
          err(r.i16())
          r.skip(8) // base_offset
          if (v >= 2) r.skip(8) // log_append_time_ms
          if (v >= 5) r.skip(8) // log_start_offset
          if (v >= 8) {
            const errs = f.arr()
            for (let e = 0; e < errs; e++) {
              r.i32()
              f.str()
              f.tags()
            }
            f.str()
          }
          f.tags()
        }
        f.tags()
      }
    } else if (apiKey === 1) {
      // FetchResponse: [throttle v1+] [error_code session_id v7+] responses[topic partitions[index error_code ...]]
      if (v >= 1) r.skip(4)
      if (v >= 7) {
        err(r.i16())
        r.skip(4)
      }
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        if (v >= 13) r.skip(16)
        else out.topics.push(f.str() ?? '')
        const parts = f.arr()
        for (let p = 0; p < parts; p++) {
          r.i32()
          err(r.i16())
          r.skip(8) // high_watermark
          if (v >= 4) r.skip(8) // last_stable_offset
          if (v >= 5) r.skip(8) // log_start_offset
          if (v >= 4) {
            const aborted = f.arr()
            for (let a = 0; a < aborted; a++) {
              r.skip(16)
              f.tags()
            }
          }
          if (v >= 11) r.skip(4) // preferred_read_replica
          f.skipBytes()
          f.tags()
        }
        f.tags()
      }
    } else if (apiKey === 3) {
      // MetadataResponse: [throttle v3+] brokers[node_id host port [rack v1+]] [cluster_id v2+]
      // [controller_id v1+] topics[error_code name [topic_id v10+] [is_internal v1+] partitions[...]]
      if (v >= 3) r.skip(4)
      const brokers = f.arr()
      for (let i = 0; i < brokers; i++) {
        r.skip(4)
        f.str()
        r.skip(4)
        if (v >= 1) f.str()
        f.tags()
      }
      if (v >= 2) f.str()
      if (v >= 1) r.skip(4)
      const n = f.arr()
      for (let i = 0; i < n; i++) {
        err(r.i16())
        out.topics.push(f.str() ?? '')
        if (v >= 10) r.skip(16)
        if (v >= 1) r.skip(1)
        const parts = f.arr()
        for (let p = 0; p < parts; p++) {
          err(r.i16())
          r.skip(8) // partition_index, leader_id
          if (v >= 7) r.skip(4)
          const lists = v >= 5 ? 3 : 2 // replicas, isr, [offline_replicas]
          for (let l = 0; l < lists; l++) r.skip(4 * Math.max(0, f.arr()))
          f.tags()
        }
        if (v >= 8) r.skip(4)
        f.tags()
      }
    } else if (apiKey === 18) {
      err(r.i16())
    }
  } catch {
    // Truncated: keep what was read.
  }
  return out
}
