import { DecodeStatus, decodePacket, forEachPacket, newDecodedPacket, readBatchInfo } from '@tapwire/packet'
import type { PacketView } from '@tapwire/packet'
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
import type { Redactor } from './redaction/redactor.js'
import type { PeerFlow } from './peer-flows.js'

export interface AnalyzerOptions {
  node: string
  /** The capturing worker's name (pod name in Kubernetes). */
  worker?: string
  /** Allocates flow and connection ids; must never repeat for this node. */
  nextId: () => number
  onEntry: (entry: Entry, call: CallRecord) => void
  dissectors?: readonly Dissector[]
  flowLimits?: Partial<FlowLimits>
  dissectorLimits?: Partial<DissectorLimits>
  /** Body bytes copied into the published entry (the rest stays in the agent's detail cache). */
  previewBytes?: number
  dissectionEnabled?: boolean
  /** Most peer flows (client → server:port) remembered for ids and indexes. */
  maxFlows?: number
  /** Removes secrets from every call before it becomes an entry (and before bodies are kept). */
  redactor?: Redactor | undefined
}

export interface AnalyzerStats {
  packets: number
  bytes: number
  decodeErrors: number
  nonIp: number
  fragments: number
  entries: number
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
  readonly #flowTable: FlowTable
  readonly #engine: DissectorEngine
  readonly #flows: PeerFlows
  readonly #previewBytes: number
  #dissection: boolean
  #lastTs = 0
  #lastTick = 0
  readonly #counters = { packets: 0, bytes: 0, decodeErrors: 0, nonIp: 0, fragments: 0, entries: 0 }

  constructor(opts: AnalyzerOptions) {
    this.#opts = opts
    this.#previewBytes = opts.previewBytes ?? 4096
    this.#flows = new PeerFlows(opts.nextId, opts.maxFlows ?? 100_000)
    this.#dissection = opts.dissectionEnabled ?? true
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
      onClosed: (conn) => this.#flows.closed(conn),
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
    return { ...this.#counters, flows: { ...this.#flowTable.stats }, engine: { ...this.#engine.stats } }
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
    const status = decodePacket(linkType, p.data, this.#decoded)
    if (status === DecodeStatus.OK) this.#flowTable.process(this.#decoded, tsMs, p.origLen)
    else if (status === DecodeStatus.NOT_IP || status === DecodeStatus.UNSUPPORTED_LINK) c.nonIp++
    else if (status === DecodeStatus.FRAGMENT) c.fragments++
    else c.decodeErrors++
  }

  /** Advances timeouts to `nowMs` (packet time, or wall time when the capture is idle). */
  tick(nowMs: number): void {
    this.#flowTable.expire(nowMs)
    this.#engine.tick(nowMs)
    this.#lastTick = nowMs
  }

  /** End of input: closes every connection so pending calls are reported. */
  finish(): void {
    this.#flowTable.closeAll(this.#lastTs)
    this.#engine.tick(Number.MAX_SAFE_INTEGER)
  }

  #maybeTick(): void {
    if (this.#lastTs - this.#lastTick >= 1000) this.tick(this.#lastTs)
  }

  /** `l4_conn` and `l4_flow` of an entry's connection and flow, while the agent remembers them. */
  l4(connId: number, flowId: number): { conn: L4Stats | undefined; flow: L4Stats | undefined } {
    return { conn: this.#flows.connStats(connId, flowId), flow: this.#flows.flowStats(flowId) }
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
    if (call.reqTs > flow.lastTs) flow.lastTs = call.reqTs
    const index = flow.nextIndex++
    const node = this.#opts.node
    const preview = (b: Uint8Array | undefined): string => (b && b.length > 0 ? decodeUtf8(b.subarray(0, this.#previewBytes)) : '')
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
      reqBody: preview(call.reqBody),
      respBody: preview(call.respBody),
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
}
