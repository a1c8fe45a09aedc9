/**
 * gRPC over HTTP/2 (grpc/grpc, doc/PROTOCOL-HTTP2.md): a stream whose request content-type is
 * `application/grpc[+proto|+json|;...]`. Messages are length-prefixed (1-byte compressed flag,
 * 4-byte big-endian length); the call's status travels in the `grpc-status` / `grpc-message`
 * trailers, or in the only HEADERS frame of a Trailers-Only response.
 */
import type { Attr } from '@tapwire/wire'
import {
  appendProtobuf,
  appendText,
  beginText,
  finishText,
  finishTextUtf8,
  textLength,
  truncateText,
} from './protobuf-text.js'

/** PROTOCOL-HTTP2.md: Content-Type → "application/grpc" [("+proto" / "+json" / {custom})]. */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.toLowerCase().startsWith('application/grpc')
}

/** `/package.Service/Method` → service `package.Service`, method `Method`. */
export function splitGrpcPath(path: string): { service: string; method: string } {
  const p = path.startsWith('/') ? path.slice(1) : path
  const slash = p.lastIndexOf('/')
  return slash < 0
    ? { service: '', method: p }
    : { service: p.slice(0, slash), method: p.slice(slash + 1) }
}

const utf8 = new TextDecoder('utf-8', { fatal: false })

/**
 * grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md, "Status-Message"). The header value
 * arrives one char per octet; malformed escapes are kept as they are.
 */
export function percentDecode(value: string): string {
  const bytes = new Uint8Array(value.length)
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x25 && i + 2 < value.length && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes[n++] = parseInt(value.slice(i + 1, i + 3), 16)
      i += 2
    } else {
      bytes[n++] = c & 0xff
    }
  }
  return utf8.decode(bytes.subarray(0, n))
}

export interface GrpcOutcome {
  /** `grpc-status` from the trailers (or a Trailers-Only response); undefined when absent. */
  status: string | undefined
  message: string | undefined
  /**
   * The trailers may have been lost (a capture gap, an HPACK reference to a lost entry): an
   * absent status is then unknown, not OK, and is left out rather than reported as 0.
   */
  statusUnknown?: boolean
}

/** The KFL variables (kubeshark-notes §1.1): grpc_method, grpc_status (0 when absent), plus ours. */
export function grpcAttrs(path: string, outcome: GrpcOutcome): Attr[] {
  const { service, method } = splitGrpcPath(path)
  if (outcome.statusUnknown === true && outcome.status === undefined)
    return [
      { name: 'grpc_method', str: method },
      { name: 'grpc_service', str: service },
    ]
  const status = outcome.status === undefined ? 0 : Number.parseInt(outcome.status.trim(), 10)
  return [
    { name: 'grpc_method', str: method },
    { name: 'grpc_service', str: service },
    { name: 'grpc_status', num: Number.isFinite(status) ? status : 0 },
    {
      name: 'grpc_message',
      str: outcome.message === undefined ? '' : percentDecode(outcome.message),
    },
  ]
}

/**
 * The preview of a gRPC body: each length-prefixed message rendered as a schema-less protobuf
 * decode, one per line, bounded by `maxChars`. Compressed messages cannot be shown without the
 * codec: `<compressed N bytes>`. `body` may be cut short by the body limit.
 *
 * The lines are written into protobuf-text's text buffer and become one string at the end (no
 * lines array, join, subarray or DataView per message: this runs for every gRPC call). A line
 * longer than what is left of the budget is cut there, so its rendering may stop as soon as it
 * passes that point.
 */
export function renderGrpcMessages(body: Uint8Array, maxChars: number): string {
  writeGrpcMessages(body, maxChars)
  return finishText()
}

/** `renderGrpcMessages` as UTF-8 bytes (the call's body preview), without the string between. */
export function renderGrpcMessagesUtf8(body: Uint8Array, maxChars: number): Uint8Array {
  writeGrpcMessages(body, maxChars)
  return finishTextUtf8()
}

/** The preview's text, left in protobuf-text's buffer for `finishText`/`finishTextUtf8`. */
function writeGrpcMessages(body: Uint8Array, maxChars: number): void {
  beginText()
  let chars = 0
  let o = 0
  while (o < body.length) {
    if (o > 0) appendText('\n')
    if (chars >= maxChars) {
      appendText('…')
      break
    }
    const lineStart = textLength()
    const left = maxChars - chars
    let end = body.length
    if (o + 5 > body.length) appendText(`<incomplete message prefix: ${body.length - o} bytes>`)
    else {
      const len =
        ((body[o + 1]! << 24) | (body[o + 2]! << 16) | (body[o + 3]! << 8) | body[o + 4]!) >>> 0
      const start = o + 5
      end = start + len
      if (body[o]! !== 0) appendText(`<compressed ${len} bytes>`)
      else if (end > body.length)
        appendText(`<message of ${len} bytes, ${body.length - start} captured>`)
      else appendProtobuf(body, start, end, lineStart + left)
    }
    let lineLength = textLength() - lineStart
    // Every line, the placeholders too, counts against the budget (found by fuzzing). The cut is
    // String#slice's: whole code units, a fractional budget rounded down.
    if (lineLength > left) {
      truncateText(lineStart + Math.trunc(Math.max(0, left)))
      appendText('…')
      lineLength = textLength() - lineStart
    }
    chars += lineLength + 1
    o = end
  }
}

/**
 * Length of the whole length-prefixed messages at the start of `body[0, end)`: where a preview
 * may stop when what follows `end` is not contiguous with it (a capture gap). A compressed flag
 * other than 0 or 1 (PROTOCOL-HTTP2.md) ends the run: those bytes do not start a message.
 */
export function grpcWholeMessagesLength(body: Uint8Array, end: number): number {
  let o = 0
  while (o + 5 <= end && body[o]! <= 1) {
    const len =
      ((body[o + 1]! << 24) | (body[o + 2]! << 16) | (body[o + 3]! << 8) | body[o + 4]!) >>> 0
    if (o + 5 + len > end) break
    o += 5 + len
  }
  return o
}
