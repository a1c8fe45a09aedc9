import {
  DecodeStatus,
  decodePacket,
  forEachPacket,
  FragmentReassembler,
  LinkType,
  newDecodedPacket,
  readBatchInfo,
} from '@tapwire/packet'
import type { FragmentLimits, FragmentStats, PacketView } from '@tapwire/packet'
import { FlowTable } from '@tapwire/reassembly'
import type { Connection, FlowLimits, FlowTableStats } from '@tapwire/reassembly'
import type { Entry, FlowRecord, L4Stats } from '@tapwire/wire'
import { formatEntryId } from '@tapwire/wire'
import { DissectorEngine } from './engine/engine.js'
import type { EngineStats } from './engine/engine.js'
import type { CallRecord, Dissector, DissectorLimits } from './engine/types.js'
import { BUILTIN_DISSECTORS } from './registry.js'
import { decodeUtf8 } from './util/bytes.js'
import { PeerFlows } from './peer-flows.js'
import { DEFAULT_L4_INTERVAL_MS, L4Reporter } from './l4/l4-reporter.js'
import type { Redactor } from './redaction/redactor.js'
import type { ConnWindow, PeerFlow } from './peer-flows.js'

export interface AnalyzerOptions {
  node: string
  /** The capturing worker's name (pod name in Kubernetes). */
  worker?: string
  /** Allocates flow and connection ids; must never repeat for this node. */
  nextId: () => number
  onEntry: (entry: Entry, call: CallRecord) => void
  dissectors?: readonly Dissector[]
  flowLimits?: Partial<FlowLimits>
  /** IPv4/IPv6 fragment reassembly bounds (defaults: 64 KiB datagrams, 1024 of them, 4 MiB, 30 s). */
  fragmentLimits?: Partial<FragmentLimits>
  dissectorLimits?: Partial<DissectorLimits>
  /** Body bytes copied into the published entry (the rest stays in the agent's detail cache). */
  previewBytes?: number
  dissectionEnabled?: boolean
  /** Most peer flows (client → server:port) remembered for ids and indexes. */
  maxFlows?: number
  /** Removes secrets from every call before it becomes an entry (and before bodies are kept). */
  redactor?: Redactor | undefined
  /**
   * Also emit L4 entries (`tcp_conn`, `udp_conn`, `tcp_flow`, `udp_flow`) for KFL's `conn`/`flow`
   * variables; off by default so tests that count L7 entries see only those (the agent turns it on).
   */
  l4Entries?: boolean
  /** Window of the periodic L4 reports, ms of packet time (default 30 s). */
  l4IntervalMs?: number
}

export interface AnalyzerStats {
  packets: number
  bytes: number
  decodeErrors: number
  nonIp: number
  /** IPv4/IPv6 fragments seen (each one; the reassembled datagram is counted in `reassembly`). */
  fragments: number
  entries: number
  reassembly: FragmentStats
  flows: FlowTableStats
  engine: EngineStats
}

const toMs = (sec: number, nsec: number): number => sec * 1000 + nsec / 1e6

/**
 * Packets in, entries out: decodes each packet, tracks connections, reassembles TCP, lets the
 * dissector engine find calls, and turns each call into a wire Entry. Pure: the same code runs in
 * the agent's worker thread and in delayed dissection.
 */
export class Analyzer {
  readonly #opts: AnalyzerOptions
  readonly #decoded = newDecodedPacket()
  readonly #fragments: FragmentReassembler
  readonly #flowTable: FlowTable
  readonly #engine: DissectorEngine
  readonly #flows: PeerFlows
  readonly #previewBytes: number
  #dissection: boolean
  #lastTs = 0
  #lastTick = 0
  readonly #counters = { packets: 0, bytes: 0, decodeErrors: 0, nonIp: 0, fragments: 0, entries: 0 }
  readonly #l4: L4Reporter | undefined

  constructor(opts: AnalyzerOptions) {
    this.#opts = opts
    this.#previewBytes = opts.previewBytes ?? 4096
    this.#fragments = new FragmentReassembler(opts.fragmentLimits)
    this.#flows = new PeerFlows(opts.nextId, opts.maxFlows ?? 100_000)
    this.#dissection = opts.dissectionEnabled ?? true
    this.#l4 = opts.l4Entries
      ? new L4Reporter({
          node: opts.node,
          worker: opts.worker ?? opts.node,
          intervalMs: opts.l4IntervalMs ?? DEFAULT_L4_INTERVAL_MS,
          flows: this.#flows,
          // L4 entries are entries like any other: none while dissection is off.
          emit: (entry, call) => {
            if (!this.#dissection) return
            this.#counters.entries++
            opts.onEntry(entry, call)
          },
        })
      : undefined
    this.#engine = new DissectorEngine({
      dissectors: opts.dissectors ?? BUILTIN_DISSECTORS,
      ...(opts.dissectorLimits ? { limits: opts.dissectorLimits } : {}),
      onCall: (conn, call) => this.#onCall(conn, call),
    })
    this.#flowTable = new FlowTable({
      nextId: opts.nextId,
      ...(opts.flowLimits ? { limits: opts.flowLimits } : {}),
      onConnection: (conn) => {
        this.#flows.attach(conn)
        return this.#dissection ? this.#engine.attach(conn) : undefined
      },
      onClosed: (conn) => {
        this.#l4?.closed(conn)
        this.#flows.closed(conn)
      },
    })
  }

  get dissectionEnabled(): boolean {
    return this.#dissection
  }

  /**
   * Turns L7 dissection on or off; L4 tracking goes on. Off takes effect at once (no entry is
   * emitted while off); on applies to connections opened after it.
   */
  setDissection(enabled: boolean): void {
    this.#dissection = enabled
  }

  get stats(): AnalyzerStats {
    return {
      ...this.#counters,
      flows: { ...this.#flowTable.stats },
      engine: { ...this.#engine.stats },
      reassembly: this.#fragments.stats,
    }
  }

  /** Unix ms of the newest packet seen. */
  get lastPacketTs(): number {
    return this.#lastTs
  }

  connections(): IterableIterator<Connection> {
    return this.#flowTable.connections()
  }

  processBatch(batch: ArrayBuffer): number {
    const { linkType } = readBatchInfo(batch)
    const n = forEachPacket(batch, (p) => this.processPacket(linkType, p))
    this.#maybeTick()
    return n
  }

  processPacket(linkType: number, p: PacketView): void {
    const c = this.#counters
    c.packets++
    c.bytes += p.origLen
    const tsMs = toMs(p.tsSec, p.tsNsec)
    if (tsMs > this.#lastTs) this.#lastTs = tsMs
    // A report window ended: report it before this packet is counted.
    if (this.#l4 !== undefined && tsMs >= this.#l4.nextDue) this.#l4.advance(tsMs, this.#flowTable.connections())
    const status = decodePacket(linkType, p.data, this.#decoded)
    if (status === DecodeStatus.OK) {
      // One branch on the common path; a first fragment decodes OK but is only part of a datagram.
      if (!this.#decoded.fragmented) this.#flowTable.process(this.#decoded, tsMs, p.origLen)
      else this.#fragment(tsMs)
    } else if (status === DecodeStatus.NOT_IP || status === DecodeStatus.UNSUPPORTED_LINK) c.nonIp++
    else if (status === DecodeStatus.FRAGMENT || this.#decoded.fragmented) this.#fragment(tsMs)
    else c.decodeErrors++
  }

  /** Advances timeouts to `nowMs` (packet time, or wall time when the capture is idle). */
  tick(nowMs: number): void {
    // The window that ended is reported as it stood, before idle connections are closed.
    if (this.#l4 !== undefined && nowMs >= this.#l4.nextDue) this.#l4.advance(nowMs, this.#flowTable.connections())
    this.#flowTable.expire(nowMs)
    this.#fragments.expire(nowMs)
    this.#engine.tick(nowMs)
    this.#lastTick = nowMs
  }

  /** End of input: closes every connection so pending calls are reported. */
  finish(): void {
    this.#flowTable.closeAll(this.#lastTs)
    this.#engine.tick(Number.MAX_SAFE_INTEGER)
    this.#l4?.finish(this.#lastTs, this.#flowTable.connections())
  }

  #maybeTick(): void {
    if (this.#lastTs - this.#lastTick >= 1000) this.tick(this.#lastTs)
  }

  /**
   * An IPv4/IPv6 fragment (a first one too, even when its transport header is cut short): to the
   * reassembler; a completed datagram takes the normal decode path, stamped with this last fragment.
   */
  #fragment(tsMs: number): void {
    this.#counters.fragments++
    const d = this.#decoded
    const ipOffset = d.srcOffset - (d.ipVersion === 4 ? 12 : 8)
    const datagram = this.#fragments.push(d.data, ipOffset, tsMs)
    if (datagram === undefined) return
    if (decodePacket(LinkType.RAW, datagram, d) === DecodeStatus.OK && !d.fragmented) {
      this.#flowTable.process(d, tsMs, datagram.length)
    } else this.#counters.decodeErrors++
  }

  /** `l4_conn` and `l4_flow` of an entry's connection and flow, while the agent remembers them. */
  l4(connId: number, flowId: number): { conn: L4Stats | undefined; flow: L4Stats | undefined } {
    return { conn: this.#flows.connStats(connId, flowId), flow: this.#flows.flowStats(flowId) }
  }

  /** 5-tuple and first/last packet time of an entry's connection (drill-down PCAP from the ring). */
  connWindow(connId: number, flowId: number): ConnWindow | undefined {
    return this.#flows.connWindow(connId, flowId)
  }

  /** Peer flows for the L4 tools, most recently active first. */
  flowRecords(limit: number): { flows: FlowRecord[]; truncated: boolean } {
    return this.#flows.records(limit, this.#opts.node)
  }

  #onCall(conn: Connection, call: CallRecord): void {
    if (!this.#dissection) return
    this.#opts.redactor?.call(call)
    // Roles may have been swapped by the dissector since the connection was attached.
    const flow: PeerFlow = this.#flows.reattach(conn)
    this.#l4?.noteCall(conn, flow, call.proto)
    if (call.reqTs > flow.lastTs) flow.lastTs = call.reqTs
    const index = flow.nextIndex++
    const node = this.#opts.node
    const entry: Entry = {
      id: formatEntryId(node, flow.id, index),
      node,
      flowId: flow.id,
      index,
      connId: conn.id,
      ts: call.reqTs,
      elapsedUs: call.respTs !== undefined ? Math.max(0, Math.round((call.respTs - call.reqTs) * 1000)) : 0,
      proto: call.proto,
      transport: conn.transport,
      src: { ip: conn.client.ip, port: conn.client.port },
      dst: { ip: conn.server.ip, port: conn.server.port },
      method: call.method ?? '',
      path: call.path ?? '',
      url: call.url ?? '',
      status: call.status ?? 0,
      version: call.version ?? '',
      reqHeaders: call.reqHeaders ?? [],
      respHeaders: call.respHeaders ?? [],
      reqBody: this.#preview(call.reqBody),
      respBody: this.#preview(call.respBody),
      reqBodySize: call.reqBodySize ?? 0,
      respBodySize: call.respBodySize ?? 0,
      reqHeaderSize: call.reqHeaderSize ?? 0,
      respHeaderSize: call.respHeaderSize ?? 0,
      reqBodyTruncated: (call.reqBodyTruncated ?? false) || (call.reqBody?.length ?? 0) > this.#previewBytes,
      respBodyTruncated: (call.respBodyTruncated ?? false) || (call.respBody?.length ?? 0) > this.#previewBytes,
      errorType: call.error?.type ?? '',
      errorMessage: call.error?.message ?? '',
      worker: this.#opts.worker ?? node,
      attrs: call.attrs ?? [],
      gaps: call.gaps ?? 0,
      summary: call.summary ?? '',
    }
    this.#counters.entries++
    this.#opts.onEntry(entry, call)
  }

  #preview(b: Uint8Array | undefined): string {
    if (b === undefined || b.length === 0) return ''
    return decodeUtf8(b.length > this.#previewBytes ? b.subarray(0, this.#previewBytes) : b)
  }
}
