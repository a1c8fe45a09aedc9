import { createHash, randomUUID } from 'node:crypto'
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
 * Pulls one node's slice into a file, chunk by chunk: the hub asks for the next offset only after
 * the previous chunk is on disk, so the agent can never flood it and memory is one chunk whatever
 * the slice size. Each chunk is checked against its own SHA-256 and asked again (same offset: the
 * agent resends or regenerates) when damaged or lost; the whole file is checked against the
 * agent's size and SHA-256 at the end, and fetched again from scratch if they differ.
 */
export async function fetchSlice(o: FetchSliceOptions): Promise<FetchSliceResult> {
  const chunkBytes = o.chunkBytes ?? CHUNK_BYTES
  const timeoutMs = o.timeoutMs ?? 15_000
  const maxChunkRetries = o.maxChunkRetries ?? 5
  const maxRestarts = o.maxRestarts ?? 2
  const retryDelay = o.retryDelayMs ?? 200
  let chunkRetries = 0
  let chunks = 0
  for (let restart = 0; ; restart++) {
    const transferId = randomUUID()
    const fh: FileHandle = await open(o.path, 'w')
    const hash: Hash = createHash('sha256')
    let offset = 0
    let failures = 0
    let final: PcapChunk | undefined
    try {
      while (final === undefined) {
        const req: PcapSliceRequest = {
          transferId,
          startTs: o.startMs,
          endTs: o.endMs,
          resumeOffset: offset,
          chunkSize: chunkBytes,
        }
        let chunk: PcapChunk
        try {
          chunk = await o.transport(o.node, req, timeoutMs)
        } catch (e) {
          if (e instanceof NodeOfflineError) throw e
          if (++failures > maxChunkRetries)
            throw new SliceTransferError(
              `${(e as Error).message} (after ${maxChunkRetries} retries at offset ${offset})`
            )
          chunkRetries++
          await sleep(retryDelay)
          continue
        }
        if (chunk.error) throw new SliceTransferError(`agent: ${chunk.error}`)
        const data = chunk.data ?? new Uint8Array(0)
        const damaged =
          Number(chunk.offset ?? 0) !== offset ||
          (chunk.chunkSha256 !== undefined &&
            chunk.chunkSha256 !== '' &&
            createHash('sha256').update(data).digest('hex') !== chunk.chunkSha256)
        if (damaged) {
          if (++failures > maxChunkRetries)
            throw new SliceTransferError(
              `chunk at offset ${offset} damaged ${failures} times in a row`
            )
          chunkRetries++
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
