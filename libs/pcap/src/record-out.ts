import type { RecordOut } from './types.js'

/** Hands one parsed record to `out` (see RecordSink): an object and a view only for arrays. */
export function putRecord(
  out: RecordOut,
  linkType: number,
  ifIndex: number,
  tsSec: number,
  tsNsec: number,
  buf: Uint8Array,
  start: number,
  capLen: number,
  origLen: number
): void {
  if (Array.isArray(out)) {
    out.push({ tsSec, tsNsec, capLen, origLen, linkType, ifIndex, data: buf.subarray(start, start + capLen) })
  } else out.record(linkType, ifIndex, tsSec, tsNsec, buf, start, capLen, origLen)
}
