/**
 * permessage-deflate (RFC 7692) for message previews: the negotiated parameters and, per
 * direction, the sender's LZ77 window, so that messages still decode under context takeover (the
 * default, and what the `ws` library and browsers use), where each message may refer back to the
 * bytes of earlier ones.
 *
 * Inflation goes through the injected body decoder (these libs do not import zlib); the window is
 * handed to it as a preset dictionary. Only a *correct suffix* of the history is ever kept: when a
 * message cannot be decoded in full the window is emptied, and a later message that refers back
 * past what we hold fails to inflate ("invalid distance too far back") instead of showing wrong
 * bytes. Its preview then stays the wire bytes.
 */
import { getBodyDecoder } from '../http1/body-decoder.js'

/** The largest DEFLATE window: 2^15 bytes (RFC 1951 §2; max_window_bits ≤ 15, RFC 7692 §7.1.2). */
export const DEFLATE_WINDOW = 32 * 1024
/**
 * Decoded bytes one message may inflate to while keeping the window. Beyond it the preview is
 * still shown (a prefix) but the window is lost. Bounds the transient output per message.
 */
export const WS_INFLATE_LIMIT = 1 << 20

/** RFC 7692 §7.2.2: the empty stored block the sender removed from the end of each message. */
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff)
const EMPTY = new Uint8Array(0)

export interface DeflateParams {
  /** The client keeps its window across messages (no `client_no_context_takeover`, §7.1.1.2). */
  clientTakeover: boolean
  /** The server keeps its window across messages (no `server_no_context_takeover`, §7.1.1.1). */
  serverTakeover: boolean
}

/**
 * The permessage-deflate element the server accepted in `Sec-WebSocket-Extensions`
 * (RFC 6455 §9.1 grammar, RFC 7692 §5), or undefined when it did not accept one.
 */
export function parseDeflateExtension(header: string | undefined): DeflateParams | undefined {
  if (header === undefined) return undefined
  for (const element of header.split(',')) {
    const [name, ...params] = element.split(';').map((p) => p.trim().toLowerCase())
    if (name !== 'permessage-deflate') continue
    const names = new Set(params.map((p) => p.split('=')[0]!.trim()))
    return {
      clientTakeover: !names.has('client_no_context_takeover'),
      serverTakeover: !names.has('server_no_context_takeover'),
    }
  }
  return undefined
}

export interface Inflated {
  /** The decoded message, at most `maxPreview` bytes. */
  bytes: Uint8Array
  /** The decoded message is longer than `bytes` (or the wire bytes were cut short). */
  truncated: boolean
}

/** One direction's decompression context (the sender's side of the deflate stream). */
export class MessageInflater {
  #window: Uint8Array = EMPTY
  readonly #takeover: boolean

  constructor(takeover: boolean) {
    this.#takeover = takeover
  }

  /** Bytes of history held (for tests). */
  get windowLength(): number {
    return this.#window.length
  }

  /**
   * Decodes one compressed message. `complete`: the wire bytes are the whole message (not cut by
   * the body limit, no capture gap, the final frame seen); otherwise only a preview prefix is
   * attempted and the window is lost. `contiguous`: the kept bytes have no hole (a gap inside
   * makes them undecodable). Returns undefined when nothing could be decoded.
   */
  inflate(
    wire: Uint8Array,
    complete: boolean,
    contiguous: boolean,
    maxPreview: number
  ): Inflated | undefined {
    const decode = getBodyDecoder()
    const dictionary = this.#window
    // Every outcome but a whole decode leaves the history unknown from here on.
    this.#window = EMPTY
    if (decode === undefined || !contiguous) return undefined
    const run = (data: Uint8Array, max: number, whole: boolean): Uint8Array | undefined => {
      try {
        return decode('deflate-raw', data, max, { dictionary, whole })
      } catch {
        return undefined
      }
    }
    if (complete) {
      const out = run(withTail(wire), WS_INFLATE_LIMIT, true)
      if (out !== undefined) {
        if (this.#takeover) this.#window = lastBytes(dictionary, out, DEFLATE_WINDOW)
        return { bytes: out.subarray(0, maxPreview), truncated: out.length > maxPreview }
      }
      // Inflated past the limit, or refers to history we do not hold: try a prefix below.
    }
    // A cut-short stream inflates as far as its bytes go (the decoder sync-flushes); no tail then,
    // the four bytes would be read as more of the stream.
    const head = run(complete ? withTail(wire) : wire, maxPreview, false)
    if (head === undefined || head.length === 0) return undefined
    return { bytes: head, truncated: true }
  }
}

function withTail(wire: Uint8Array): Uint8Array {
  const out = new Uint8Array(wire.length + TAIL.length)
  out.set(wire)
  out.set(TAIL, wire.length)
  return out
}

/** The last `n` bytes of `a` followed by `b`. */
function lastBytes(a: Uint8Array, b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b.slice(b.length - n)
  const keepA = Math.min(a.length, n - b.length)
  const out = new Uint8Array(keepA + b.length)
  out.set(a.subarray(a.length - keepA))
  out.set(b, keepA)
  return out
}
