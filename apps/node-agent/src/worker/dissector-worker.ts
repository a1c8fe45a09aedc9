// The dissector worker thread: packet batches in, encoded entry batches out. Everything that
// costs CPU per packet happens here, off the capture thread.
import { parentPort, workerData } from 'node:worker_threads'
import { Analyzer } from '@tapwire/dissectors'
import { IdAllocator } from '../ids/id-allocator.js'
import { EntryBatcher } from './entry-batcher.js'
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js'

const port = parentPort
if (!port) throw new Error('dissector-worker must run in a worker thread')
const init = workerData as WorkerInit
const send = (msg: FromWorker): void => port.postMessage(msg)

const ids = new IdAllocator(init.dataDir)
const batcher = new EntryBatcher({ node: init.node, bootId: init.bootId, send })
const analyzer = new Analyzer({
  node: init.node,
  worker: init.worker,
  nextId: ids.next,
  previewBytes: init.previewBytes,
  dissectionEnabled: init.dissectionEnabled,
  onEntry: (entry) => batcher.add(entry),
})

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
