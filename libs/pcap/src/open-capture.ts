/**
 * Streaming file reader: reads a pcap/pcapng file in chunks (256 KiB by default) and parses each
 * chunk synchronously into a batch of records. The next chunk's read is issued before the current
 * batch is handed out, so disk I/O overlaps with the consumer. Memory stays at about two chunks
 * (plus whatever records the consumer keeps), whatever the file size.
 */
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { CaptureDecoder } from './decoder.js'
import type { CaptureInfo, CaptureRecord, CaptureStatus, RecordOut, RecordSink } from './types.js'

export interface OpenCaptureOptions {
  /** Bytes per read; grows automatically for blocks larger than this. Default 256 KiB. */
  chunkSize?: number
}

/**
 * 256 KiB: a chunk's records (an object and a view each) live until the consumer has gone through
 * all of them. With 4 MiB chunks (~20,000 records of small packets) they outlived several young-
 * generation collections, were copied and promoted, and the replay of the mixed HTTP bench spent
 * ~9% more main-thread CPU than with 256 KiB ones (a few hundred records, gone before the next one).
 */
const DEFAULT_CHUNK = 256 * 1024

interface Chunk {
  buf: Uint8Array
  /** Bytes carried over from the previous chunk at the start of `buf`. */
  carried: number
  /** File offset of buf[0]. */
  base: number
  read: Promise<number>
}

/** An open capture file: metadata, status, and its records as an async iterable. */
export class CaptureFileReader implements AsyncIterable<CaptureRecord>, CaptureStatus {
  readonly path: string
  readonly #fh: FileHandle
  readonly #decoder = new CaptureDecoder()
  readonly #chunkSize: number
  #next: Chunk | undefined
  #first: CaptureRecord[] | undefined
  /** With `readInto`: the buffer the next-but-one read goes into. */
  #spare: Uint8Array | undefined
  #closed = false
  #iterating = false

  /** @internal use openCapture() */
  constructor(path: string, fh: FileHandle, chunkSize: number) {
    this.path = path
    this.#fh = fh
    this.#chunkSize = chunkSize
    this.#next = this.#startRead(new Uint8Array(chunkSize), 0, 0)
  }

  /** Format, byte order and interfaces (pcapng: those seen so far). */
  get info(): CaptureInfo {
    return this.#decoder.info!
  }

  get truncated(): boolean {
    return this.#decoder.truncated
  }

  get warnings(): string[] {
    return this.#decoder.warnings
  }

  get recordCount(): number {
    return this.#decoder.recordCount
  }

  /** @internal reads until the header is parsed, so `info` is available once openCapture resolves. */
  async prime(): Promise<void> {
    const first: CaptureRecord[] = []
    while (this.#decoder.parser?.headerDone !== true) {
      const batch = await this.#readBatch()
      if (batch === null) break
      first.push(...batch)
    }
    this.#first = first
  }

  #startRead(buf: Uint8Array, carried: number, base: number): Chunk {
    const position = base + carried
    const read = this.#fh
      .read(buf, carried, buf.length - carried, position)
      .then((r) => r.bytesRead)
    // Avoid an unhandled rejection if the consumer stops before awaiting this read.
    read.catch(() => undefined)
    return { buf, carried, base, read }
  }

  /** Next batch of records (possibly empty), or null at end of file. */
  async #readBatch(): Promise<CaptureRecord[] | null> {
    const out: CaptureRecord[] = []
    return (await this.#readChunk(out, false)) ? out : null
  }

  /**
   * Parses the next chunk into `out`; false at the end of the file. With `reuse` (a sink that
   * copied every record it was given) the chunk's buffer takes the read after next: two buffers
   * in turn instead of a fresh one per chunk. Without it, records keep viewing their chunk.
   */
  async #readChunk(out: RecordOut, reuse: boolean): Promise<boolean> {
    const chunk = this.#next
    if (chunk === undefined) return false
    this.#next = undefined
    const n = await chunk.read
    const end = chunk.carried + n
    const { buf, base } = chunk
    if (n === 0) {
      // A skipped (unknown, oversized) block may have pointed past the end of the file.
      const size = (await this.#fh.stat()).size
      this.#decoder.finish(chunk.carried, base, Math.max(0, base + chunk.carried - size))
      await this.close()
      return false
    }
    const view = new DataView(buf.buffer, buf.byteOffset, end)
    const consumed = this.#decoder.decode(buf, view, 0, end, base, out)
    const skip = this.#decoder.takeSkip()
    const left = end - consumed
    // The remainder of a block/record moves to the front of the next buffer (records already
    // handed out keep viewing the old one, which is never written again unless `reuse`).
    const size = Math.max(this.#chunkSize, this.#decoder.needed + 1, left * 2)
    const spare = reuse ? this.#spare : undefined
    const next = spare !== undefined && spare.length >= size ? spare : new Uint8Array(size)
    this.#spare = reuse ? buf : undefined
    if (left > 0) next.set(buf.subarray(consumed, end))
    this.#next = this.#startRead(next, left, base + consumed + skip)
    return true
  }

  /**
   * Parses the next chunk's records into `sink` (see RecordSink: no object per record, the bytes
   * valid only during each call); false once the file has ended. The next chunk is being read
   * while the caller works on what the sink gathered. Not to be mixed with `batches()`.
   */
  async readInto(sink: RecordSink): Promise<boolean> {
    if (this.#iterating) throw new Error('a capture file can only be iterated once')
    const first = this.#first
    if (first !== undefined) {
      this.#first = undefined
      for (const r of first) sink.record(r.linkType, r.ifIndex, r.tsSec, r.tsNsec, r.data, 0, r.capLen, r.origLen)
      if (first.length > 0) return true
    }
    return this.#readChunk(sink, true)
  }

  /** Records in file order, one array per chunk read: the fastest way to consume a file. */
  async *batches(): AsyncGenerator<CaptureRecord[], void, undefined> {
    if (this.#iterating) throw new Error('a capture file can only be iterated once')
    this.#iterating = true
    try {
      const first = this.#first
      this.#first = undefined
      if (first !== undefined && first.length > 0) yield first
      for (;;) {
        const batch = await this.#readBatch()
        if (batch === null) return
        if (batch.length > 0) yield batch
      }
    } finally {
      await this.close()
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<CaptureRecord> {
    const batches = this.batches()
    let batch: CaptureRecord[] = []
    let i = 0
    const pull = async (): Promise<IteratorResult<CaptureRecord>> => {
      for (;;) {
        const r = await batches.next()
        if (r.done === true) return { done: true, value: undefined }
        batch = r.value
        i = 0
        if (batch.length > 0) return { done: false, value: batch[i++]! }
      }
    }
    return {
      next: () =>
        i < batch.length ? Promise.resolve({ done: false, value: batch[i++]! }) : pull(),
      return: async () => {
        batch = []
        i = 0
        await batches.return(undefined)
        return { done: true, value: undefined }
      },
    }
  }

  /** Releases the file; safe to call more than once. Iteration closes it automatically at the end. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#next = undefined
    await this.#fh.close()
  }
}

/**
 * Opens a pcap or pcapng file (sniffed from its first bytes, not its name) for streaming. Resolves
 * once the file header is parsed, so `info.format` and (for pcap) the link type are known; rejects
 * with a `PcapError` for bad magic or a header cut short.
 */
export async function openCapture(
  path: string,
  options: OpenCaptureOptions = {}
): Promise<CaptureFileReader> {
  const fh = await open(path, 'r')
  const reader = new CaptureFileReader(path, fh, Math.max(16, options.chunkSize ?? DEFAULT_CHUNK))
  try {
    await reader.prime()
  } catch (err) {
    await reader.close()
    throw err
  }
  return reader
}
