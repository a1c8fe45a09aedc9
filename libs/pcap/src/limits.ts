/**
 * Sanity limits. Wireshark's largest "standard" snapshot length is 262144 (WTAP_MAX_PACKET_SIZE_STANDARD)
 * and our writers use it as snaplen, so a larger captured length means corruption, not a big packet.
 */
export const MAX_CAPLEN = 262144

/** Largest pcapng block we buffer whole (SHB/IDB/packet blocks); unknown blocks are skipped at any size. */
export const MAX_BUFFERED_BLOCK = 16 * 1024 * 1024

/** Snaplen our writers announce. */
export const DEFAULT_SNAPLEN = 262144
