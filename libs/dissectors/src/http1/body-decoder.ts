/**
 * Content-Encoding decoding for body previews. The dissectors are pure (no Node built-ins), so the
 * decompressor is injected: the Node side registers one built on zlib (`gunzipSync`,
 * `inflateSync`, `brotliDecompressSync`, each with `maxOutputLength`) via `setBodyDecoder`.
 * Decoded bytes are used for previews only; body sizes stay wire sizes (RFC 9110 §8.6:
 * Content-Length counts the encoded octets).
 */

/** Options only the WebSocket dissector passes (RFC 7692 permessage-deflate). */
export interface BodyDecodeOptions {
  /**
   * `deflate-raw` only: a preset dictionary, the sender's LZ77 window from earlier messages
   * (RFC 7692 §7.2.3.2 context takeover). A correct suffix of that history is safe: a reference
   * further back fails ("invalid distance too far back") rather than producing wrong bytes.
   */
  dictionary?: Uint8Array
  /** All of the output or undefined: no shortened prefix when it exceeds `maxOutput`. */
  whole?: boolean
}

/**
 * Decodes `data` for one content coding (`gzip`, `deflate`, `br`, lower case; `deflate-raw` for
 * WebSocket permessage-deflate, RFC 7692). Returns at most `maxOutput` bytes, or undefined when the
 * coding is unknown or the data is not decodable. Must not throw (it is called per message).
 */
export type BodyDecoder = (
  encoding: string,
  data: Uint8Array,
  maxOutput: number,
  opts?: BodyDecodeOptions
) => Uint8Array | undefined

let registered: BodyDecoder | undefined

/** Installs (or with undefined removes) the process-wide body decoder. */
export function setBodyDecoder(fn: BodyDecoder | undefined): void {
  registered = fn
}

export function getBodyDecoder(): BodyDecoder | undefined {
  return registered
}

/** Codings that mean "no transformation" (RFC 9110 §8.4.1). */
const IDENTITY = new Set(['', 'identity'])

/**
 * Undoes a Content-Encoding header value on a body preview. Codings are listed in the order they
 * were applied (RFC 9110 §8.4), so they are undone from the last. Returns undefined when nothing
 * was decoded (no decoder registered, unknown coding, corrupt or cut-short data): the caller keeps
 * the wire bytes.
 */
export function decodeContentEncoding(
  header: string | undefined,
  data: Uint8Array,
  maxOutput: number
): Uint8Array | undefined {
  if (header === undefined || data.length === 0) return undefined
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => !IDENTITY.has(c))
  if (codings.length === 0 || codings.length > 4) return undefined
  const fn = registered
  if (fn === undefined) return undefined
  let out = data
  for (let i = codings.length - 1; i >= 0; i--) {
    let coding = codings[i]!
    // RFC 9110 §8.4.1.3: x-gzip is an alias of gzip.
    if (coding === 'x-gzip') coding = 'gzip'
    let next: Uint8Array | undefined
    try {
      next = fn(coding, out, maxOutput)
    } catch {
      next = undefined
    }
    if (next === undefined) return undefined
    out = next.length > maxOutput ? next.subarray(0, maxOutput) : next
  }
  return out
}

/** The parts of Node's `zlib` module a decoder needs (passed in: this lib does not import Node). */
export interface ZlibLike {
  gunzipSync(d: Uint8Array, o: object): Uint8Array
  inflateSync(d: Uint8Array, o: object): Uint8Array
  inflateRawSync(d: Uint8Array, o: object): Uint8Array
  brotliDecompressSync(d: Uint8Array, o: object): Uint8Array
  constants: { Z_SYNC_FLUSH: number; BROTLI_OPERATION_FLUSH: number }
}

/**
 * A BodyDecoder built on zlib, output bounded by `maxOutputLength`. A body whose decoded form
 * exceeds the bound is retried on shorter prefixes (sync-flushed), so the preview of a large
 * compressed body still shows its first bytes; a few attempts at most.
 */
export function zlibBodyDecoder(zlib: ZlibLike): BodyDecoder {
  return (encoding, data, max, decodeOpts) => {
    const dictionary = encoding === 'deflate-raw' ? decodeOpts?.dictionary : undefined
    const opts = {
      maxOutputLength: max,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      ...(dictionary !== undefined && dictionary.length > 0 ? { dictionary } : {}),
    }
    const fn =
      encoding === 'gzip'
        ? (d: Uint8Array) => zlib.gunzipSync(d, opts)
        : encoding === 'deflate'
          ? (d: Uint8Array) => zlib.inflateSync(d, opts)
          : encoding === 'deflate-raw'
            ? (d: Uint8Array) => zlib.inflateRawSync(d, opts)
            : encoding === 'br'
              ? (d: Uint8Array) => zlib.brotliDecompressSync(d, { maxOutputLength: max, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH })
              : undefined
    if (fn === undefined) return undefined
    let input = data
    const attempts = decodeOpts?.whole ? 1 : 16
    for (let attempt = 0; attempt < attempts && input.length > 0; attempt++) {
      try {
        return new Uint8Array(fn(input))
      } catch (e) {
        if (!(e instanceof RangeError)) return undefined
        input = input.subarray(0, input.length >> 1)
      }
    }
    return undefined
  }
}
