import { BatchPacker, linkTypeName, readBatchInfo } from '@tapwire/packet'
import { openCapture } from '@tapwire/pcap'
import type { BatchSink, CaptureSource, CaptureSourceStats } from './capture-source.js'

/**
 * Replays a pcap or pcapng file as fast as the pipeline goes (like `tshark -r`), with the file's
 * own timestamps. Batches hold one link type; a pcapng file mixing link types starts a new batch
 * whenever the link type changes.
 */
export class FileReplay implements CaptureSource {
  readonly name: string
  readonly stats: CaptureSourceStats = { packets: 0, bytes: 0, batches: 0 }
  linkTypeName = ''
  truncated = false
  #stopped = false
  readonly #batchPackets: number

  constructor(path: string, batchPackets = 2048) {
    this.name = path
    this.#batchPackets = batchPackets
  }

  async run(sink: BatchSink): Promise<void> {
    const reader = await openCapture(this.name)
    const packer = new BatchPacker({ maxPackets: this.#batchPackets })
    // Batches go to the worker (transferred), so their buffers are not given back to the packer.
    const drain = async (): Promise<void> => {
      for (let batch = packer.take(); batch !== undefined; batch = packer.take()) {
        this.stats.batches++
        await sink(batch, readBatchInfo(batch).count)
      }
      this.stats.packets = packer.packets
      this.stats.bytes = packer.bytes
      if (this.linkTypeName === '' && packer.firstLinkType >= 0) this.linkTypeName = linkTypeName(packer.firstLinkType)
    }
    try {
      while (!this.#stopped && (await reader.readInto(packer))) await drain()
      // What was packed goes out, stopped or not (as before the packer).
      packer.flush()
      await drain()
      this.truncated = reader.truncated
    } finally {
      await reader.close()
    }
  }

  stop(): void {
    this.#stopped = true
  }
}
