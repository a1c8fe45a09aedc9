/**
 * Errors raised by the pcap/pcapng readers and writers. Callers branch on the stable `code`, never
 * on the message. A torn final record is not an error: readers report it through `truncated`.
 */
export type PcapErrorCode =
  | 'PCAP_BAD_MAGIC'
  | 'PCAP_TRUNCATED'
  | 'PCAP_BAD_BLOCK'
  | 'PCAP_UNSUPPORTED'
  | 'PCAP_BAD_RECORD'
  | 'PCAP_WRITER_CLOSED'

export class PcapError extends Error {
  readonly code: PcapErrorCode
  /** Byte offset in the file (or buffer) where the problem starts, when known. */
  readonly offset: number | undefined

  constructor(code: PcapErrorCode, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte offset ${offset})`)
    this.name = 'PcapError'
    this.code = code
    this.offset = offset
  }
}

/** The first four octets are neither a classic pcap magic nor a pcapng Section Header Block. */
export class PcapBadMagicError extends PcapError {
  constructor(message: string, offset = 0) {
    super('PCAP_BAD_MAGIC', message, offset)
    this.name = 'PcapBadMagicError'
  }
}

/** The input ends before a file/section header is complete (nothing could be read). */
export class PcapTruncatedError extends PcapError {
  constructor(message: string, offset?: number) {
    super('PCAP_TRUNCATED', message, offset)
    this.name = 'PcapTruncatedError'
  }
}

/** A record or block has an impossible length or refers to something that does not exist. */
export class PcapBadBlockError extends PcapError {
  constructor(message: string, offset?: number) {
    super('PCAP_BAD_BLOCK', message, offset)
    this.name = 'PcapBadBlockError'
  }
}

/** A well-formed file in a variant we do not read (other major version, modified pcap...). */
export class PcapUnsupportedError extends PcapError {
  constructor(message: string, offset?: number) {
    super('PCAP_UNSUPPORTED', message, offset)
    this.name = 'PcapUnsupportedError'
  }
}

/** A writer was given a record it cannot encode (unknown interface, bad timestamp...). */
export class PcapBadRecordError extends PcapError {
  constructor(message: string) {
    super('PCAP_BAD_RECORD', message)
    this.name = 'PcapBadRecordError'
  }
}

/** write() after close(). */
export class PcapWriterClosedError extends PcapError {
  constructor() {
    super('PCAP_WRITER_CLOSED', 'the capture writer is closed')
    this.name = 'PcapWriterClosedError'
  }
}
