// The dissector worker thread: packet batches in, encoded entry batches out. Everything that
// costs CPU per packet happens here, off the capture thread.
import { parentPort, workerData } from 'node:worker_threads'
import * as zlib from 'node:zlib'
import { Analyzer, DEFAULT_REDACTION, Redactor, setBodyDecoder, zlibBodyDecoder } from '@tapwire/dissectors'
import { IdAllocator } from '../ids/id-allocator.js'
import { DetailCache } from './detail-cache.js'
import { EntryBatcher } from './entry-batcher.js'
import type { DetailsQuery, FromWorker, ToWorker, WorkerDetails, WorkerInit } from './protocol.js'

const port = parentPort
if (!port) throw new Error('dissector-worker must run in a worker thread')
const init = workerData as WorkerInit
const send = (msg: FromWorker): void => port.postMessage(msg)

// Body previews are shown decoded (gzip, deflate, br); sizes stay wire sizes.
setBodyDecoder(zlibBodyDecoder(zlib))

const ids = new IdAllocator(init.dataDir)
const batcher = new EntryBatcher({ node: init.node, bootId: init.bootId, send })
const details = new DetailCache(init.detailCacheBytes)
// Secrets are removed before an entry is published and before its bodies are kept for drill-down.
const redactor = init.redaction
  ? new Redactor({
      headers: [...DEFAULT_REDACTION.headers, ...init.redaction.headers],
      keys: [...DEFAULT_REDACTION.keys, ...init.redaction.keys],
      patterns: [...DEFAULT_REDACTION.patterns, ...init.redaction.patterns.map((p) => new RegExp(p, 'g'))],
    })
  : undefined
const EMPTY = new Uint8Array(0)
const analyzer = new Analyzer({
  node: init.node,
  worker: init.worker,
  nextId: ids.next,
  previewBytes: init.previewBytes,
  dissectionEnabled: init.dissectionEnabled,
  dissectorLimits: { maxBodyBytes: init.maxBodyBytes },
  redactor,
  l4Entries: init.l4Entries,
  l4IntervalMs: init.l4IntervalMs,
  onEntry: (entry, call) => {
    batcher.add(entry)
    details.put(entry.id!, {
      connId: entry.connId ?? 0,
      flowId: entry.flowId ?? 0,
      reqBody: call.reqBody ?? EMPTY,
      respBody: call.respBody ?? EMPTY,
      reqTruncated: call.reqBodyTruncated ?? false,
      respTruncated: call.respBodyTruncated ?? false,
    })
  },
})

/**
 * Drill-down: full bodies cut at the caller's limit, the L4 counters of the call's flow and, for
 * include_pcap, where and when the connection's packets are (the main thread owns the ring).
 */
function answerDetails(q: DetailsQuery): WorkerDetails {
  const d = details.get(q.id)
  if (d === undefined) {
    const out: WorkerDetails = { found: false, error: 'no longer in the agent detail cache' }
    // The hub's entry names the connection: its packets may still be in the ring.
    if (q.includeConn && q.connId > 0) out.conn = analyzer.connWindow(q.connId, q.flowId)
    return out
  }
  const cut = (b: Uint8Array): Uint8Array => (b.length > q.maxPayloadSize ? b.subarray(0, q.maxPayloadSize) : b)
  const out: WorkerDetails = { found: true }
  if (q.includePayload) {
    out.reqBody = cut(d.reqBody)
    out.respBody = cut(d.respBody)
    out.truncated = d.reqTruncated || d.respTruncated || d.reqBody.length > q.maxPayloadSize || d.respBody.length > q.maxPayloadSize
  }
  if (q.includeL4) {
    const l4 = analyzer.l4(d.connId, d.flowId)
    if (l4.conn) out.l4Conn = l4.conn
    if (l4.flow) out.l4Flow = l4.flow
  }
  if (q.includeConn) out.conn = analyzer.connWindow(d.connId, d.flowId)
  return out
}

port.on('message', (msg: ToWorker) => {
  try {
    switch (msg.type) {
      case 'batch': {
        const packets = analyzer.processBatch(msg.batch)
        batcher.flush()
        send({ type: 'processed', packets })
        break
      }
      case 'tick':
        // Wall-clock tick while the capture is quiet, so idle connections still time out.
        if (msg.nowMs - analyzer.lastPacketTs > 1000) analyzer.tick(msg.nowMs)
        batcher.flush()
        send({ type: 'stats', stats: analyzer.stats })
        break
      case 'dissection':
        analyzer.setDissection(msg.enabled)
        break
      case 'details':
        send({ type: 'reply', reqId: msg.reqId, value: answerDetails(msg.query) })
        break
      case 'flows':
        send({ type: 'reply', reqId: msg.reqId, value: analyzer.flowRecords(msg.limit) })
        break
      case 'finish':
        analyzer.finish()
        batcher.flush()
        send({ type: 'finished', stats: analyzer.stats })
        break
    }
  } catch (e) {
    send({ type: 'error', message: (e as Error).message })
  }
})
