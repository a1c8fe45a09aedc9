// Delayed dissection in a worker thread: the Analyzer's CPU work stays off the hub's event loop.
import { parentPort, workerData } from 'node:worker_threads'
import { runDissection } from './dissection-run.js'
import type { DissectionInput } from './dissection-run.js'

const port = parentPort
if (!port) throw new Error('dissection-worker must run in a worker thread')
let stop = false
port.on('message', (m: { type: string }) => {
  if (m.type === 'stop') stop = true
})
runDissection(
  workerData as DissectionInput,
  (p) => port.postMessage({ type: 'progress', ...p }),
  () => stop
).then(
  (stats) => port.postMessage({ type: 'done', stats }),
  (e: Error) =>
    port.postMessage({
      type: e.name === 'DissectionCancelled' ? 'cancelled' : 'error',
      message: e.message,
    })
)
