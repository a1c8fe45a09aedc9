/**
 * Test helpers (not part of the public API): temp dirs, Wireshark tool runners used as the oracle,
 * and a hand builder for pcap/pcapng bytes in either byte order.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CaptureRecord } from './types.js'

export function makeTempDir(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tapwire-pcap-'))
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** Runs a Wireshark tool with TZ=UTC (text2pcap reads local time) and returns stdout. */
export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  })
}

export interface TsharkFrame {
  /** Undefined for records without a time (tshark shows pcapng custom blocks as records). */
  epoch: string | undefined
  len: number
  capLen: number
  ifId: number
  hex: string
}

interface TsharkJsonPacket {
  _source: { layers: { frame_raw: [string, ...unknown[]]; frame: Record<string, string> } }
}

/** What tshark sees in a file: per frame its epoch time (9 decimals), lengths, interface and bytes. */
export function tsharkFrames(file: string): TsharkFrame[] {
  const out = run('tshark', ['-r', file, '-T', 'json', '-x', '-j', 'frame'])
  const packets = JSON.parse(out) as TsharkJsonPacket[]
  return packets.map((p) => {
    const f = p._source.layers.frame
    return {
      epoch: f['frame.time_epoch'],
      len: Number(f['frame.len']),
      capLen: Number(f['frame.cap_len']),
      ifId: Number(f['frame.interface_id'] ?? 0),
      hex: p._source.layers.frame_raw[0],
    }
  })
}

/** tshark's `-T fields` view: "epoch\tlen" lines. */
export function tsharkEpochLens(file: string): string[] {
  return run('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len'])
    .split('\n')
    .filter((l) => l.length > 0)
}

export function capinfosCount(file: string): number {
  const m = /Number of packets:\s+(\d+)/.exec(run('capinfos', ['-c', '-M', file]))
  if (!m) throw new Error('capinfos gave no packet count')
  return Number(m[1])
}

export function epochOf(r: { tsSec: number; tsNsec: number }): string {
  return `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')}`
}

export function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** Our records in tshark's terms, for one-line comparisons. */
export function asFrames(records: CaptureRecord[]): TsharkFrame[] {
  return records.map((r) => ({
    epoch: epochOf(r),
    len: r.origLen,
    capLen: r.capLen,
    ifId: r.ifIndex,
    hex: hexOf(r.data),
  }))
}

/** Deterministic pseudo-random bytes. */
export function pseudoBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Little helper to build binary files field by field in a chosen byte order. */
export class Bytes {
  readonly #parts: number[] = []
  constructor(readonly le: boolean) {}
  u8(v: number): this {
    this.#parts.push(v & 0xff)
    return this
  }
  u16(v: number): this {
    const b = [v & 0xff, (v >>> 8) & 0xff]
    this.#parts.push(...(this.le ? b : b.reverse()))
    return this
  }
  u32(v: number): this {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]
    this.#parts.push(...(this.le ? b : b.reverse()))
    return this
  }
  u64(v: bigint): this {
    const hi = Number((BigInt.asUintN(64, v) >> 32n) & 0xffffffffn)
    const lo = Number(BigInt.asUintN(64, v) & 0xffffffffn)
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo)
  }
  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.#parts.push(x)
    return this
  }
  pad4(): this {
    while (this.#parts.length % 4 !== 0) this.#parts.push(0)
    return this
  }
  get length(): number {
    return this.#parts.length
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.#parts)
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** A pcapng block: type | total length | body (padded) | total length. */
export function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3
  const total = 12 + padded
  const b = new Bytes(le).u32(type).u32(total).raw(body).pad4().u32(total)
  return b.bytes()
}

export function option(le: boolean, code: number, value: Uint8Array | number[]): Uint8Array {
  const b = new Bytes(le).u16(code).u16(value.length).raw(value).pad4()
  return b.bytes()
}

export const endOfOpt = (le: boolean): Uint8Array => new Bytes(le).u32(0).bytes()

export function shb(le: boolean, opts: Uint8Array[] = []): Uint8Array {
  const body = new Bytes(le).u32(0x1a2b3c4d).u16(1).u16(0).u64(-1n)
  return block(
    le,
    0x0a0d0d0a,
    concat(body.bytes(), ...opts, ...(opts.length ? [endOfOpt(le)] : []))
  )
}

export function idb(
  le: boolean,
  linkType: number,
  snapLen: number,
  opts: Uint8Array[] = []
): Uint8Array {
  const body = new Bytes(le).u16(linkType).u16(0).u32(snapLen)
  return block(le, 1, concat(body.bytes(), ...opts, ...(opts.length ? [endOfOpt(le)] : [])))
}

export function epb(
  le: boolean,
  ifId: number,
  ts: bigint,
  data: Uint8Array,
  origLen = data.length
): Uint8Array {
  const body = new Bytes(le)
    .u32(ifId)
    .u32(Number(ts >> 32n))
    .u32(Number(ts & 0xffffffffn))
    .u32(data.length)
    .u32(origLen)
    .raw(data)
    .pad4()
  return block(le, 6, body.bytes())
}

export function spb(le: boolean, data: Uint8Array, origLen = data.length): Uint8Array {
  return block(le, 3, new Bytes(le).u32(origLen).raw(data).pad4().bytes())
}

export function pb(le: boolean, ifId: number, ts: bigint, data: Uint8Array): Uint8Array {
  const body = new Bytes(le)
    .u16(ifId)
    .u16(0)
    .u32(Number(ts >> 32n))
    .u32(Number(ts & 0xffffffffn))
    .u32(data.length)
    .u32(data.length)
    .raw(data)
    .pad4()
  return block(le, 2, body.bytes())
}

/** Classic pcap header in a chosen byte order and resolution. */
export function pcapHeader(
  le: boolean,
  ns: boolean,
  linkField: number,
  snapLen = 262144
): Uint8Array {
  return new Bytes(le)
    .u32(ns ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(snapLen)
    .u32(linkField)
    .bytes()
}

export function pcapRecord(
  le: boolean,
  sec: number,
  frac: number,
  data: Uint8Array,
  origLen = data.length
): Uint8Array {
  return new Bytes(le).u32(sec).u32(frac).u32(data.length).u32(origLen).raw(data).bytes()
}
