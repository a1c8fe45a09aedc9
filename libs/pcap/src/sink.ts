/**
 * Where writers send bytes: a file descriptor, a Node Writable (fs.WriteStream, socket, HTTP
 * response...) or any object with `write(chunk)`. Backpressure is honoured: a Writable that returns
 * false is awaited until 'drain'; a `write` that returns a promise is awaited.
 */
import { write as fsWrite } from 'node:fs'

export interface WritableLike {
  write(chunk: Uint8Array): unknown
  once?(event: string, listener: (...args: unknown[]) => void): unknown
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown
  end?(): unknown
  /** Node Writable state, checked so end() of an already finished stream does not hang. */
  writableFinished?: boolean
}

export type ByteSink = number | WritableLike

function writeFd(fd: number, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0
    const step = (): void => {
      fsWrite(fd, chunk, off, chunk.length - off, null, (err, n) => {
        if (err) return reject(err)
        off += n
        if (off < chunk.length) step()
        else resolve()
      })
    }
    step()
  })
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
}

/** Waits for one of `events` on an emitter-like sink; rejects on 'error'. */
function waitFor(sink: WritableLike, events: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const listeners: [string, (...args: unknown[]) => void][] = []
    const cleanup = (): void => {
      for (const [e, l] of listeners) sink.removeListener?.(e, l)
    }
    for (const e of events) {
      const l = (): void => {
        cleanup()
        resolve()
      }
      listeners.push([e, l])
      sink.once!(e, l)
    }
    const onError = (err: unknown): void => {
      cleanup()
      reject(err instanceof Error ? err : new Error(String(err)))
    }
    listeners.push(['error', onError])
    sink.once!('error', onError)
  })
}

/** Writes one chunk; the sink may keep a reference to it, so callers must not reuse the buffer. */
export async function writeChunk(sink: ByteSink, chunk: Uint8Array): Promise<void> {
  if (typeof sink === 'number') return writeFd(sink, chunk)
  const r = sink.write(chunk)
  if (isThenable(r)) {
    await r
    return
  }
  if (r === false && typeof sink.once === 'function') await waitFor(sink, ['drain', 'close'])
}

/** Ends a stream sink and waits until its data is flushed; file descriptors are left open. */
export async function endSink(sink: ByteSink): Promise<void> {
  if (typeof sink === 'number' || typeof sink.end !== 'function') return
  if (typeof sink.once === 'function' && sink.writableFinished !== true) {
    const done = waitFor(sink, ['finish', 'close'])
    sink.end()
    await done
    return
  }
  const r = sink.end()
  if (isThenable(r)) await r
}
