/**
 * Batching shared by the pcap and pcapng writers: records are encoded into a large buffer (1 MiB by
 * default) that goes to the sink as one write when full. Each flushed buffer is handed over, never
 * reused, because streams keep a reference to written chunks. Sink writes are chained so they stay in
 * order even if a caller does not await every write().
 */
import { PcapWriterClosedError } from './errors.js'
import { endSink, writeChunk } from './sink.js'
import type { ByteSink } from './sink.js'

export const DEFAULT_WRITE_BUFFER = 1024 * 1024
export const RESOLVED: Promise<void> = Promise.resolve()

export abstract class BufferedWriter {
  readonly #sink: ByteSink
  readonly #bufferSize: number
  protected buf: Uint8Array
  protected view: DataView
  protected pos = 0
  #pending: Promise<void> = RESOLVED
  #closed = false
  /** Bytes handed to the sink so far (header included). */
  bytesWritten = 0
  recordsWritten = 0

  constructor(sink: ByteSink, bufferSize = DEFAULT_WRITE_BUFFER) {
    this.#sink = sink
    this.#bufferSize = Math.max(4096, bufferSize)
    this.buf = new Uint8Array(this.#bufferSize)
    this.view = new DataView(this.buf.buffer)
  }

  /** Makes room for `n` more bytes, flushing if needed; returns the flush promise (or undefined). */
  protected reserve(n: number): Promise<void> | undefined {
    if (this.#closed) throw new PcapWriterClosedError()
    if (this.pos + n <= this.buf.length) return undefined
    const p = this.pos > 0 ? this.flush() : undefined
    if (n > this.buf.length) {
      this.buf = new Uint8Array(n)
      this.view = new DataView(this.buf.buffer)
    }
    return p
  }

  /** Sends buffered bytes to the sink; resolves when the sink has accepted them (after 'drain'). */
  flush(): Promise<void> {
    if (this.pos === 0) return this.#pending
    const chunk = this.buf.subarray(0, this.pos)
    this.bytesWritten += this.pos
    this.buf = new Uint8Array(this.#bufferSize)
    this.view = new DataView(this.buf.buffer)
    this.pos = 0
    const sink = this.#sink
    this.#pending = this.#pending.then(() => writeChunk(sink, chunk))
    return this.#pending
  }

  /**
   * Flushes everything and, when `end` is true (default) and the sink is a stream, ends it and waits
   * for 'finish'. File descriptors are never closed here: the caller opened them.
   */
  async close(options: { end?: boolean } = {}): Promise<void> {
    if (this.#closed) return this.#pending
    await this.flush()
    this.#closed = true
    if (options.end !== false) await endSink(this.#sink)
  }

  get closed(): boolean {
    return this.#closed
  }
}
