import { closeSync, openSync, writeSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { humanBytes } from './format.js'
import type { HubOptions } from './hub-client.js'
import { authHeaders, errorFrom, unreachable } from './hub-client.js'
import type { HubError } from './hub-client.js'
import { HttpGetError, httpGet } from './http-get.js'
import type { GetResponse } from './http-get.js'

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

/** One GET to the hub; a transport failure is the hub being unreachable. */
async function hubGet(
  hub: HubOptions,
  url: URL,
  headers: Record<string, string> = {}
): Promise<GetResponse> {
  try {
    return await httpGet(url, { ...authHeaders(hub), ...headers })
  } catch (e) {
    throw unreachable(url, (e as { code?: string }).code ?? (e as Error).message)
  }
}

/** A non-2xx answer as the hub's error (code and message from its JSON body). */
async function errorOf(res: GetResponse): Promise<HubError> {
  return errorFrom(new Response(await res.text(), { status: res.status }))
}

const ok = (res: GetResponse): boolean => res.status >= 200 && res.status < 300

/** Writes all of `b` at the file's current offset (a regular file takes it in one call). */
function writeAll(fd: number, b: Uint8Array): void {
  for (let at = 0; at < b.length;) at += writeSync(fd, b, at, b.length - at)
}

/**
 * Downloads `url` into `file`, resuming a partial file with `Range: bytes=<size>-` and appending.
 * A server that ignores Range (200) or answers a different start gets a fresh download from byte
 * zero; 416 with the file's exact size means it is already complete. A connection cut before the
 * end leaves what arrived on disk and reports the download incomplete (run again to resume).
 *
 * The body goes through http-get.ts: each socket read lands in one reused buffer and is written to
 * the file before the next read, as curl does.
 */
export async function download(
  hub: HubOptions,
  url: URL,
  file: string,
  opts: DownloadOptions = {}
): Promise<DownloadResult> {
  let have = await sizeOf(file)
  let res = await hubGet(hub, url, have > 0 ? { range: `bytes=${have}-` } : {})
  if (res.status === 416 && have > 0) {
    const { total } = parseContentRange(res.headers.get('content-range'))
    res.cancel()
    if (total === have) return { bytes: have, resumedFrom: have, complete: true }
    opts.log?.(
      `${file} does not match the server's file (${have} bytes on disk); downloading again`
    )
    have = 0
    res = await hubGet(hub, url)
  }
  if (!ok(res)) throw await errorOf(res)
  let append = false
  let total: number | undefined
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get('content-range'))
    if (range.start === have) {
      append = true
      total = range.total
    } else {
      // A range we did not ask for: do not splice it in; start over.
      res.cancel()
      have = 0
      res = await hubGet(hub, url)
      if (!ok(res)) throw await errorOf(res)
    }
  }
  if (!append) {
    if (have > 0)
      opts.log?.('the server does not support resuming (HTTP Range); downloading from the start')
    have = 0
    const len = Number(res.headers.get('content-length'))
    total = Number.isFinite(len) && len > 0 ? len : undefined
  }
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
  // 'w' truncates a file we are not appending to.
  const fd = openSync(file, append ? 'a' : 'w')
  let cut = false
  try {
    await res.body((b) => {
      writeAll(fd, b)
      done += b.length
      draw(false)
    })
  } catch (e) {
    if (!(e instanceof HttpGetError && e.code === 'TRUNCATED')) throw e
    opts.log?.(`the connection ended after ${done} bytes: ${e.message}`)
    cut = true
  } finally {
    closeSync(fd)
  }
  draw(true)
  return {
    bytes: done,
    resumedFrom: start,
    complete: !cut && (total === undefined || done === total),
  }
}
