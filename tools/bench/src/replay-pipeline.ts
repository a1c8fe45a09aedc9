#!/usr/bin/env node
// One offline run of the agent's dissection pipeline over a capture file, on one thread: read the
// file, pack batches, decode, reassemble, dissect, encode entry batches (what the agent publishes).
// Prints one JSON line: { packets, calls, seconds }. The analyzer takes each batch synchronously
// and keeps nothing of it, so one batch buffer is reused (BatchBuilder.finishInPlace) rather than
// a fresh megabyte allocated and zeroed per 2048 packets. Entries are encoded as they come
// (EntryBatchWriter): the same EntryBatch bytes, without holding a thousand entries until then.
import { Analyzer } from '@tapwire/dissectors'
import { BatchBuilder } from '@tapwire/packet'
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
  let packets = 0
  let builder: BatchBuilder | undefined
  for await (const batch of reader.batches()) {
    for (const r of batch) {
      if (builder === undefined || builder.linkType !== r.linkType) {
        if (builder && builder.count > 0) analyzer.processBatch(builder.finishInPlace())
        builder = new BatchBuilder(r.linkType, 1 << 20)
      }
      builder.append(r.tsSec, r.tsNsec, r.data, r.origLen, r.ifIndex)
      packets++
      if (builder.count >= 2048) analyzer.processBatch(builder.finishInPlace())
    }
  }
  if (builder && builder.count > 0) analyzer.processBatch(builder.finishInPlace())
  await reader.close()
  analyzer.finish()
  flush()
  if (encodedBytes === 0 && calls > 0) throw new Error('nothing encoded')
  return { packets, calls, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const file = process.argv[2]
  if (!file) throw new Error('usage: replay-pipeline FILE')
  console.log(JSON.stringify(await replayPipeline(file)))
}
