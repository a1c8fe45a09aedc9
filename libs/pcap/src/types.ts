/** Shapes shared by the readers, writers and the merge. */

/**
 * One captured packet as read from a file. Timestamps are normalised to seconds + nanoseconds since
 * 1970-01-01 UTC whatever the file's resolution, so records from different files compare directly.
 */
export interface CaptureRecord {
  tsSec: number
  tsNsec: number
  /** Octets present in `data` (may be less than `origLen` when the capture was snapped). */
  capLen: number
  /** Octets the packet had on the wire. */
  origLen: number
  /** LINKTYPE_* value of the interface the packet was captured on. */
  linkType: number
  /** Index into `CaptureInfo.interfaces` (file-global, across pcapng sections); 0 for classic pcap. */
  ifIndex: number
  /**
   * Packet bytes starting at the link-layer header. A view into the reader's chunk buffer, which is
   * never reused, so it stays valid; `slice()` it to avoid pinning the whole chunk in memory.
   */
  data: Uint8Array
}

/**
 * Receives records without an object per record: the fields, and the packet's bytes in place as
 * `buf[start, start + capLen)`, valid only during the call. For consumers that copy the bytes at
 * once (packing packet batches), which would otherwise get a record object and a view per packet
 * only to drop them.
 */
export interface RecordSink {
  record(
    linkType: number,
    ifIndex: number,
    tsSec: number,
    tsNsec: number,
    buf: Uint8Array,
    start: number,
    capLen: number,
    origLen: number
  ): void
}

/** Where a parser puts records: an array of record objects, or a sink. */
export type RecordOut = CaptureRecord[] | RecordSink

/** What a writer needs from a record; a `CaptureRecord` qualifies. */
export interface WritableRecord {
  tsSec: number
  tsNsec: number
  data: Uint8Array
  /** Defaults to `data.length`. */
  origLen?: number
  /** pcapng: which interface (IDB) the packet belongs to; default 0. Ignored by the pcap writer. */
  ifIndex?: number
  /** When present, writers check it matches the interface's link type. */
  linkType?: number
}

/** Anything ordered by capture time (the merge only looks at these two fields). */
export interface TimedRecord {
  tsSec: number
  tsNsec: number
}

export type CaptureFormat = 'pcap' | 'pcapng'
export type ByteOrder = 'little' | 'big'

export interface CaptureInterface {
  /** File-global index (the `ifIndex` records carry). */
  index: number
  /** pcapng section (0-based) the IDB belongs to; always 0 for classic pcap. */
  section: number
  linkType: number
  snapLen: number
  name?: string
  description?: string
  /** Timestamp units per second (1e6 = µs, 1e9 = ns, 2^k for power-of-two resolutions). */
  tsUnitsPerSecond: number
  /** if_tsoffset: seconds added to every timestamp of this interface. */
  tsOffset: number
  /** Length of the frame check sequence at the end of each packet, in octets, when announced. */
  fcsLen?: number
}

export interface CaptureSection {
  byteOrder: ByteOrder
  majorVersion: number
  minorVersion: number
  hardware?: string
  os?: string
  userAppl?: string
}

export interface CaptureInfo {
  format: CaptureFormat
  /** Byte order of the (first) header. */
  byteOrder: ByteOrder
  /**
   * Interfaces seen so far. Classic pcap has exactly one; pcapng grows this list as IDBs are read,
   * so it is complete only once the whole file has been read.
   */
  interfaces: CaptureInterface[]
  /** pcapng sections seen so far (empty for classic pcap). */
  sections: CaptureSection[]
  /** Classic pcap header fields. */
  pcap?: { versionMajor: number; versionMinor: number; snapLen: number; resolution: 'us' | 'ns' }
}

/** Outcome flags a reader reports besides its records. */
export interface CaptureStatus {
  /** The input ended inside a record/block (torn write); the records before it were returned. */
  truncated: boolean
  /** Human-readable notes about tolerated oddities (truncation, skipped data). */
  warnings: string[]
  /** Records returned so far. */
  recordCount: number
}
