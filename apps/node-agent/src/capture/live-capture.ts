// The only file that loads `cap` (libpcap): it must run on the main thread (it uses the default
// loop and crashes inside worker threads), so it does nothing but stamp, copy and batch.
import { createRequire } from 'node:module'
import { BatchBuilder, linkTypeFromName, linkTypeName } from '@tapwire/packet'
import type { BatchSink, CaptureSource, CaptureSourceStats } from './capture-source.js'
import { PacketClock } from './packet-clock.js'

interface CapHandle {
  /**
   * `immediate` and `timeoutMs` come from our patch of cap (tools/scripts/patch-cap.mjs): without
   * immediate mode libpcap uses TPACKET_V3, whose blocks pack packets; the timeout bounds how long
   * a block waits before it is handed over.
   */
  open(device: string, filter: string, bufSize: number, buffer: Buffer, immediate?: boolean, timeoutMs?: number): string
  /** `tsSec`/`tsUsec`: the packet header's kernel timestamp (patched cap; absent unpatched). */
  on(event: 'packet', fn: (nbytes: number, truncated: boolean, tsSec?: number, tsUsec?: number) => void): void
  close(): void
  /** libpcap's counters (patched cap); absent on an unpatched build. */
  stats?(): { received: number; dropped: number; ifDropped: number } | null
  setMinBytes?(n: number): void
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): { name: string }[] }
}

const require = createRequire(import.meta.url)

export class CaptureOpenError extends Error {
  readonly code = 'CAPTURE_OPEN_FAILED'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CaptureOpenError'
  }
}

export interface LiveCaptureOptions {
  interface: string
  bpf?: string
  /** Kernel capture buffer (libpcap buffer size). */
  bufferBytes?: number
  /** A batch is handed on when it holds this many packets... */
  batchPackets?: number
  /** ...or this many bytes... */
  batchBytes?: number
  /** ...or this long after its first packet. */
  batchMs?: number
}

export class LiveCapture implements CaptureSource {
  readonly name: string
  readonly stats: CaptureSourceStats = { packets: 0, bytes: 0, batches: 0, kernelDrops: 0 }
  linkTypeName = ''
  readonly #opts: LiveCaptureOptions
  #cap: CapHandle | undefined
  #timer: NodeJS.Timeout | undefined
  #resolve: (() => void) | undefined

  constructor(opts: LiveCaptureOptions) {
    this.#opts = opts
    this.name = opts.interface
  }

  run(sink: BatchSink): Promise<void> {
    let mod: CapModule
    try {
      mod = require('cap') as CapModule
    } catch (cause) {
      throw new CaptureOpenError('cannot load the libpcap binding (cap); is libpcap installed?', { cause })
    }
    const cap = new mod.Cap()
    const buffer = Buffer.alloc(65536)
    let linkName: string
    try {
      // Not immediate mode: TPACKET_V3 blocks hold packets of any size packed, where immediate mode's
      // TPACKET_V2 spends a 65,616-byte frame on each (256 packets in 16 MiB). 50 ms bounds the
      // delay of a block that does not fill.
      linkName = cap.open(this.#opts.interface, this.#opts.bpf ?? '', this.#opts.bufferBytes ?? 16 << 20, buffer, false, 50)
    } catch (cause) {
      const devices = mod.Cap.deviceList().map((d) => d.name).join(', ')
      throw new CaptureOpenError(
        `cannot capture on '${this.#opts.interface}': ${(cause as Error).message} (interfaces: ${devices})`,
        { cause }
      )
    }
    const linkType = linkTypeFromName(linkName)
    if (linkType === undefined) {
      cap.close()
      throw new CaptureOpenError(`unsupported link type ${linkName} on '${this.#opts.interface}'`)
    }
    this.linkTypeName = linkTypeName(linkType)
    this.#cap = cap
    const maxPackets = this.#opts.batchPackets ?? 1024
    const maxBytes = this.#opts.batchBytes ?? 1 << 20
    const batchMs = this.#opts.batchMs ?? 20
    const builder = new BatchBuilder(linkType, maxBytes + 70_000)
    const clock = new PacketClock()
    const stats = this.stats
    let flushes = 0
    const flush = (): void => {
      // Kernel drops once a second (pcap_stats is a syscall; the counter only moves under load).
      if (++flushes % 50 === 0) this.#readKernelStats()
      if (builder.count === 0) return
      const n = builder.count
      stats.batches++
      void sink(builder.finish(), n)
    }
    cap.on('packet', (nbytes: number, _truncated: boolean, tsSec?: number, tsUsec?: number) => {
      stats.packets++
      stats.bytes += nbytes
      // The kernel's stamp when the patched binding gives it: TPACKET_V3 hands a block over up to
      // the read timeout after its first packet, so the time JavaScript sees it would be late.
      if (tsSec !== undefined && tsUsec !== undefined) builder.append(tsSec, tsUsec * 1000, buffer.subarray(0, nbytes))
      else {
        clock.stamp()
        builder.append(clock.sec, clock.nsec, buffer.subarray(0, nbytes))
      }
      if (builder.count >= maxPackets || builder.byteLength >= maxBytes) flush()
    })
    this.#timer = setInterval(flush, batchMs)
    return new Promise((resolve) => {
      this.#resolve = () => {
        flush()
        resolve()
      }
    })
  }

  #readKernelStats(): void {
    try {
      const s = this.#cap?.stats?.()
      if (s) this.stats.kernelDrops = s.dropped
    } catch {
      // Closed meanwhile: keep the last figure.
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
    this.#readKernelStats()
    try {
      this.#cap?.close()
    } catch {
      // Already closed.
    }
    this.#cap = undefined
    this.#resolve?.()
    this.#resolve = undefined
  }
}
