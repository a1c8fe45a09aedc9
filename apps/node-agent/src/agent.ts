import type { Server } from 'node:http'
import { connect } from 'nats'
import type { KV, NatsConnection } from 'nats'
import type { AnalyzerStats } from '@tapwire/dissectors'
import type { AgentStatus } from '@tapwire/wire'
import type { DetailsResponse, FlowsResponse } from '@tapwire/wire'
import {
  CONTROL_BUCKET,
  controlKeys,
  decodeDetailsRequest,
  decodeFlowsRequest,
  encodeAgentStatus,
  encodeDetailsResponse,
  encodeFlowsResponse,
  ensureEntryStream,
  renderMetrics,
  subjects,
} from '@tapwire/wire'
import { join } from 'node:path'
import type { CaptureSource } from './capture/capture-source.js'
import { FileReplay } from './capture/file-replay.js'
import { LiveCapture } from './capture/live-capture.js'
import type { AgentConfig } from './config.js'
import { startHealthServer } from './http/health-server.js'
import { EntryPublisher } from './publish/entry-publisher.js'
import { DetailsPcap } from './raw/details-pcap.js'
import { RawRing } from './raw/raw-ring.js'
import { SliceServer, subscribeSlices } from './raw/slice-server.js'
import { WorkerClient } from './worker/worker-client.js'
import type { WorkerDetails } from './worker/protocol.js'

export const AGENT_VERSION = '0.1.0'
const HEARTBEAT_MS = 2000
/** Room kept in a details answer for NATS/protobuf framing and the pcap fields' own bytes. */
const ANSWER_MARGIN_BYTES = 8 << 10

export type Log = (msg: string) => void

/**
 * One node agent: a capture source on the main thread, the dissector worker, the entry publisher
 * and the heartbeat. `runToCompletion` replays a file and returns; `start` captures until `stop`.
 */
export class Agent {
  readonly config: AgentConfig
  readonly #log: Log
  #nc: NatsConnection | undefined
  #worker: WorkerClient | undefined
  #publisher: EntryPublisher | undefined
  #source: CaptureSource | undefined
  #health: Server | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #tick: NodeJS.Timeout | undefined
  readonly #startedAt = Date.now()
  #captureRunning = false
  #captureDone = false
  #dissectionEnabled = true
  #fatal: Error | undefined
  /** Raw capture (PCAP ring); always on for live capture, opt-in for --read. */
  #raw: RawRing | undefined
  #slices: SliceServer | undefined
  readonly #detailsPcap = new DetailsPcap(() => this.#raw)

  constructor(config: AgentConfig, log: Log) {
    this.config = config
    this.#log = log
  }

  async #connect(): Promise<NatsConnection> {
    const nc = await connect({
      servers: this.config.natsUrl,
      name: `tapwire-agent-${this.config.node}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      waitOnFirstConnect: true,
    })
    await ensureEntryStream(await nc.jetstreamManager())
    return nc
  }

  async #setUp(): Promise<void> {
    const cfg = this.config
    this.#nc = await this.#connect()
    // Dissection on/off lives in a KV bucket the hub writes: read it before capturing.
    const kv = await this.#nc.jetstream().views.kv(CONTROL_BUCKET)
    const current = await kv.get(controlKeys.dissectionEnabled)
    this.#dissectionEnabled = current?.string() !== 'false'
    this.#publisher = new EntryPublisher(this.#nc.jetstream(), { subject: subjects.entries(cfg.node), maxQueueBytes: cfg.publishBufferBytes })
    const publisher = this.#publisher
    this.#worker = new WorkerClient({
      init: {
        node: cfg.node,
        worker: cfg.worker,
        dataDir: cfg.dataDir,
        dissectionEnabled: this.#dissectionEnabled,
        previewBytes: cfg.previewBytes,
        maxBodyBytes: cfg.maxBodyBytes,
        detailCacheBytes: cfg.detailCacheBytes,
        redaction: cfg.redaction,
        bootId: this.#startedAt.toString(36),
        l4Entries: cfg.l4Entries,
        l4IntervalMs: cfg.l4IntervalMs,
      },
      heapMb: cfg.workerHeapMb || undefined,
      onEntries: (msg) => publisher.enqueue(msg),
      onError: (message) => this.#log(`worker: ${message}`),
    })
    if (cfg.port > 0) {
      this.#health = await startHealthServer(cfg.port, cfg.host, {
        ready: () => this.#nc !== undefined && !this.#nc.isClosed() && (this.#captureRunning || this.#captureDone),
        metrics: () => this.#metrics(),
      })
    }
    this.#serveRequests()
    void this.#watchDissection(kv)
    this.#heartbeat = setInterval(() => this.#publishStatus(), HEARTBEAT_MS)
    this.#tick = setInterval(() => this.#worker?.send({ type: 'tick', nowMs: Date.now() }), 1000)
  }

  /** Live capture until stop() is called. */
  async start(): Promise<void> {
    await this.#setUp()
    const cfg = this.config
    const source = new LiveCapture({
      interface: cfg.interface,
      bufferBytes: cfg.captureBufferBytes,
      ...(cfg.bpf ? { bpf: cfg.bpf } : {}),
    })
    this.#source = source
    const worker = this.#worker!
    const raw = this.#openRaw()
    // The ring copies the batch synchronously: it must see it before the transfer detaches it.
    const done = source.run((batch, packets) => {
      raw.append(batch)
      return worker.offer(batch, packets)
    })
    this.#captureRunning = true
    this.#log(`capturing on ${cfg.interface} (${source.linkTypeName}), node ${cfg.node}, NATS ${cfg.natsUrl}`)
    this.#publishStatus()
    void done.then(() => {
      this.#captureRunning = false
    })
  }

  /** Replays `--read FILE`: publishes every entry, waits for the acks, and returns the stats. */
  async runToCompletion(path: string): Promise<AnalyzerStats> {
    const source = new FileReplay(path)
    this.#source = source
    // Open the file before touching NATS, so a bad file fails fast with a clear message.
    await import('@tapwire/pcap').then(async ({ openCapture }) => (await openCapture(path)).close())
    await this.#setUp()
    const worker = this.#worker!
    const raw = this.config.ringOnRead ? this.#openRaw() : undefined
    this.#captureRunning = true
    await source.run((batch) => {
      raw?.append(batch)
      return worker.submit(batch)
    })
    await raw?.flush()
    const stats = await worker.finish()
    this.#captureRunning = false
    this.#captureDone = true
    const drained = await this.#publisher!.drain(60_000)
    if (!drained) throw new Error('timed out waiting for NATS to acknowledge the entries')
    this.#publishStatus()
    if (source.truncated) this.#log(`warning: ${path} ends with a truncated record (ignored)`)
    this.#log(
      `replayed ${source.stats.packets} packets from ${path}: ${stats.entries} entries published` +
        ` (${stats.flows.tcpGaps} gaps, ${stats.engine.dissectorErrors} dissector errors)`
    )
    return stats
  }

  #openRaw(): RawRing {
    this.#raw = new RawRing({ dir: join(this.config.dataDir, 'ring'), maxBytes: this.config.ringSize, log: this.#log })
    return this.#raw
  }

  /** Follows the hub's dissection switch; the state survives restarts of either side. */
  async #watchDissection(kv: KV): Promise<void> {
    const watch = await kv.watch({ key: controlKeys.dissectionEnabled })
    for await (const e of watch) {
      const enabled = e.operation === 'PUT' ? e.string() !== 'false' : true
      if (enabled === this.#dissectionEnabled) continue
      this.#dissectionEnabled = enabled
      this.#worker?.send({ type: 'dissection', enabled })
      this.#log(`L7 dissection ${enabled ? 'enabled' : 'disabled'} (raw capture continues)`)
      this.#publishStatus()
    }
  }

  /** Hub → agent requests: drill-down details and L4 flows, answered from the worker. */
  #serveRequests(): void {
    const nc = this.#nc!
    const node = this.config.node
    nc.subscribe(subjects.agentVerb(node, 'details'), {
      callback: (err, msg) => {
        if (err) return
        void (async () => {
          let answer: DetailsResponse
          try {
            const req = decodeDetailsRequest(msg.data)
            const { conn, ...rest } = await this.#worker!.ask<WorkerDetails>({
              type: 'details',
              query: {
                id: req.id ?? '',
                maxPayloadSize: req.maxPayloadSize ?? 65536,
                includePayload: req.includePayload ?? true,
                includeL4: req.includeL4 ?? true,
                includeConn: req.includePcap ?? false,
                connId: Number(req.connId ?? 0),
                flowId: Number(req.flowId ?? 0),
              },
            })
            answer = rest
            if (req.includePcap) {
              // One NATS message carries the whole answer: the pcap gets what the rest leaves.
              const room = (nc.info?.max_payload ?? 1 << 20) - encodeDetailsResponse(answer).length - ANSWER_MARGIN_BYTES
              Object.assign(answer, await this.#detailsPcap.answer(conn, Math.min(this.config.detailsPcapMax, room)))
            }
          } catch (e) {
            answer = { found: false, error: (e as Error).message }
          }
          try {
            msg.respond(encodeDetailsResponse(answer))
          } catch (e) {
            // E.g. bodies larger than NATS max_payload: say so rather than let the hub time out.
            msg.respond(encodeDetailsResponse({ found: false, error: `the answer cannot be sent: ${(e as Error).message}` }))
          }
        })()
      },
    })
    // Raw-capture slices, pulled chunk by chunk by the hub (see raw/slice-server.ts).
    this.#slices = new SliceServer(() => this.#raw?.ring)
    subscribeSlices(nc, node, this.#slices)
    nc.subscribe(subjects.agentVerb(node, 'flows'), {
      callback: (err, msg) => {
        if (err) return
        void (async () => {
          let answer: FlowsResponse
          try {
            const req = decodeFlowsRequest(msg.data)
            const r = await this.#worker!.ask<{ flows: FlowsResponse['flows']; truncated: boolean }>({ type: 'flows', limit: Math.min(req.limit || 1000, 10_000) })
            answer = { node, flows: r.flows, truncated: r.truncated }
          } catch {
            answer = { node, flows: [], truncated: false }
          }
          msg.respond(encodeFlowsResponse(answer))
        })()
      },
    })
  }

  get fatal(): Error | undefined {
    return this.#fatal
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeat)
    clearInterval(this.#tick)
    this.#source?.stop()
    this.#captureRunning = false
    this.#worker?.send({ type: 'tick', nowMs: Date.now() })
    await new Promise((r) => setTimeout(r, 100))
    if (this.#publisher) await this.#publisher.drain(5000)
    this.#publisher?.close()
    await this.#worker?.terminate()
    this.#slices?.close()
    await this.#raw?.close()
    await new Promise<void>((r) => (this.#health ? this.#health.close(() => r()) : r()))
    if (this.#nc && !this.#nc.isClosed()) await this.#nc.drain()
  }

  status(): AgentStatus {
    const a = this.#worker?.stats
    const p = this.#publisher?.stats
    const src = this.#source
    const ring = this.#raw?.stats()
    return {
      node: this.config.node,
      version: AGENT_VERSION,
      ts: Date.now(),
      startedAt: this.#startedAt,
      interface: this.config.readFile ?? this.config.interface,
      linkType: src?.linkTypeName ?? '',
      dissectionEnabled: this.#dissectionEnabled,
      rawCaptureEnabled: this.#raw?.enabled === true,
      sessionId: this.#startedAt.toString(36),
      ringOldestTs: ring?.oldestTs ?? 0,
      ringNewestTs: ring?.newestTs ?? 0,
      ringBytes: ring?.bytes ?? 0,
      captureDone: this.#captureDone,
      entriesOldestTs: this.#publisher?.oldestTs ?? 0,
      entriesNewestTs: this.#publisher?.newestTs ?? 0,
      stats: {
        packetsSeen: src?.stats.packets ?? 0,
        bytesSeen: src?.stats.bytes ?? 0,
        batches: src?.stats.batches ?? 0,
        kernelDrops: src?.stats.kernelDrops ?? 0,
        queueDrops: this.#worker?.droppedPackets ?? 0,
        entriesEmitted: a?.entries ?? 0,
        entriesPublished: p?.entriesPublished ?? 0,
        publishErrors: p?.publishErrors ?? 0,
        entriesDropped: p?.entriesDropped ?? 0,
        dissectErrors: a?.engine.dissectorErrors ?? 0,
        tcpGaps: a?.flows.tcpGaps ?? 0,
        flowsActive: a?.flows.connectionsActive ?? 0,
        decodeErrors: a?.decodeErrors ?? 0,
      },
    }
  }

  #publishStatus(): void {
    const nc = this.#nc
    if (!nc || nc.isClosed()) return
    try {
      nc.publish(subjects.agentStatus(this.config.node), encodeAgentStatus(this.status()))
    } catch (e) {
      this.#log(`heartbeat: ${(e as Error).message}`)
    }
  }

  #metrics(): string {
    const s = this.status().stats!
    const r = this.#raw?.stats()
    const f = this.#worker?.stats?.reassembly
    const d = this.#worker?.stats?.engine.counters ?? {}
    return renderMetrics('tapwire_agent', {
      packets_seen_total: ['Packets delivered by the capture source', s.packetsSeen ?? 0],
      bytes_seen_total: ['Bytes delivered by the capture source', s.bytesSeen ?? 0],
      batches_total: ['Packet batches handed to the dissector worker', s.batches ?? 0],
      kernel_drops_total: ['Packets the kernel dropped because the capture buffer was full (--capture-buffer; on loopback the kernel counts each twice)', s.kernelDrops ?? 0],
      queue_drops_total: ['Packets dropped because the dissector worker was behind', s.queueDrops ?? 0],
      entries_emitted_total: ['Entries produced by the dissectors', s.entriesEmitted ?? 0],
      entries_published_total: ['Entries acknowledged by JetStream', s.entriesPublished ?? 0],
      entries_dropped_total: ['Entries dropped because the outbound queue was full', s.entriesDropped ?? 0],
      publish_errors_total: ['Failed JetStream publishes (retried)', s.publishErrors ?? 0],
      publish_queue_entries: ['Entries waiting to be acknowledged by JetStream (queued or in flight)', this.#publisher?.stats.queuedEntries ?? 0],
      publish_in_flight: ['Entry batches published and awaiting their JetStream ack', this.#publisher?.inFlight ?? 0],
      dissect_errors_total: ['Dissector exceptions (connection abandoned)', s.dissectErrors ?? 0],
      tcp_gaps_total: ['TCP sequence gaps (segments not captured)', s.tcpGaps ?? 0],
      decode_errors_total: ['Malformed or truncated packets', s.decodeErrors ?? 0],
      flows_active: ['Connections tracked now', s.flowsActive ?? 0],
      ip_fragments_total: ['IPv4/IPv6 fragments seen', f?.fragments ?? 0],
      ip_datagrams_reassembled_total: ['IP datagrams reassembled from fragments', f?.reassembled ?? 0],
      ip_datagrams_dropped_total: [
        'Fragmented IP datagrams given up: timed out, evicted by the bounds, or too large',
        (f?.timedOut ?? 0) + (f?.evicted ?? 0) + (f?.tooLarge ?? 0),
      ],
      ip_fragments_dropped_total: ['Fragments dropped as malformed, or for a datagram already given up', (f?.invalid ?? 0) + (f?.discarded ?? 0)],
      worker_restarts_total: ['Times the dissector worker died and was restarted', this.#worker?.restarts ?? 0],
      // HTTP/2 after capture gaps (libs/dissectors/src/http2/resync.ts): what recovery did.
      http2_gaps_total: ['Capture gaps inside HTTP/2 connections', d['http2_gaps'] ?? 0],
      http2_framing_lost_total: ['HTTP/2 gaps the frame lengths did not bridge (frame boundary searched for)', d['http2_framing_lost'] ?? 0],
      http2_resyncs_total: ['HTTP/2 frame boundaries found again after a gap', d['http2_resyncs'] ?? 0],
      http2_resync_skipped_bytes_total: ['Bytes discarded after HTTP/2 gaps while searching for a frame boundary', d['http2_resync_skipped_bytes'] ?? 0],
      http2_hpack_desyncs_total: ['Times an HTTP/2 direction lost HPACK state to a gap (partial sync follows)', d['http2_hpack_desyncs'] ?? 0],
      http2_hpack_unknown_fields_total: ['HTTP/2 header fields left out: they referenced HPACK entries a gap made unknown', d['http2_hpack_unknown_fields'] ?? 0],
      http2_gave_up_total: ['HTTP/2 connections given up after a gap (no frame boundary within the search bound)', d['http2_gave_up'] ?? 0],
      ring_bytes: ['Bytes held by the PCAP ring (segments and indexes)', r?.bytes ?? 0],
      ring_max_bytes: ['Bound of the PCAP ring (--ring-size)', r?.maxBytes ?? 0],
      ring_packets: ['Packets held by the PCAP ring', r?.packets ?? 0],
      ring_dropped_packets_total: ['Packets the PCAP ring dropped (disk behind or write errors)', (r?.droppedPackets ?? 0) + (r?.lostWhileOpening ?? 0)],
      ring_evicted_segments_total: ['Ring segments deleted to stay within --ring-size', r?.evictedSegments ?? 0],
    })
  }
}
