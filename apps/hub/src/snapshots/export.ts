import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { ServerResponse } from 'node:http'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { DecodeStatus, decodePacket, newDecodedPacket } from '@tapwire/packet'
import type { ByteChunks } from '@tapwire/pcap'
import { PcapMerge, fileChunks, streamChunks } from '@tapwire/pcap'
import type { Entry } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'
import type { SnapshotManifest } from './snapshot-manager.js'

export interface ExportOptions {
  nodes?: string[] | undefined
  startMs?: number | undefined
  endMs?: number | undefined
  bpf?: string | undefined
  /** Connections (see connectionKeyOfEntry) whose packets are kept; undefined = all. */
  connections?: ReadonlySet<string> | undefined
  format: 'pcap' | 'pcapng'
}

export interface ExportPlan {
  inputs: {
    node: string
    path: string
    linkType: number
    snapLen: number
    iface: string
    /** File size when planned (for Content-Length). */
    size: number
  }[]
  missing: string[]
  options: ExportOptions
}

const TCPDUMP = process.env['TAPWIRE_TCPDUMP'] ?? 'tcpdump'
const PCAP_FILE_HEADER_SIZE = 24

/** Canonical text of an IP address, so entry strings and packet bytes compare equal. */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1)
  } catch {
    return ip.toLowerCase()
  }
}

function endpointKey(ip: string, port: number): string {
  return `${canonicalIp(ip)}|${port}`
}

/** A connection as an unordered pair of endpoints plus transport (both directions match). */
export function connectionKey(
  transport: string,
  a: string,
  aPort: number,
  b: string,
  bPort: number
): string {
  const x = endpointKey(a, aPort)
  const y = endpointKey(b, bPort)
  return x < y ? `${transport}/${x}/${y}` : `${transport}/${y}/${x}`
}

export function connectionKeyOfEntry(e: Entry): string | undefined {
  const s = e.src
  const d = e.dst
  if (!s?.ip || !d?.ip) return undefined
  return connectionKey(e.transport || 'tcp', s.ip, s.port ?? 0, d.ip, d.port ?? 0)
}

function ipText(data: Uint8Array, off: number, len: number): string {
  if (len === 4) return `${data[off]}.${data[off + 1]}.${data[off + 2]}.${data[off + 3]}`
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2)
    groups.push(((data[off + i]! << 8) | data[off + i + 1]!).toString(16))
  return canonicalIp(groups.join(':'))
}

/** The record's connection key, or undefined for non-TCP/UDP packets. */
export function connectionKeyOfPacket(
  linkType: number,
  data: Uint8Array,
  scratch = newDecodedPacket()
): string | undefined {
  const st = decodePacket(linkType, data, scratch)
  if (st !== DecodeStatus.OK) return undefined
  const t = scratch.ipProto === 6 ? 'tcp' : scratch.ipProto === 17 ? 'udp' : undefined
  if (t === undefined) return undefined
  const d = scratch.data
  return connectionKey(
    t,
    ipText(d, scratch.srcOffset, scratch.addrLen),
    scratch.srcPort,
    ipText(d, scratch.dstOffset, scratch.addrLen),
    scratch.dstPort
  )
}

async function readHeader(
  path: string
): Promise<{ linkType: number; snapLen: number; size: number }> {
  const fh = await open(path, 'r')
  try {
    const b = Buffer.alloc(24)
    const { bytesRead } = await fh.read(b, 0, 24, 0)
    if (bytesRead < 24) throw new Error(`${path}: short pcap header`)
    const little = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d
    return {
      snapLen: little ? b.readUInt32LE(16) : b.readUInt32BE(16),
      linkType: (little ? b.readUInt32LE(20) : b.readUInt32BE(20)) & 0xffff,
      size: (await fh.stat()).size,
    }
  } finally {
    await fh.close()
  }
}

/** Runs tcpdump -d (compile only) so a bad filter is a 400 before the download starts. */
export function checkBpf(filter: string, samplePath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(TCPDUMP, ['-r', samplePath, '-d', '--', filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', (e) =>
      reject(
        new ApiError(500, ErrorCode.INTERNAL, `cannot run tcpdump for bpf_filter: ${e.message}`)
      )
    )
    child.on('close', (code) => {
      if (code === 0) return resolve()
      const msg = err
        .split('\n')
        .filter((l) => l && !l.startsWith('reading from file'))
        .join('; ')
      reject(
        new ApiError(
          400,
          ErrorCode.INVALID_PARAMETER,
          `invalid bpf_filter: ${msg || `tcpdump exit ${String(code)}`}`,
          { param: 'bpf_filter', value: filter }
        )
      )
    })
  })
}

/** Validates the export against the snapshot before any byte is sent (errors are still JSON). */
export async function planExport(
  m: SnapshotManifest,
  dir: string,
  options: ExportOptions
): Promise<ExportPlan> {
  if (m.status === 'in_progress') {
    throw new ApiError(
      409,
      ErrorCode.CONFLICT,
      `snapshot '${m.name}' is still being collected; export it once completed`,
      { name: m.name, status: m.status }
    )
  }
  const names = m.nodes.map((n) => n.name)
  const wanted = options.nodes ?? names
  const unknown = wanted.filter((n) => !names.includes(n))
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      ErrorCode.INVALID_PARAMETER,
      `node(s) not in snapshot '${m.name}': ${unknown.join(', ')}`,
      { param: 'nodes', unknown, nodes: names }
    )
  }
  const inputs: ExportPlan['inputs'] = []
  const missing: string[] = []
  for (const n of m.nodes) {
    if (!wanted.includes(n.name)) continue
    if (n.status !== 'completed') {
      missing.push(n.name)
      continue
    }
    const path = join(dir, n.file)
    inputs.push({ node: n.name, path, ...(await readHeader(path)), iface: n.interface ?? '' })
  }
  if (inputs.length === 0) {
    throw new ApiError(
      409,
      ErrorCode.CONFLICT,
      `snapshot '${m.name}' holds no packets from the selected nodes`,
      { name: m.name, status: m.status, missing }
    )
  }
  if (options.format === 'pcap' && new Set(inputs.map((i) => i.linkType)).size > 1) {
    throw new ApiError(
      409,
      ErrorCode.LINK_TYPE_MISMATCH,
      'the nodes capture different link types, which one classic pcap cannot hold; use format=pcapng (one interface per node)',
      {
        link_types: Object.fromEntries(inputs.map((i) => [i.node, i.linkType])),
        hint: 'format=pcapng',
      }
    )
  }
  if (options.bpf !== undefined) await checkBpf(options.bpf, inputs[0]!.path)
  return { inputs, missing, options }
}

/** A running export: its bytes go out one of two ways, once; `done` says how it ended. */
export interface ExportRun {
  /** Bytes that will be sent, when known before the merge (Content-Length); see exportLength. */
  readonly sendLength: number | undefined
  /**
   * The capture as a web stream (in-process callers: MCP, tests); the reader pulls it, so its pace
   * is the backpressure. Every piece is fresh memory, since the reader may keep it.
   */
  stream(): ReadableStream<Uint8Array>
  /**
   * The capture written straight to a Node response (the HTTP server's path): each piece is
   * reused once the socket has taken it, and the socket's 'drain' is the backpressure.
   */
  writeTo(res: ServerResponse, headers: Record<string, string>, status?: number): Promise<void>
  /**
   * Resolves once the last byte was sent (packets merged, bytes sent); rejects when the export
   * failed or was abandoned.
   */
  done: Promise<{ packets: number; bytes: number }>
}

/** Part of an export of known length: bytes [start, end) (an HTTP range, byte-range.ts). */
export interface ExportWindow {
  start: number
  end: number
}

/** Resolves on 'drain'; rejects if the response closes first (the client went away). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      if (res.writableNeedDrain) reject(new Error('download aborted'))
      else resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/** One node file through `tcpdump -r FILE -w - FILTER`, failing if tcpdump does. */
function bpfSource(path: string, filter: string, children: ChildProcess[]): ByteChunks {
  const child = spawn(
    TCPDUMP,
    ['-r', path, '-w', '-', '--time-stamp-precision=nano', '--', filter],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  )
  children.push(child)
  let err = ''
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
  return streamChunks(
    (async function* () {
      yield* child.stdout as AsyncIterable<Uint8Array>
      const code = await exited
      if (code !== 0 && child.signalCode === null)
        throw new Error(`tcpdump exited ${String(code)}: ${err.trim()}`)
    })()
  )
}

/**
 * The export's exact size when known before the merge: classic pcap of whole node files (no
 * filter) is one 24-byte header plus every record of every file, copied as it is. Sent as
 * Content-Length: the client can show progress, and the body goes out without chunked framing
 * (each piece was a 4-buffer writev with its chunk header and trailer; without them the 1.1 GiB
 * export to curl over loopback took 5-10% less time in A/B runs).
 */
export function exportLength(plan: ExportPlan): number | undefined {
  const o = plan.options
  if (
    o.format !== 'pcap' ||
    o.startMs !== undefined ||
    o.endMs !== undefined ||
    o.bpf !== undefined ||
    o.connections !== undefined
  )
    return undefined
  return PCAP_FILE_HEADER_SIZE + plan.inputs.reduce((n, i) => n + i.size - PCAP_FILE_HEADER_SIZE, 0)
}

/**
 * The merged export: one source per node file (through `tcpdump -r FILE -w - FILTER` when a BPF
 * filter is given: the real libpcap filter, without loading libpcap into the hub), the time and
 * connection filters, and the k-way merge by timestamp of libs/pcap's PcapMerge, which copies each
 * record into large output pieces as it is (pcap) or frames it as an EPB with one interface per node
 * (pcapng). Order is mergecap's: a cross-node tie goes to the later node. Memory is two 512 KiB
 * read buffers per node plus the four 512 KiB pieces the merge reuses, whatever the snapshot size.
 *
 * The merge runs on this thread, between the socket writes; the file reads run in libuv's pool.
 * (Measured against a merge on a worker thread: on 2 cores the export is CPU-bound on both — this
 * thread's merge and socket writes on one, the pool's reads and the client's reads of a loopback
 * download on the other — and a third busy thread made it slower, not faster.)
 */
export function runExport(
  plan: ExportPlan,
  log: (m: string) => void,
  window?: ExportWindow
): ExportRun {
  const { options } = plan
  const length = exportLength(plan)
  if (
    window !== undefined &&
    (length === undefined ||
      !(0 <= window.start && window.start < window.end && window.end <= length))
  )
    throw new RangeError('an export window needs an export of known length, and must lie inside it')
  const from = window?.start ?? 0
  const to = window?.end ?? Infinity
  const children: ChildProcess[] = []
  const conns = options.connections
  const scratch = newDecodedPacket()
  const mergeOptions = {
    format: options.format,
    resolution: 'ns',
    ties: 'last',
    startMs: options.startMs,
    endMs: options.endMs,
    interfaces: plan.inputs.map((i) => ({ name: i.node, description: `${i.node}:${i.iface}` })),
    snapLen: Math.max(...plan.inputs.map((i) => i.snapLen)),
  } as const
  /** The merge; `reusedPieces` 0 when the reader keeps the pieces. */
  const start = (reusedPieces?: number): PcapMerge =>
    new PcapMerge(
      plan.inputs.map((input) =>
        options.bpf !== undefined
          ? bpfSource(input.path, options.bpf, children)
          : fileChunks(input.path)
      ),
      {
        ...mergeOptions,
        ...(reusedPieces === undefined ? {} : { reusedPieces }),
        keep:
          conns === undefined
            ? undefined
            : (data, src) => {
                const k = connectionKeyOfPacket(plan.inputs[src]!.linkType, data, scratch)
                return k !== undefined && conns.has(k)
              },
      }
    )
  let merge: PcapMerge | undefined
  let settle: {
    resolve: (r: { packets: number; bytes: number }) => void
    reject: (e: Error) => void
  }
  const done = new Promise<{ packets: number; bytes: number }>(
    (resolve, reject) => (settle = { resolve, reject })
  )
  done.catch(() => undefined)
  let finished = false
  /** Output offset of the next merged piece, and bytes handed to the client. */
  let at = 0
  let sent = 0
  const finish = async (e?: Error): Promise<void> => {
    if (finished) return
    finished = true
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    await merge?.close()
    if (e === undefined) settle.resolve({ packets: merge?.packets ?? 0, bytes: sent })
    else settle.reject(e)
  }
  /**
   * The next merged piece (to give back with release()) and the part of it to send: all of it,
   * or, with a window, the part inside it. Pieces before the window are merged and given back
   * unsent (the merge has no index to seek with); at the window's end the merge stops, unless
   * the window reaches the export's end, where the merge runs out so a file that grew is caught.
   */
  const read = async (): Promise<{ piece: Uint8Array; send: Uint8Array } | null> => {
    const m = merge!
    try {
      for (;;) {
        if (at >= to && to < length!) return null
        const piece = await m.read()
        if (piece === null) return null
        const a = at
        at += piece.length
        if (at <= from || a >= to) {
          m.release(piece)
          continue
        }
        const send =
          a >= from && at <= to
            ? piece
            : piece.subarray(Math.max(0, from - a), Math.min(piece.length, to - a))
        sent += send.length
        return { piece, send }
      }
    } catch (e) {
      log(`export: ${(e as Error).message}`)
      throw e
    }
  }
  /** A file changed or ended inside a record: the bytes sent are not what was announced. */
  const checkLength = (): void => {
    if (length === undefined) return
    if (to >= length && merge!.bytes !== length)
      throw new Error(`export produced ${merge!.bytes} bytes, ${length} announced`)
    if (window !== undefined && sent !== to - from)
      throw new Error(`export sent ${sent} bytes of the range, ${to - from} announced`)
  }
  const sendLength = window !== undefined ? window.end - window.start : length
  return {
    sendLength,
    done,
    stream: () => {
      // The reader may keep every piece: each is fresh memory.
      merge = start(0)
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            let next: { send: Uint8Array } | null
            try {
              next = await read()
              if (next === null) checkLength()
            } catch (e) {
              controller.error(e)
              return finish(e as Error)
            }
            if (next !== null) return controller.enqueue(next.send)
            controller.close()
            await finish()
          },
          cancel: () => finish(new Error('download aborted')),
        },
        // One piece is produced ahead while the reader takes the previous one.
        { highWaterMark: 1 }
      )
    },
    async writeTo(res, headers, status = 200) {
      try {
        const m = (merge = start())
        res.writeHead(
          status,
          sendLength === undefined ? headers : { ...headers, 'content-length': String(sendLength) }
        )
        const ahead = (): Promise<{ piece: Uint8Array; send: Uint8Array } | null> => {
          const p = read()
          // Awaited below; this only keeps a read abandoned by an abort from going unhandled.
          p.catch(() => undefined)
          return p
        }
        let next = ahead()
        for (let r = await next; r !== null; r = await next) {
          if (res.destroyed) throw new Error('download aborted')
          const { piece, send } = r
          const more = res.write(send, (err) => {
            if (!err) m.release(piece)
          })
          // Merge the next piece while the socket sends this one.
          next = ahead()
          if (!more) await drained(res)
        }
        // The client must not take a short body for the whole export or range: the connection
        // is cut instead of ended.
        checkLength()
        await new Promise<void>((resolve) => res.end(resolve))
        await finish()
      } catch (e) {
        res.destroy()
        await finish(e as Error)
      }
    },
  }
}
