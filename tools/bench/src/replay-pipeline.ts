#!/usr/bin/env node
// One offline run of the agent's dissection pipeline over a capture file, on one thread: read the
// file, pack batches, decode, reassemble, dissect, encode entry batches (what the agent publishes).
// Prints one JSON line: { packets, calls, seconds }. Entries are encoded as they come
// (EntryBatchWriter): the same EntryBatch bytes, without holding a thousand entries until then.
import { Analyzer } from '@tapwire/dissectors'
import { BatchPacker } from '@tapwire/packet'
import { openCapture } from '@tapwire/pcap'
import { EntryBatchWriter } from '@tapwire/wire'

export async function replayPipeline(path: string): Promise<{ packets: number; calls: number; seconds: number }> {
  const start = process.hrtime.bigint()
  let nextId = 1
  let calls = 0
  let encodedBytes = 0
  const writer = new EntryBatchWriter()
  const flush = (): void => {
    if (writer.count === 0) return
    encodedBytes += writer.finish('bench', calls).length
  }
  const analyzer = new Analyzer({
    node: 'bench',
    nextId: () => nextId++,
    onEntry: (e) => {
      calls++
      writer.add(e)
      if (writer.count >= 1000) flush()
    },
  })
  const reader = await openCapture(path)
  // Records go from the reader's buffer straight into batches (BatchPacker), and each batch
  // buffer is handed back once the analyzer is done with it (it keeps nothing of a batch).
  const packer = new BatchPacker()
  const drain = (): void => {
    for (let b = packer.take(); b !== undefined; b = packer.take()) {
      analyzer.processBatch(b)
      packer.release(b)
    }
  }
  try {
    while (await reader.readInto(packer)) drain()
    packer.flush()
    drain()
  } finally {
    await reader.close()
  }
  const packets = packer.packets
  analyzer.finish()
  flush()
  if (encodedBytes === 0 && calls > 0) throw new Error('nothing encoded')
  return { packets, calls, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

/**
 * `replay-pipeline FILE [--passes N]`: one pass prints { packets, calls, seconds }; with N > 1 the
 * same process replays the file N times and also prints `warmSeconds`, the median of passes 2..N:
 * the rate of a pipeline already running (JIT-compiled, caches warm), as the agent is.
 */
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: replay-pipeline FILE [--passes N]')
  const at = process.argv.indexOf('--passes')
  const passes = at > 0 ? Math.max(1, Number(process.argv[at + 1])) : 1
  const first = await replayPipeline(file)
  const warm: number[] = []
  for (let i = 1; i < passes; i++) warm.push((await replayPipeline(file)).seconds)
  warm.sort((a, b) => a - b)
  console.log(JSON.stringify(passes > 1 ? { ...first, warmSeconds: warm[(warm.length - 1) >> 1] } : first))
}
