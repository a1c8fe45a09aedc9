/**
 * protobufjs builds strings shorter than 64 bytes by appending 8-character pieces, and V8 keeps
 * such a string as a tree of pieces (a ConsString: a 24-character URL is five objects) until
 * something needs it in one piece. Kept for the store's lifetime, every piece is one more object
 * for the garbage collector to copy and mark. ToNumber reads the characters in one piece, which
 * flattens the string in place; the collector then drops the pieces. Shorter strings are never
 * trees. (Checked with heap snapshots: 3 tree objects per 24-character string before, 0.2 after.)
 */
let flatSink = 0
export function flatten(s: string): string {
  if (s.length >= 13) flatSink = Number(s)
  return s
}
/** Keeps `flatSink` observable, so no compiler drops the conversion. */
export const flattenSink = (): number => flatSink
