/** Synchronous whole-buffer reading, for small captures already in memory (API payloads, tests). */
import { CaptureDecoder } from './decoder.js'
import type { CaptureInfo, CaptureRecord, CaptureStatus } from './types.js'

export interface ParsedCapture extends CaptureStatus {
  info: CaptureInfo
  records: CaptureRecord[]
}

/**
 * Parses a complete pcap or pcapng file held in memory. Record `data` are views into `bytes`.
 * Throws `PcapError`s for bad magic, impossible lengths and headers cut short; a torn final record
 * only sets `truncated`.
 */
export function parseCapture(bytes: Uint8Array): ParsedCapture {
  const decoder = new CaptureDecoder()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const records: CaptureRecord[] = []
  const end = decoder.decode(bytes, view, 0, bytes.length, 0, records)
  const skip = decoder.takeSkip()
  decoder.finish(bytes.length - end, end, skip)
  return {
    info: decoder.info!,
    records,
    truncated: decoder.truncated,
    warnings: decoder.warnings,
    recordCount: decoder.recordCount,
  }
}
