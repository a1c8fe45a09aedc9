import { BatchBuilder, linkTypeName } from '@tapwire/packet'
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
    let builder: BatchBuilder | undefined
    const flush = async (): Promise<void> => {
      if (!builder || builder.count === 0) return
      const n = builder.count
      this.stats.batches++
      await sink(builder.finish(), n)
    }
    try {
      for await (const rec of reader) {
        if (this.#stopped) break
        if (builder === undefined || builder.linkType !== rec.linkType) {
          await flush()
          builder = new BatchBuilder(rec.linkType, 1 << 20)
          if (this.linkTypeName === '') this.linkTypeName = linkTypeName(rec.linkType)
        }
        builder.append(rec.tsSec, rec.tsNsec, rec.data, rec.origLen, rec.ifIndex)
        this.stats.packets++
        this.stats.bytes += rec.origLen
        if (builder.count >= this.#batchPackets) await flush()
      }
      await flush()
      this.truncated = reader.truncated
    } finally {
      await reader.close()
    }
  }

  stop(): void {
    this.#stopped = true
  }
}
