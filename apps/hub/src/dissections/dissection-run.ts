import { open } from 'node:fs/promises'
import * as zlib from 'node:zlib'
import { Analyzer, setBodyDecoder, zlibBodyDecoder } from '@tapwire/dissectors'
import { BatchPacker } from '@tapwire/packet'
import { openCapture } from '@tapwire/pcap'
import type { Entry } from '@tapwire/wire'
import { encodeEntryBatch } from '@tapwire/wire'

export interface DissectionInput {
  /** One pcap per node: entries carry that node's name, as the live agents' entries do. */
  files: { node: string; path: string; packets: number; bytes: number }[]
  /** Output: length-prefixed (u32 LE) EntryBatch protobuf messages. */
  out: string
}

export interface DissectionStats {
  pcap_files: number
  pcap_bytes: number
  packets_processed: number
  entries_created: number
  protocol_counts: Record<string, number>
}

export interface DissectionProgress {
  progress: number
  stats: DissectionStats
}

/** Same limits as the agents (apps/node-agent config defaults), so the calls come out the same. */
const PREVIEW_BYTES = 4096
const MAX_BODY_BYTES = 256 * 1024
const BATCH_PACKETS = 2048
const FLUSH_ENTRIES = 1000

/**
 * Delayed dissection: the snapshot's pcaps through the same Analyzer the agents run live, one
 * Analyzer per node (each node's capture is its own packet stream), entries appended to a file.
 * Cooperative: `shouldStop` is polled between batches; progress is reported by packets.
 */
export async function runDissection(
  input: DissectionInput,
  onProgress: (p: DissectionProgress) => void,
  shouldStop: () => boolean = () => false
): Promise<DissectionStats> {
  setBodyDecoder(zlibBodyDecoder(zlib))
  const stats: DissectionStats = {
    pcap_files: input.files.length,
    pcap_bytes: input.files.reduce((t, f) => t + f.bytes, 0),
    packets_processed: 0,
    entries_created: 0,
    protocol_counts: {},
  }
  const totalPackets = Math.max(
    1,
    input.files.reduce((t, f) => t + f.packets, 0)
  )
  const out = await open(input.out, 'w')
  let pending: Entry[] = []
  let lastReport = 0
  const report = (force = false): void => {
    const now = Date.now()
    if (!force && now - lastReport < 250) return
    lastReport = now
    onProgress({
      progress: Math.min(99, Math.floor((stats.packets_processed / totalPackets) * 100)),
      stats: { ...stats, protocol_counts: { ...stats.protocol_counts } },
    })
  }
  const flush = async (node: string): Promise<void> => {
    if (pending.length === 0) return
    const body = encodeEntryBatch({ node, entries: pending })
    const frame = Buffer.alloc(4 + body.length)
    frame.writeUInt32LE(body.length, 0)
    frame.set(body, 4)
    await out.write(frame)
    pending = []
  }
  try {
    for (const f of input.files) {
      let id = 0
      const analyzer = new Analyzer({
        node: f.node,
        worker: f.node,
        nextId: () => ++id,
        previewBytes: PREVIEW_BYTES,
        dissectorLimits: { maxBodyBytes: MAX_BODY_BYTES },
        // As live: the agent emits L4 entries by default, so KFL's conn/flow filters find them here too.
        l4Entries: true,
        onEntry: (entry) => {
          pending.push(entry)
          stats.entries_created++
          const p = entry.proto ?? ''
          stats.protocol_counts[p] = (stats.protocol_counts[p] ?? 0) + 1
        },
      })
      const reader = await openCapture(f.path)
      // The analyzer is done with a batch when processBatch returns: its buffer is reused.
      const packer = new BatchPacker({ maxPackets: BATCH_PACKETS })
      const feed = (): void => {
        for (let b = packer.take(); b !== undefined; b = packer.take()) {
          stats.packets_processed += analyzer.processBatch(b)
          packer.release(b)
        }
      }
      try {
        while (await reader.readInto(packer)) {
          feed()
          if (pending.length >= FLUSH_ENTRIES) await flush(f.node)
          report()
          if (shouldStop()) throw new DissectionCancelled()
        }
        packer.flush()
        feed()
        analyzer.finish()
        await flush(f.node)
      } finally {
        await reader.close()
      }
    }
    await out.sync()
    report(true)
    return stats
  } finally {
    await out.close()
  }
}

export class DissectionCancelled extends Error {
  constructor() {
    super('cancelled')
    this.name = 'DissectionCancelled'
  }
}
