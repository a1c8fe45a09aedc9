import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { PassThrough } from 'node:stream'
import { DecodeStatus, decodePacket, newDecodedPacket } from '@tapwire/packet'
import type { CaptureRecord, MergeSource, WritableLike } from '@tapwire/pcap'
import { PcapWriter, PcapngWriter, mergeByTimeTagged, openCapture } from '@tapwire/pcap'
import type { Entry } from '@tapwire/wire'
import { ApiError, ErrorCode } from '../errors.js'
import { pcapStreamBatches } from './pcap-stream.js'
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
  inputs: { node: string; path: string; linkType: number; snapLen: number; iface: string }[]
  missing: string[]
  options: ExportOptions
}

const TCPDUMP = process.env['TAPWIRE_TCPDUMP'] ?? 'tcpdump'

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

async function readHeader(path: string): Promise<{ linkType: number; snapLen: number }> {
  const fh = await open(path, 'r')
  try {
    const b = Buffer.alloc(24)
    const { bytesRead } = await fh.read(b, 0, 24, 0)
    if (bytesRead < 24) throw new Error(`${path}: short pcap header`)
    const little = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d
    return {
      snapLen: little ? b.readUInt32LE(16) : b.readUInt32BE(16),
      linkType: (little ? b.readUInt32LE(20) : b.readUInt32BE(20)) & 0xffff,
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

/**
 * A byte sink over a PassThrough that never waits forever: once the client is gone (the stream is
 * destroyed) every write rejects, which stops the merge and the tcpdump children.
 */
function streamSink(out: PassThrough): WritableLike {
  return {
    write(chunk: Uint8Array): Promise<void> | undefined {
      if (out.destroyed) return Promise.reject(new Error('download aborted'))
      if (out.write(chunk)) return undefined
      return new Promise((resolve, reject) => {
        const done = (): void => {
          out.off('drain', done)
          out.off('close', done)
          if (out.destroyed && out.writableNeedDrain) reject(new Error('download aborted'))
          else resolve()
        }
        out.on('drain', done)
        out.on('close', done)
      })
    },
  }
}

/**
 * The merged export: one source per node file (through `tcpdump -r FILE -w - FILTER` when a BPF
 * filter is given: the real libpcap filter, without loading libpcap into the hub), time and
 * connection filters in JS, a k-way merge by timestamp (mergecap's order: a cross-node tie goes to
 * the later node), and a streaming pcap (ns) or pcapng writer. Memory is one read chunk per node and the
 * writer's buffer; the PassThrough's backpressure paces everything to the client.
 */
export function runExport(
  plan: ExportPlan,
  out: PassThrough,
  log: (m: string) => void
): Promise<{ packets: number }> {
  const { options } = plan
  const children: ChildProcess[] = []
  const lo = options.startMs
  const hi = options.endMs
  const conns = options.connections
  const keep = (
    r: CaptureRecord,
    linkType: number,
    scratch: ReturnType<typeof newDecodedPacket>
  ): boolean => {
    if (lo !== undefined || hi !== undefined) {
      const ms = r.tsSec * 1000 + r.tsNsec / 1e6
      if (lo !== undefined && ms < lo) return false
      if (hi !== undefined && ms > hi) return false
    }
    if (conns !== undefined) {
      const k = connectionKeyOfPacket(linkType, r.data, scratch)
      if (k === undefined || !conns.has(k)) return false
    }
    return true
  }
  const sources: MergeSource<CaptureRecord>[] = plan.inputs.map((input) => {
    const scratch = newDecodedPacket()
    const batches = async function* (): AsyncGenerator<CaptureRecord[]> {
      let raw: AsyncIterable<CaptureRecord[]>
      let reader: Awaited<ReturnType<typeof openCapture>> | undefined
      if (options.bpf !== undefined) {
        const child = spawn(
          TCPDUMP,
          ['-r', input.path, '-w', '-', '--time-stamp-precision=nano', '--', options.bpf],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          }
        )
        children.push(child)
        let err = ''
        child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
        const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
        raw = (async function* () {
          yield* pcapStreamBatches(child.stdout)
          const code = await exited
          if (code !== 0 && child.signalCode === null)
            throw new Error(`tcpdump exited ${String(code)}: ${err.trim()}`)
        })()
      } else {
        reader = await openCapture(input.path, { chunkSize: 1 << 20 })
        raw = reader.batches()
      }
      try {
        for await (const b of raw) {
          const kept =
            conns === undefined && lo === undefined && hi === undefined
              ? b
              : b.filter((r) => keep(r, input.linkType, scratch))
          if (kept.length > 0) yield kept
        }
      } finally {
        await reader?.close()
      }
    }
    const it = batches()
    return {
      batches: () => it,
      [Symbol.asyncIterator]: async function* () {
        for await (const b of it) yield* b
      },
    } as MergeSource<CaptureRecord>
  })
  const sink = streamSink(out)
  const snapLen = Math.max(...plan.inputs.map((i) => i.snapLen))
  const writer =
    options.format === 'pcapng'
      ? new PcapngWriter(sink, {
          interfaces: plan.inputs.map((i) => ({
            linkType: i.linkType,
            name: i.node,
            description: `${i.node}:${i.iface}`,
            snapLen,
          })),
        })
      : new PcapWriter(sink, { linkType: plan.inputs[0]!.linkType, resolution: 'ns', snapLen })
  const run = async (): Promise<{ packets: number }> => {
    let packets = 0
    // write() returns the same settled promise until a buffer flush is pending: await only changes.
    let last: Promise<void> | undefined
    try {
      // mergecap (Wireshark 4.0, merge.c is_earlier) gives a cross-file timestamp tie to the LAST
      // file; mergeByTime gives it to the first source. Feeding the sources reversed reproduces
      // mergecap's order exactly, so an export compares packet for packet with `mergecap`.
      const reversed = [...sources].reverse()
      const last0 = sources.length - 1
      for await (const { source, record } of mergeByTimeTagged(reversed)) {
        const p = writer.write(
          options.format === 'pcapng' ? { ...record, ifIndex: last0 - source } : record
        )
        if (p !== last) {
          last = p
          await p
        }
        packets++
      }
      await writer.close({ end: false })
      out.end()
      return { packets }
    } catch (e) {
      log(`export: ${(e as Error).message}`)
      out.destroy(e as Error)
      throw e
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    }
  }
  return run()
}
