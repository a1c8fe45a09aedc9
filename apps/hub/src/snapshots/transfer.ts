import { createHash, randomUUID, webcrypto } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { NatsConnection } from 'nats'
import { ErrorCode as NatsErrorCode } from 'nats'
import type { PcapChunk, PcapSliceRequest } from '@tapwire/wire'
import { decodePcapChunk, encodePcapSliceRequest, subjects } from '@tapwire/wire'

/** Well under NATS' default 1 MB max_payload, so a chunk plus framing always fits. */
export const CHUNK_BYTES = 256 * 1024

/** The node has no agent listening (NATS "no responders"): offline, retrying will not help now. */
export class NodeOfflineError extends Error {
  constructor(node: string) {
    super(`node '${node}' is offline (no agent answers)`)
    this.name = 'NodeOfflineError'
  }
}

/** One chunk request to one node's agent. */
export type SliceTransport = (
  node: string,
  req: PcapSliceRequest,
  timeoutMs: number
) => Promise<PcapChunk>

/** The NATS transport: request/reply on `tapwire.agent.<node>.pcap`. */
export function natsSliceTransport(nc: NatsConnection): SliceTransport {
  return async (node, req, timeoutMs) => {
    try {
      const m = await nc.request(subjects.agentVerb(node, 'pcap'), encodePcapSliceRequest(req), {
        timeout: timeoutMs,
      })
      return decodePcapChunk(m.data)
    } catch (e) {
      if ((e as { code?: string }).code === NatsErrorCode.NoResponders)
        throw new NodeOfflineError(node)
      throw e
    }
  }
}

export interface FetchSliceOptions {
  node: string
  startMs: number
  endMs: number
  /** Destination file (created or truncated). */
  path: string
  transport: SliceTransport
  chunkBytes?: number
  /** Per chunk request. */
  timeoutMs?: number
  /** Chunk requests that may fail in a row (timeout, damaged chunk) before the transfer gives up. */
  maxChunkRetries?: number
  /** Whole-slice restarts after an end-to-end SHA-256 or size mismatch. */
  maxRestarts?: number
  /** Called after every stored chunk with the bytes so far; throw to abort (quota, cancel). */
  onProgress?: (bytes: number) => void
  /** Pause between retries (ms). */
  retryDelayMs?: number
  /** Chunk requests in flight (default 4): the agent prepares the next while the hub stores one. */
  pipeline?: number
}

export interface FetchSliceResult {
  bytes: number
  packets: number
  sha256: string
  chunks: number
  chunkRetries: number
  restarts: number
}

export class SliceTransferError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SliceTransferError'
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * A chunk request whose failure is kept as a value (so a request given up on never goes unhandled),
 * and the SHA-256 of its data, computed as soon as it arrives by WebCrypto, which runs in libuv's
 * thread pool: later chunks are checked while the main thread stores earlier ones.
 */
interface InFlight {
  offset: number
  reply: Promise<{ chunk: PcapChunk; sha: string } | Error>
}

const hex = (b: ArrayBuffer): string => Buffer.from(b).toString('hex')

/**
 * Pulls one node's slice into a file. The hub asks for chunks by offset and keeps a few requests in
 * flight (`pipeline`): the agent serves one transfer's requests in order, so while the hub checks and
 * stores a chunk the next ones are being prepared and sent, and the agent still never sends more
 * than was asked for; memory is `pipeline` chunks whatever the slice size. Replies are taken in
 * offset order. Each chunk is checked against its own SHA-256 and asked again (same offset: the agent
 * resends or regenerates) when damaged or lost, the window restarting from there; the whole file is
 * checked against the agent's size and SHA-256 at the end, and fetched again from scratch if they differ.
 */
export async function fetchSlice(o: FetchSliceOptions): Promise<FetchSliceResult> {
  const timeoutMs = o.timeoutMs ?? 15_000
  const maxChunkRetries = o.maxChunkRetries ?? 5
  const maxRestarts = o.maxRestarts ?? 2
  const retryDelay = o.retryDelayMs ?? 200
  const window = Math.max(1, o.pipeline ?? 4)
  let chunkRetries = 0
  let chunks = 0
  for (let restart = 0; ; restart++) {
    const transferId = randomUUID()
    // Offsets of requests in flight assume full chunks; a shorter one (an agent with a smaller cap)
    // re-aligns the window to its size.
    let step = o.chunkBytes ?? CHUNK_BYTES
    const request = (offset: number): InFlight => {
      const req: PcapSliceRequest = {
        transferId,
        startTs: o.startMs,
        endTs: o.endMs,
        resumeOffset: offset,
        chunkSize: step,
      }
      const reply = o
        .transport(o.node, req, timeoutMs)
        .then(async (chunk) => {
          const data = chunk.data ?? new Uint8Array(0)
          const sha = chunk.chunkSha256 ? hex(await webcrypto.subtle.digest('SHA-256', data)) : ''
          return { chunk, sha }
        })
        .catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))
      return { offset, reply }
    }
    const fh: FileHandle = await open(o.path, 'w')
    const hash: Hash = createHash('sha256')
    let offset = 0
    let failures = 0
    let final: PcapChunk | undefined
    let inflight: InFlight[] = []
    let ask = 0
    const retry = async (message: string): Promise<void> => {
      if (++failures > maxChunkRetries)
        throw new SliceTransferError(`${message} (after ${maxChunkRetries} retries at offset ${offset})`)
      chunkRetries++
      // Replies to the requests still out are dropped; asking resumes at the chunk that failed.
      inflight = []
      ask = offset
      await sleep(retryDelay)
    }
    try {
      while (final === undefined) {
        while (inflight.length < window) {
          inflight.push(request(ask))
          ask += step
        }
        const head = inflight.shift()!
        const got = await head.reply
        if (got instanceof NodeOfflineError) throw got
        if (got instanceof Error) {
          await retry(got.message)
          continue
        }
        const { chunk, sha } = got
        if (chunk.error) throw new SliceTransferError(`agent: ${chunk.error}`)
        const data = chunk.data ?? new Uint8Array(0)
        const damaged =
          Number(chunk.offset ?? 0) !== offset || (!!chunk.chunkSha256 && sha !== chunk.chunkSha256)
        if (damaged) {
          await retry(`chunk at offset ${offset} damaged`)
          continue
        }
        failures = 0
        if (data.length > 0) {
          await fh.write(data, 0, data.length, offset)
          hash.update(data)
          offset += data.length
        }
        chunks++
        o.onProgress?.(offset)
        if (chunk.last) final = chunk
        else if (data.length === 0)
          throw new SliceTransferError('agent sent an empty chunk that is not the last')
        else if (data.length !== step) {
          step = data.length
          inflight = []
          ask = offset
        }
      }
      await fh.sync()
    } finally {
      await fh.close()
    }
    const sha = hash.digest('hex')
    if (Number(final.totalSize ?? -1) === offset && final.sha256 === sha) {
      return {
        bytes: offset,
        packets: Number(final.packetCount ?? 0),
        sha256: sha,
        chunks,
        chunkRetries,
        restarts: restart,
      }
    }
    if (restart >= maxRestarts) {
      throw new SliceTransferError(
        `checksum mismatch: got ${offset} bytes sha256 ${sha}, agent says ${String(final.totalSize)} bytes sha256 ${final.sha256 ?? ''}`
      )
    }
  }
}
