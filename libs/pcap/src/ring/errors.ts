/**
 * Errors raised by the pcap ring. Like the reader/writer errors, callers branch on `code`. The codes
 * live in their own union because the ring is a store, not a file format: its failures (bad options,
 * closed, wrong link type) say nothing about pcap bytes.
 */
export type PcapRingErrorCode = 'PCAP_RING_OPTIONS' | 'PCAP_RING_CLOSED' | 'PCAP_RING_LINK_TYPE'

export class PcapRingError extends Error {
  readonly code: PcapRingErrorCode

  constructor(code: PcapRingErrorCode, message: string) {
    super(message)
    this.name = 'PcapRingError'
    this.code = code
  }
}
