import { createWriteStream } from 'node:fs'
import { stat, truncate } from 'node:fs/promises'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { humanBytes } from './format.js'
import type { HubOptions } from './hub-client.js'
import { errorFrom, hubFetch } from './hub-client.js'

export interface DownloadResult {
  bytes: number
  /** Bytes already on disk that were kept (resumed from). */
  resumedFrom: number
  complete: boolean
}

export interface DownloadOptions {
  /** Where progress goes; a bar is drawn only when it is a TTY. */
  progress?: { isTTY?: boolean; write(s: string): unknown }
  log?: (msg: string) => void
}

const sizeOf = async (file: string): Promise<number> => {
  try {
    return (await stat(file)).size
  } catch {
    return 0
  }
}

/** `bytes 100-199/1000` → { start: 100, total: 1000 }; `bytes *\/1000` → { total: 1000 }. */
export function parseContentRange(h: string | null): { start?: number; total?: number } {
  const m = h ? /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(h.trim()) : null
  if (!m) return {}
  return {
    ...(m[1] !== undefined ? { start: Number(m[1]) } : {}),
    ...(m[2] !== '*' && m[2] !== undefined ? { total: Number(m[2]) } : {}),
  }
}

/**
 * Downloads `url` into `file`, resuming a partial file with `Range: bytes=<size>-` and appending.
 * A server that ignores Range (200) or answers a different start gets a fresh download from byte
 * zero; 416 with the file's exact size means it is already complete.
 */
export async function download(
  hub: HubOptions,
  url: URL,
  file: string,
  opts: DownloadOptions = {}
): Promise<DownloadResult> {
  let have = await sizeOf(file)
  let res = await hubFetch(hub, url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} })
  if (res.status === 416 && have > 0) {
    const { total } = parseContentRange(res.headers.get('content-range'))
    await res.body?.cancel()
    if (total === have) return { bytes: have, resumedFrom: have, complete: true }
    opts.log?.(
      `${file} does not match the server's file (${have} bytes on disk); downloading again`
    )
    have = 0
    res = await hubFetch(hub, url)
  }
  if (!res.ok) throw await errorFrom(res)
  let append = false
  let total: number | undefined
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'))
    if (range.start === have) {
      append = true
      total = range.total
    } else {
      // A range we did not ask for: do not splice it in; start over.
      await res.body?.cancel()
      have = 0
      res = await hubFetch(hub, url)
      if (!res.ok) throw await errorFrom(res)
    }
  }
  if (!append) {
    if (have > 0)
      opts.log?.('the server does not support resuming (HTTP Range); downloading from the start')
    have = 0
    const len = Number(res.headers.get('content-length'))
    total = Number.isFinite(len) && len > 0 ? len : undefined
  }
  if (!res.body) throw new Error('the hub sent no body')
  const start = have
  let done = have
  let lastDraw = 0
  const tty = opts.progress?.isTTY === true ? opts.progress : undefined
  const draw = (final: boolean) => {
    if (!tty) return
    const now = Date.now()
    if (!final && now - lastDraw < 100) return
    lastDraw = now
    const pct = total ? Math.min(1, done / total) : undefined
    const width = 30
    const bar =
      pct === undefined
        ? ''
        : `[${'#'.repeat(Math.round(pct * width)).padEnd(width, '-')}] ${(pct * 100).toFixed(0).padStart(3)}% `
    tty.write(
      `\r${bar}${humanBytes(done)}${total ? ` / ${humanBytes(total)}` : ''}${final ? '\n' : ''}`
    )
  }
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length
      draw(false)
      cb(null, chunk)
    },
  })
  if (!append && (await sizeOf(file)) > 0) await truncate(file, 0)
  await pipeline(
    Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
    counter,
    createWriteStream(file, { flags: append ? 'a' : 'w' })
  )
  draw(true)
  return { bytes: done, resumedFrom: start, complete: total === undefined || done === total }
}
