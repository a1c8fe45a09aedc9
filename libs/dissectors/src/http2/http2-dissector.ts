import type { Direction } from '@tapwire/reassembly'
import type { Header } from '@tapwire/wire'
import type {
  CallRecord,
  Dissector,
  DissectorSession,
  ProbeVerdict,
  SessionContext,
} from '../engine/types.js'
import {
  grpcAttrs,
  grpcWholeMessagesLength,
  isGrpcContentType,
  renderGrpcMessages,
  renderGrpcMessagesUtf8,
} from '../grpc/grpc.js'
import type { HeaderField } from '../hpack/decoder.js'
import { HpackDecoder } from '../hpack/decoder.js'
import { splitTarget } from '../http1/http1-dissector.js'
import type { MessageHead } from '../http1/message-parser.js'
import { BoundedBytes, equalsLowerCase, utf8Bytes } from '../util/bytes.js'
import type { FrameHeader } from './frames.js'
import {
  CLIENT_PREFACE,
  errorCodeName,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FrameReader,
} from './frames.js'
import type { FrameRules } from './resync.js'
import { newFrameRules, streamIdsWithin } from './resync.js'

/** Streams tracked at once per connection; beyond it the oldest is reported and dropped. */
export const MAX_OPEN_STREAMS = 1000
/** SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
const SETTINGS_HEADER_TABLE_SIZE = 0x1
/** SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2): 2^14 to 2^24-1. */
const SETTINGS_MAX_FRAME_SIZE = 0x5
const MAX_FRAME_SIZE_MIN = 1 << 14
const MAX_FRAME_SIZE_MAX = (1 << 24) - 1
/** Stream ids plausible after a gap beyond those the lost bytes could have opened (§5.1.1). */
const STREAM_SLACK = 32

/** Stream.lost bits: what a capture gap may have taken from the stream. */
const LOST_REQ_BYTES = 1
const LOST_RESP_BYTES = 2
const LOST_REQ_HEADERS = 4
const LOST_RESP_HEADERS = 8

/** The engine counters (SessionContext.count) that sum Http2GapStats over connections. */
const GAP_COUNTERS = {
  gaps: 'http2_gaps',
  framingLost: 'http2_framing_lost',
  resyncs: 'http2_resyncs',
  resyncSkipped: 'http2_resync_skipped_bytes',
  hpackDesyncs: 'http2_hpack_desyncs',
  unknownFields: 'http2_hpack_unknown_fields',
} as const

/** What capture gaps did to one connection; every affected call's error quotes it. */
export interface Http2GapStats {
  /** Holes reported by the reassembly (any size, anywhere). */
  gaps: number
  /** Of them, holes the frame lengths did not bridge: the frame boundaries had to be found again. */
  framingLost: number
  /** Frame boundaries found again. */
  resyncs: number
  /** Bytes after holes discarded while looking for a frame boundary. */
  resyncSkipped: number
  /**
   * Times a direction's HPACK state was declared lost: header blocks lost in a hole, or orphaned
   * or undecodable after one (HpackDecoder.desync).
   */
  hpackDesyncs: number
  /** Header fields that referenced HPACK entries a hole made unknown (left out of the calls). */
  unknownFields: number
  /** The reason resynchronisation was given up, if it was. */
  gaveUp: string
}

/** What the HTTP/1 dissector hands over after `101 Switching Protocols` with `Upgrade: h2c`. */
export interface H2cUpgradeInit {
  request: MessageHead
  requestTs: number
  response?: MessageHead
}

interface HeaderBlock {
  dir: Direction
  streamId: number
  push: boolean
  promisedId: number
  endStream: boolean
  ts: number
  parts: Uint8Array[]
  size: number
}

interface Stream {
  id: number
  method: string
  target: string
  reqHeaders: Header[]
  reqHeaderSize: number
  reqTs: number
  reqBody: BoundedBytes
  reqEnded: boolean
  grpc: boolean
  respHeaders: Header[] | undefined
  status: number | undefined
  respTs: number | undefined
  respHeaderSize: number
  respBody: BoundedBytes
  respEnded: boolean
  trailers: Header[]
  gaps: number
  /** What capture gaps did to this stream; made when one first does (rare: not per stream). */
  gap: StreamGap | undefined
}

interface StreamGap {
  /** LOST_* bits: what capture gaps may have taken. */
  lost: number
  /** Header fields left out because they referenced HPACK entries lost in a gap. */
  unknownFields: number
  /** Body bytes before the first hole in each body (-1: none); gRPC previews stop there. */
  reqHole: number
  respHole: number
  /** The last gap counted in `gaps` (a gap is counted once per call however it hit it). */
  seq: number
  /** Packet time of that gap, or of the stream's last frame since: idle streams time out. */
  at: number
}

function isUpgradeInit(init: unknown): init is H2cUpgradeInit {
  if (typeof init !== 'object' || init === null) return false
  const r = (init as { request?: unknown }).request
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof (r as MessageHead).target === 'string' &&
    Array.isArray((r as MessageHead).headers)
  )
}

const headerValue = (headers: readonly Header[], name: string): string | undefined => {
  for (const h of headers)
    if (h.name != null && equalsLowerCase(h.name, name)) return h.value ?? undefined
  return undefined
}

/** base64url without padding (RFC 7540 §3.2.1, HTTP2-Settings); undefined when malformed. */
function base64UrlDecode(s: string): Uint8Array | undefined {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const clean = s.trim().replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  const out = new Uint8Array(Math.floor((clean.length * 6) / 8))
  let acc = 0
  let bits = 0
  let o = 0
  for (const ch of clean) {
    const v = alphabet.indexOf(ch)
    if (v < 0) return undefined
    acc = ((acc << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 0xff
    }
  }
  return out.subarray(0, o)
}

/**
 * One HTTP/2 connection (RFC 9113), cleartext: both directions' frames, one HPACK decoder per
 * direction, and one call per stream once it has ended in both directions or been reset.
 */
class Http2Session implements DissectorSession {
  readonly #ctx: SessionContext
  readonly #readers: [FrameReader, FrameReader]
  /** `#decoders[d]` decodes header blocks sent in direction d. */
  readonly #decoders: [HpackDecoder, HpackDecoder] = [new HpackDecoder(), new HpackDecoder()]
  readonly #streams = new Map<number, Stream>()
  /** A header block waiting for CONTINUATION frames, per direction (§6.10). */
  readonly #blocks: [HeaderBlock | undefined, HeaderBlock | undefined] = [undefined, undefined]
  /** What a frame header may look like per direction, for resynchronisation after a gap. */
  readonly #rules: [FrameRules, FrameRules] = [
    newFrameRules(true, () => this.#streamBound(1)),
    newFrameRules(false, () => this.#streamBound(0)),
  ]
  /** Per direction: a gap lost frames, so orphan CONTINUATIONs and undecodable blocks are losses. */
  readonly #gapped: [boolean, boolean] = [false, false]
  #lastClientStream = 0
  /** The highest stream id opened (either side), bounding plausible ids after a gap. */
  #highestStream = 0
  /** Octets lost in gaps (both directions) since that stream was opened. */
  #lostSinceHighest = 0
  /** Packet time of the latest gap. */
  #gapTs = 0
  #dead = false
  readonly gapStats: Http2GapStats = {
    gaps: 0,
    framingLost: 0,
    resyncs: 0,
    resyncSkipped: 0,
    hpackDesyncs: 0,
    unknownFields: 0,
    gaveUp: '',
  }

  /** Adds to this connection's gap statistics and to the engine's counter of the same name. */
  #count(stat: Exclude<keyof Http2GapStats, 'gaveUp'>, n = 1): void {
    if (n === 0) return
    this.gapStats[stat] += n
    this.#ctx.count(GAP_COUNTERS[stat], n)
  }

  constructor(ctx: SessionContext, init?: unknown) {
    this.#ctx = ctx
    // A HEADERS payload holds a fragment plus at most 256 octets of padding and priority.
    const maxBuffered = ctx.limits.maxHeaderBytes + 512
    this.#readers = [
      new FrameReader(true, maxBuffered, this.#handler(0), this.#rules[0]),
      // The server's preface is just its first frame, a SETTINGS frame (§3.4).
      new FrameReader(false, maxBuffered, this.#handler(1), this.#rules[1]),
    ]
    if (isUpgradeInit(init)) this.#openUpgradeStream(init)
  }

  onData(dir: Direction, data: Uint8Array, tsMs: number): void {
    if (this.#dead) return
    try {
      this.#readers[dir].push(data, tsMs)
    } catch {
      // A bug or input nothing anticipated: stop this connection, quietly.
      this.#stop()
    }
  }

  /**
   * A gap inside a DATA payload only loses body bytes. Anywhere else frames are lost: a lost
   * header block may have changed the HPACK table (RFC 7541 §2.2: both ends must see every
   * block), so the direction's decoder continues with what it can prove (HpackDecoder.desync);
   * where the frame lengths do not bridge the hole, the reader finds the next frame boundary
   * (resync.ts). Streams whose bytes may have been in the hole are flagged; others go on.
   */
  onGap(dir: Direction, length: number, tsMs: number): void {
    if (this.#dead) return
    this.#count('gaps')
    this.#gapTs = tsMs
    this.#lostSinceHighest += length
    try {
      const reader = this.#readers[dir]
      if (reader.gap(length)) return
      if (reader.resyncing) this.#framingLost(dir)
    } catch {
      this.#stop()
    }
  }

  onClose(): void {
    // Bytes still held by an unfinished resync were skipped too.
    this.#count('resyncSkipped', this.#readers[0].resyncPending + this.#readers[1].resyncPending)
    for (const s of [...this.#streams.values()]) {
      if (s.respHeaders === undefined)
        this.#emit(s, { type: 'connection', message: 'connection closed before a response' })
      else if (!s.respEnded)
        this.#emit(s, {
          type: 'connection',
          message: 'connection closed before the response ended',
        })
      else this.#emit(s)
    }
    this.#stop()
  }

  onTick(nowMs: number): void {
    const timeout = this.#ctx.limits.responseTimeoutMs
    for (const s of [...this.#streams.values()]) {
      // Streams with a response under way may legitimately last (gRPC streaming, long polls).
      if (s.respHeaders === undefined && nowMs - s.reqTs >= timeout) {
        this.#emit(s, { type: 'timeout', message: `no response within ${timeout} ms` })
      } else if (s.gap !== undefined && s.gap.lost !== 0 && nowMs - s.gap.at >= timeout) {
        // Its end may have been in the hole: reported once it has been idle that long, rather
        // than when the connection (maybe a long-lived gRPC channel) closes.
        this.#emit(s, { type: 'timeout', message: `stream idle ${timeout} ms after a capture gap` })
      }
    }
  }

  #stop(): void {
    this.#dead = true
    this.#readers[0].stop()
    this.#readers[1].stop()
    this.#streams.clear()
    this.#blocks[0] = this.#blocks[1] = undefined
  }

  #handler(dir: Direction) {
    return {
      onFrame: (f: FrameHeader, payload: Uint8Array) => this.#onFrame(dir, f, payload),
      onData: (f: FrameHeader, chunk: Uint8Array) => {
        const s = this.#streams.get(f.streamId)
        if (s === undefined) return
        ;(dir === 0 ? s.reqBody : s.respBody).push(chunk)
        if (s.gap !== undefined) s.gap.at = f.ts
      },
      onDataGap: (f: FrameHeader, length: number) => {
        const s = this.#streams.get(f.streamId)
        if (s) {
          this.#markHole(s, dir)
          ;(dir === 0 ? s.reqBody : s.respBody).skip(length)
          this.#hit(s, 0)
        }
      },
      onDataEnd: (f: FrameHeader) => {
        if (this.#blocks[dir] !== undefined) return this.#blockBroken(dir) // §6.10
        if ((f.flags & FLAG_END_STREAM) !== 0) this.#endStream(dir, f.streamId)
      },
      onFrameLost: (f: FrameHeader) => this.#frameLost(dir, f),
      onResync: (skipped: number) => {
        this.#count('resyncs')
        this.#count('resyncSkipped', skipped)
      },
      onMisframed: () => this.#framingLost(dir),
      onFatal: (reason: string) => {
        if (this.#gapped[dir]) this.#giveUp(reason)
        else this.#stop()
      },
    }
  }

  /**
   * The hole in `dir` was not bridged by frame lengths: any frame of that direction may be gone.
   * Header state is lost, and every stream still sending in that direction may have lost bytes.
   */
  #framingLost(dir: Direction): void {
    this.#count('framingLost')
    this.#headerStateLost(dir)
    for (const s of this.#streams.values()) {
      if (dir === 0 ? s.reqEnded : s.respEnded) continue
      this.#hit(s, dir === 0 ? LOST_REQ_BYTES : LOST_RESP_BYTES)
      this.#markHole(s, dir)
    }
  }

  /** A frame of known length lost part of its payload in a gap (its header is known). */
  #frameLost(dir: Direction, f: FrameHeader): void {
    const s = this.#streams.get(f.streamId)
    switch (f.type) {
      case FRAME_HEADERS:
      case FRAME_CONTINUATION:
      case FRAME_PUSH_PROMISE: {
        // The block is lost; the frame ends where its header said, so framing goes on.
        const pending = this.#blocks[dir]
        this.#headerStateLost(dir)
        if (f.type === FRAME_HEADERS && pending === undefined)
          this.#headerBlockLost(dir, f.streamId, (f.flags & FLAG_END_STREAM) !== 0, f.ts)
        break
      }
      case FRAME_RST_STREAM:
        // The stream's end is lost: it is reported when the connection closes.
        if (s) this.#hit(s, dir === 0 ? LOST_REQ_BYTES : LOST_RESP_BYTES)
        break
      default:
        // SETTINGS, PING, GOAWAY, PRIORITY, WINDOW_UPDATE: nothing a call is made of. (A lost
        // SETTINGS could change a limit; peers send theirs at the start, §3.4.)
        break
    }
  }

  /**
   * Header blocks of `dir` may be lost: HPACK continues with what it can prove, and a block
   * waiting for CONTINUATION frames is incomplete.
   */
  #headerStateLost(dir: Direction): void {
    this.#gapped[dir] = true
    this.#count('hpackDesyncs')
    this.#decoders[dir].desync()
    const pending = this.#blocks[dir]
    if (pending !== undefined) {
      this.#blocks[dir] = undefined
      if (!pending.push) this.#headerBlockLost(dir, pending.streamId, pending.endStream, pending.ts)
    }
  }

  /** A header block of `id` was lost: its stream's fields are not known. */
  #headerBlockLost(dir: Direction, id: number, endStream: boolean, ts: number): void {
    let s = this.#streams.get(id)
    if (s === undefined && dir === 0 && id % 2 === 1 && id > this.#lastClientStream) {
      // A request whose headers were lost: its response still makes it a call (flagged).
      this.#lastClientStream = id
      s = this.#newStream(id, ts)
      this.#hit(s, LOST_REQ_HEADERS)
    } else if (s !== undefined) {
      const what = s.respHeaders === undefined ? LOST_RESP_HEADERS : LOST_RESP_BYTES
      this.#hit(s, dir === 0 ? LOST_REQ_BYTES : what)
    }
    if (s !== undefined && endStream) this.#endStream(dir, id)
  }

  /** §6.10 broken after a gap (misframed bytes), or a protocol error without one. */
  #blockBroken(dir: Direction): void {
    if (this.#gapped[dir]) this.#headerStateLost(dir)
    else this.#stop()
  }

  /**
   * The highest stream id a frame right after a gap may carry: the highest seen, plus streams
   * opened in octets lost since, or in octets the other direction holds while resynchronising
   * (it opens the streams this one answers), plus a few.
   */
  #streamBound(other: Direction): number {
    const unseen = this.#lostSinceHighest + this.#readers[other].resyncBuffered
    return Math.min(0x7fffffff, this.#highestStream + streamIdsWithin(unseen) + STREAM_SLACK)
  }

  /** Resynchronisation failed: what is open is reported, the connection given up. */
  #giveUp(reason: string): void {
    this.gapStats.gaveUp = reason
    this.#ctx.count('http2_gave_up')
    for (const s of [...this.#streams.values()]) {
      this.#hit(s, 0)
      this.#emit(s, { type: 'dissection', message: reason })
    }
    this.#stop()
  }

  /** `s` may have lost `lost` (LOST_* bits) to the latest gap; each gap counts once per call. */
  #hit(s: Stream, lost: number): void {
    const g = gapOf(s)
    g.lost |= lost
    if (g.seq !== this.gapStats.gaps) {
      g.seq = this.gapStats.gaps
      g.at = this.#gapTs
      s.gaps++
    }
  }

  #markHole(s: Stream, dir: Direction): void {
    const g = gapOf(s)
    if (dir === 0) {
      if (g.reqHole < 0) g.reqHole = s.reqBody.total
    } else if (g.respHole < 0) g.respHole = s.respBody.total
  }

  #onFrame(dir: Direction, f: FrameHeader, p: Uint8Array): void {
    const pending = this.#blocks[dir]
    if (
      pending !== undefined &&
      (f.type !== FRAME_CONTINUATION || f.streamId !== pending.streamId)
    ) {
      return this.#blockBroken(dir) // §6.10: a header block is contiguous on the connection
    }
    switch (f.type) {
      case FRAME_HEADERS: {
        // §6.2: [Pad Length] [Exclusive, Stream Dependency, Weight] fragment [Padding].
        let o = 0
        let end = p.length
        if ((f.flags & FLAG_PADDED) !== 0) {
          if (p.length < 1) return this.#stop()
          end -= p[0]!
          o = 1
        }
        if ((f.flags & FLAG_PRIORITY) !== 0) o += 5
        if (end < o || f.streamId === 0) return this.#stop()
        this.#startBlock(dir, f, p.subarray(o, end), false, 0)
        break
      }
      case FRAME_PUSH_PROMISE: {
        // §6.6: [Pad Length] Promised Stream ID, fragment [Padding].
        let o = 0
        let end = p.length
        if ((f.flags & FLAG_PADDED) !== 0) {
          if (p.length < 1) return this.#stop()
          end -= p[0]!
          o = 1
        }
        if (end < o + 4) return this.#stop()
        const promised = ((p[o]! & 0x7f) << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!
        this.#startBlock(dir, f, p.subarray(o + 4, end), true, promised)
        break
      }
      case FRAME_CONTINUATION: {
        // After a gap, a CONTINUATION whose HEADERS was lost: its fragment is lost too.
        if (pending === undefined) return this.#blockBroken(dir)
        pending.size += p.length
        if (pending.size > this.#ctx.limits.maxHeaderBytes) return this.#stop()
        pending.parts.push(p.slice())
        if ((f.flags & FLAG_END_HEADERS) !== 0) this.#finishBlock(pending)
        break
      }
      case FRAME_SETTINGS:
        if ((f.flags & FLAG_ACK) === 0) this.#applySettings(dir, p)
        break
      case FRAME_RST_STREAM:
        if (p.length >= 4)
          this.#reset(f.streamId, new DataView(p.buffer, p.byteOffset, 4).getUint32(0))
        break
      case FRAME_GOAWAY:
        if (p.length >= 8) {
          const v = new DataView(p.buffer, p.byteOffset, 8)
          this.#goaway(dir, v.getUint32(0) & 0x7fffffff, v.getUint32(4))
        }
        break
      default:
        // PRIORITY, PING, WINDOW_UPDATE and unknown types (§5.5) carry nothing a call needs.
        break
    }
  }

  #applySettings(dir: Direction, p: Uint8Array): void {
    const v = new DataView(p.buffer, p.byteOffset, p.length)
    const peer = dir === 0 ? 1 : 0
    for (let i = 0; i + 6 <= p.length; i += 6) {
      // A SETTINGS value limits what the *peer* sends: this endpoint's decoder is the other side's.
      const id = v.getUint16(i)
      const value = v.getUint32(i + 2)
      if (id === SETTINGS_HEADER_TABLE_SIZE) this.#decoders[peer].setSettingsLimit(value)
      else if (
        id === SETTINGS_MAX_FRAME_SIZE &&
        value >= MAX_FRAME_SIZE_MIN &&
        value <= MAX_FRAME_SIZE_MAX
      )
        this.#rules[peer].maxFrameSize = value
    }
  }

  #startBlock(
    dir: Direction,
    f: FrameHeader,
    fragment: Uint8Array,
    push: boolean,
    promisedId: number
  ): void {
    if (fragment.length > this.#ctx.limits.maxHeaderBytes) return this.#stop()
    const block: HeaderBlock = {
      dir,
      streamId: f.streamId,
      push,
      promisedId,
      endStream: !push && (f.flags & FLAG_END_STREAM) !== 0,
      ts: f.ts,
      // A complete block is decoded before this call returns: no copy needed (the usual case).
      parts: [(f.flags & FLAG_END_HEADERS) !== 0 ? fragment : fragment.slice()],
      size: fragment.length,
    }
    if ((f.flags & FLAG_END_HEADERS) !== 0) this.#finishBlock(block)
    else this.#blocks[dir] = block
  }

  #finishBlock(block: HeaderBlock): void {
    this.#blocks[block.dir] = undefined
    let bytes: Uint8Array
    if (block.parts.length === 1) bytes = block.parts[0]!
    else {
      bytes = new Uint8Array(block.size)
      let o = 0
      for (const part of block.parts) {
        bytes.set(part, o)
        o += part.length
      }
    }
    let fields: HeaderField[]
    let unknown: number
    try {
      const decoded = this.#decoders[block.dir].decode(bytes, this.#ctx.limits.maxHeaderBytes)
      fields = decoded.headers
      unknown = decoded.unknown
    } catch {
      return this.#undecodable(block)
    }
    if (unknown > 0) this.#count('unknownFields', unknown)
    if (block.push) this.#onPushPromise(block, fields)
    else if (block.dir === 0) this.#onRequestHeaders(block, fields, unknown)
    else this.#onResponseHeaders(block, fields, unknown)
  }

  /**
   * COMPRESSION_ERROR (RFC 9113 §4.3): every later header block is undecodable. After a gap it
   * more likely means the block was misframed or its context lost: it is treated as lost.
   */
  #undecodable(block: HeaderBlock): void {
    if (!this.#gapped[block.dir]) return this.#stop()
    this.#headerStateLost(block.dir)
    if (!block.push) this.#headerBlockLost(block.dir, block.streamId, block.endStream, block.ts)
  }

  #newStream(id: number, ts: number): Stream {
    if (this.#streams.size >= MAX_OPEN_STREAMS) {
      const oldest = this.#streams.values().next().value
      if (oldest !== undefined)
        this.#emit(oldest, {
          type: 'pair-not-found',
          message: 'too many open streams on the connection',
        })
    }
    const limits = this.#ctx.limits
    const s: Stream = {
      id,
      method: '',
      target: '',
      reqHeaders: [],
      reqHeaderSize: 0,
      reqTs: ts,
      reqBody: new BoundedBytes(limits.maxBodyBytes),
      reqEnded: false,
      grpc: false,
      respHeaders: undefined,
      status: undefined,
      respTs: undefined,
      respHeaderSize: 0,
      respBody: new BoundedBytes(limits.maxBodyBytes),
      respEnded: false,
      trailers: [],
      gaps: 0,
      gap: undefined,
    }
    this.#streams.set(id, s)
    if (id > this.#highestStream) {
      this.#highestStream = id
      this.#lostSinceHighest = 0
    }
    return s
  }

  #setRequest(s: Stream, fields: readonly HeaderField[], size: number): void {
    const regular: Header[] = []
    let method = ''
    let path = ''
    for (const h of fields) {
      if (h.name === ':method') method = h.value
      else if (h.name === ':path') path = h.value
      else if (h.name.startsWith(':'))
        continue // :scheme, :authority, :protocol (§8.3.1)
      else regular.push(h) // the decoder's fresh { name, value }: no copy needed
    }
    s.method = method
    s.target = path
    s.reqHeaders = regular
    s.reqHeaderSize = size
    s.grpc = isGrpcContentType(headerValue(regular, 'content-type'))
  }

  #onRequestHeaders(block: HeaderBlock, fields: HeaderField[], unknown: number): void {
    let s = this.#streams.get(block.streamId)
    if (s === undefined) {
      // Client streams are odd and increasing (§5.1.1); an old id is a closed stream's trailers.
      if (block.streamId <= this.#lastClientStream) return
      this.#lastClientStream = block.streamId
      s = this.#newStream(block.streamId, block.ts)
      this.#setRequest(s, fields, block.size)
    } else if (
      s.gap !== undefined &&
      (s.gap.lost & LOST_REQ_HEADERS) !== 0 &&
      s.method === '' &&
      s.reqHeaders.length === 0
    ) {
      // Its first block was lost: this one (trailers, or a block after a lost CONTINUATION)
      // holds real request fields all the same.
      this.#setRequest(s, fields, block.size)
    } else {
      // Request trailers (§8.1): rare outside gRPC-web; counted with the request headers.
      s.reqHeaderSize += block.size
    }
    if (unknown > 0) gapOf(s).unknownFields += unknown
    if (s.gap !== undefined) s.gap.at = block.ts
    if (block.endStream) this.#endStream(0, block.streamId)
  }

  #onResponseHeaders(block: HeaderBlock, fields: HeaderField[], unknown: number): void {
    const s = this.#streams.get(block.streamId)
    if (s === undefined) return
    if (unknown > 0) gapOf(s).unknownFields += unknown
    if (s.gap !== undefined) s.gap.at = block.ts
    const regular: Header[] = []
    let status: number | undefined
    for (const h of fields) {
      if (h.name === ':status') status = Number.parseInt(h.value, 10)
      else if (!h.name.startsWith(':')) regular.push(h)
    }
    if (s.respHeaders === undefined) {
      // §8.1: 1xx responses (100 Continue, 103 Early Hints) precede the final one.
      if (status !== undefined && status >= 100 && status < 200) return
      // The request's content-type may have been an unknown HPACK reference: the response's says.
      const g = s.gap
      if (!s.grpc && g !== undefined && (g.unknownFields > 0 || (g.lost & LOST_REQ_HEADERS) !== 0))
        s.grpc = isGrpcContentType(headerValue(regular, 'content-type'))
      s.respHeaders = regular
      s.status = status
      s.respTs = block.ts
      s.respHeaderSize = block.size
    } else {
      s.trailers.push(...regular)
      s.respHeaderSize += block.size
    }
    if (block.endStream) this.#endStream(1, block.streamId)
  }

  /** §8.4: the promised stream's request comes from the server; its response follows. */
  #onPushPromise(block: HeaderBlock, fields: HeaderField[]): void {
    if (block.dir !== 1 || block.promisedId === 0 || this.#streams.has(block.promisedId)) return
    if (!this.#streams.has(block.streamId)) return
    const s = this.#newStream(block.promisedId, block.ts)
    this.#setRequest(s, fields, block.size)
    s.reqEnded = true
  }

  /** RFC 7540 §3.2: the upgrade request becomes stream 1, half-closed from the client. */
  #openUpgradeStream(init: H2cUpgradeInit): void {
    const req = init.request
    const s = this.#newStream(1, init.requestTs)
    this.#lastClientStream = 1
    s.method = req.method
    s.target = req.target
    s.reqHeaders = req.headers
    s.reqHeaderSize = req.headerBytes
    s.reqEnded = true
    s.grpc = isGrpcContentType(headerValue(req.headers, 'content-type'))
    // HTTP2-Settings carries the client's SETTINGS payload (RFC 7540 §3.2.1).
    const settings = headerValue(req.headers, 'http2-settings')
    const payload = settings === undefined ? undefined : base64UrlDecode(settings)
    if (payload !== undefined) this.#applySettings(0, payload)
  }

  #endStream(dir: Direction, id: number): void {
    const s = this.#streams.get(id)
    if (s === undefined) return
    if (dir === 0) s.reqEnded = true
    else s.respEnded = true
    if (s.reqEnded && s.respEnded && s.respHeaders !== undefined) this.#emit(s)
  }

  #reset(id: number, code: number): void {
    const s = this.#streams.get(id)
    if (s === undefined) return
    // A complete response followed by RST_STREAM(NO_ERROR) is normal (§8.1): the server is done.
    if (s.respHeaders === undefined || (!s.respEnded && code !== 0)) {
      this.#emit(s, { type: 'connection', message: `stream reset (${errorCodeName(code)})` })
    } else {
      this.#emit(s)
    }
  }

  /** §6.8: streams above the last processed id, opened by the receiver, were never handled. */
  #goaway(dir: Direction, lastStreamId: number, code: number): void {
    const receiverOdd = dir === 1
    for (const s of [...this.#streams.values()]) {
      if (s.id > lastStreamId && (s.id % 2 === 1) === receiverOdd && s.respHeaders === undefined) {
        this.#emit(s, {
          type: 'connection',
          message: `stream refused by GOAWAY (${errorCodeName(code)})`,
        })
      }
    }
  }

  #emit(s: Stream, error?: CallRecord['error']): void {
    this.#streams.delete(s.id)
    const { path, url } = splitTarget(s.target)
    const call: CallRecord = {
      proto: s.grpc ? 'grpc' : 'http',
      reqTs: s.reqTs,
      respTs: s.respTs,
      method: s.grpc ? path : s.method,
      path,
      url,
      version: 'HTTP/2',
      reqHeaders: s.reqHeaders,
      reqHeaderSize: s.reqHeaderSize,
      reqBody: s.reqBody.bytes(),
      reqBodySize: s.reqBody.total,
      reqBodyTruncated: s.reqBody.truncated,
      summary: path,
      gaps: s.gaps,
    }
    if (s.respHeaders !== undefined) {
      call.status = s.status
      // Trailers are response fields too (RFC 9110 §6.5); they follow the header section.
      call.respHeaders = s.trailers.length > 0 ? [...s.respHeaders, ...s.trailers] : s.respHeaders
      call.respHeaderSize = s.respHeaderSize
      call.respBody = s.respBody.bytes()
      call.respBodySize = s.respBody.total
      call.respBodyTruncated = s.respBody.truncated
    }
    if (s.grpc) this.#addGrpc(s, call)
    const note = s.gap === undefined ? '' : this.#gapNote(s, s.gap)
    if (note !== '')
      call.error = error
        ? { type: error.type, message: `${error.message}; ${note}` }
        : { type: 'dissection', message: note }
    else if (error) call.error = error
    this.#ctx.emit(call)
  }

  /** What capture gaps took from this call, and what they did to the connection so far. */
  #gapNote(s: Stream, g: StreamGap): string {
    if (g.lost === 0 && g.unknownFields === 0) return '' // only body bytes lost (counted in gaps)
    const lost: string[] = []
    if ((g.lost & LOST_REQ_HEADERS) !== 0) lost.push('request headers lost')
    else if ((g.lost & LOST_REQ_BYTES) !== 0) lost.push('request bytes may be lost')
    if ((g.lost & LOST_RESP_HEADERS) !== 0) lost.push('response headers lost')
    else if ((g.lost & LOST_RESP_BYTES) !== 0) lost.push('response bytes may be lost')
    if (g.unknownFields > 0) {
      const missing = [
        s.method === '' ? ':method' : '',
        s.target === '' ? ':path' : '',
        s.respHeaders !== undefined && s.status === undefined ? ':status' : '',
      ].filter((m) => m !== '')
      lost.push(
        `${g.unknownFields} header field${g.unknownFields === 1 ? '' : 's'} unknown` +
          (missing.length > 0 ? ` (${missing.join(', ')} among them)` : '') +
          ': they referenced HPACK entries lost in the gap (RFC 7541 §2.3.3)'
      )
    }
    const c = this.gapStats
    return (
      `capture gap: ${lost.join('; ')} [connection: ${c.gaps} gaps, ${c.resyncs} resyncs, ` +
      `${c.resyncSkipped} bytes skipped, ${c.hpackDesyncs} HPACK desyncs, ` +
      `${c.unknownFields} unknown header fields]`
    )
  }

  #addGrpc(s: Stream, call: CallRecord): void {
    // Trailers-Only responses put grpc-status in the one HEADERS frame (PROTOCOL-HTTP2.md).
    const fields = s.trailers.length > 0 ? s.trailers : (s.respHeaders ?? [])
    const g = s.gap
    call.attrs = grpcAttrs(call.path ?? '', {
      status: headerValue(fields, 'grpc-status'),
      message: headerValue(fields, 'grpc-message'),
      // No grpc-status after a gap took response bytes or header fields: unknown, not OK.
      statusUnknown:
        g !== undefined &&
        (g.unknownFields > 0 || (g.lost & (LOST_RESP_BYTES | LOST_RESP_HEADERS)) !== 0),
    })
    // The preview shows the messages decoded; sizes stay those of the bytes on the wire.
    const maxChars = this.#ctx.limits.maxBodyBytes
    if (call.reqBody && call.reqBody.length > 0)
      call.reqBody = grpcPreview(call.reqBody, s.gap?.reqHole ?? -1, maxChars)
    if (call.respBody && call.respBody.length > 0)
      call.respBody = grpcPreview(call.respBody, s.gap?.respHole ?? -1, maxChars)
  }
}

function gapOf(s: Stream): StreamGap {
  if (s.gap === undefined)
    s.gap = { lost: 0, unknownFields: 0, reqHole: -1, respHole: -1, seq: 0, at: 0 }
  return s.gap
}

const GAP_MARK = '<capture gap: later messages not shown>'

/**
 * A gRPC body preview. Bytes after a hole (`hole` ≥ 0: body bytes before it) are not contiguous
 * with what precedes: only the messages wholly before the hole are rendered, the one it cut and
 * the rest are dropped (their length prefixes can no longer be trusted).
 */
function grpcPreview(body: Uint8Array, hole: number, maxChars: number): Uint8Array {
  if (hole < 0) return renderGrpcMessagesUtf8(body, maxChars)
  const end = Math.min(hole, body.length)
  const before = grpcWholeMessagesLength(body, end)
  // What follows the hole is shown only when its length prefixes chain exactly to the end: then
  // no message was cut (whole frames of messages may still be missing, never a wrong one).
  const after = body.subarray(end)
  const afterWhole =
    after.length > 0 && grpcWholeMessagesLength(after, after.length) === after.length
  const cut = before < end || (after.length > 0 && !afterWhole)
  let budget = maxChars - (cut ? GAP_MARK.length + 1 : 0)
  const lines: string[] = []
  if (before > 0) {
    lines.push(renderGrpcMessages(body.subarray(0, before), budget))
    budget -= lines[0]!.length + 1
  }
  if (cut) lines.push(GAP_MARK)
  if (afterWhole) lines.push(renderGrpcMessages(after, Math.max(0, budget)))
  return utf8Bytes(lines.join('\n'))
}

/** HTTP/2 over cleartext TCP (h2c): prior knowledge (the client preface) or an HTTP/1.1 upgrade. */
export const http2Dissector: Dissector = {
  id: 'http2',
  transport: 'tcp',
  portHints: [50051, 8080, 8443, 9090],
  probe(data, dir): ProbeVerdict {
    const n = Math.min(data.length, CLIENT_PREFACE.length)
    for (let i = 0; i < n; i++) if (data[i] !== CLIENT_PREFACE[i]) return 'no'
    if (data.length < CLIENT_PREFACE.length) return 'more'
    return dir === 0 ? 'match' : 'match-reversed'
  },
  newSession: (ctx, init) => new Http2Session(ctx, init),
}
