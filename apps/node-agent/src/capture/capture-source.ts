/**
 * Where packets come from. Every source hands out packet batches (see @tapwire/packet batch.ts):
 * live capture on the main thread, a file replay, and later faster native sources.
 */
export interface CaptureSourceStats {
  packets: number
  bytes: number
  batches: number
  /**
   * Packets the kernel dropped because the capture buffer was full (libpcap's ps_drop); live
   * capture only.
   */
  kernelDrops?: number
}

export interface BatchSink {
  /**
   * Receives a finished batch. Returns a promise when the sink wants the source to wait (file
   * replay must not outrun the worker); live capture never waits and the sink drops instead.
   */
  (batch: ArrayBuffer, packets: number): void | Promise<void>
}

export interface CaptureSource {
  /** Human-readable origin: interface name or file path. */
  readonly name: string
  /** LINKTYPE_* of the batches (a file's first interface for multi-interface pcapng). */
  readonly linkTypeName: string
  readonly stats: CaptureSourceStats
  /** Starts delivering batches; resolves when the source is exhausted (files) or stopped. */
  run(sink: BatchSink): Promise<void>
  stop(): void
}
