// Test support (not used at run time): hand-made IPv4 TCP/UDP packets (RFC 791, RFC 9293,
// RFC 768) fed to an Analyzer, with what was put on the wire counted per direction so a test can
// compare the L4 entries against an independent tally.
import { LinkType, TcpFlag } from '@tapwire/packet'
import type { Analyzer } from '../analyzer.js'

export interface Tally {
  pkts: [number, number]
  bytes: [number, number]
}

const enc = new TextEncoder()

function ipv4(proto: number, src: string, dst: string, l4: Uint8Array): Uint8Array {
  const b = new Uint8Array(20 + l4.length)
  b[0] = 0x45
  b[2] = b.length >> 8
  b[3] = b.length & 0xff
  b[8] = 64
  b[9] = proto
  b.set(src.split('.').map(Number), 12)
  b.set(dst.split('.').map(Number), 16)
  b.set(l4, 20)
  return b
}

const put16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = (v >>> 8) & 0xff
  b[o + 1] = v & 0xff
}
const put32 = (b: Uint8Array, o: number, v: number): void => {
  put16(b, o, v >>> 16)
  put16(b, o + 2, v & 0xffff)
}

function feed(a: Analyzer, atMs: number, pkt: Uint8Array): void {
  const sec = Math.floor(atMs / 1000)
  a.processPacket(LinkType.RAW, {
    tsSec: sec,
    tsNsec: Math.round((atMs - sec * 1000) * 1e6),
    capLen: pkt.length,
    origLen: pkt.length,
    ifIndex: 0,
    data: pkt,
  })
}

/** One TCP connection; direction 0 is client → server. Sequence numbers are tracked for it. */
export class TcpConn {
  readonly tally: Tally = { pkts: [0, 0], bytes: [0, 0] }
  readonly #seq: [number, number] = [1000, 5000]

  constructor(
    readonly a: Analyzer,
    readonly client: [string, number],
    readonly server: [string, number]
  ) {}

  packet(atMs: number, dir: 0 | 1, flags: number, payload: Uint8Array = new Uint8Array(0)): void {
    const [from, to] = dir === 0 ? [this.client, this.server] : [this.server, this.client]
    const t = new Uint8Array(20 + payload.length)
    put16(t, 0, from[1])
    put16(t, 2, to[1])
    put32(t, 4, this.#seq[dir])
    put32(t, 8, flags & TcpFlag.ACK ? this.#seq[1 - dir]! : 0)
    t[12] = 0x50
    t[13] = flags
    put16(t, 14, 65535)
    t.set(payload, 20)
    const pkt = ipv4(6, from[0], to[0], t)
    // SYN and FIN take one sequence number each (RFC 9293 §3.4).
    this.#seq[dir] = (this.#seq[dir] + payload.length + (flags & (TcpFlag.SYN | TcpFlag.FIN) ? 1 : 0)) >>> 0
    this.tally.pkts[dir]++
    this.tally.bytes[dir] += pkt.length
    feed(this.a, atMs, pkt)
  }

  handshake(atMs: number): void {
    this.packet(atMs, 0, TcpFlag.SYN)
    this.packet(atMs + 0.1, 1, TcpFlag.SYN | TcpFlag.ACK)
    this.packet(atMs + 0.2, 0, TcpFlag.ACK)
  }

  /** `text` from one side, acknowledged by the other 0.1 ms later. */
  send(atMs: number, dir: 0 | 1, text: string): void {
    this.packet(atMs, dir, TcpFlag.PSH | TcpFlag.ACK, enc.encode(text))
    this.packet(atMs + 0.1, (1 - dir) as 0 | 1, TcpFlag.ACK)
  }

  /** The client closes, the server closes, the client acknowledges (four packets). */
  close(atMs: number): void {
    this.packet(atMs, 0, TcpFlag.FIN | TcpFlag.ACK)
    this.packet(atMs + 0.1, 1, TcpFlag.ACK)
    this.packet(atMs + 0.2, 1, TcpFlag.FIN | TcpFlag.ACK)
    this.packet(atMs + 0.3, 0, TcpFlag.ACK)
  }
}

/** One UDP flow between two ports. */
export class UdpFlow {
  readonly tally: Tally = { pkts: [0, 0], bytes: [0, 0] }

  constructor(
    readonly a: Analyzer,
    readonly client: [string, number],
    readonly server: [string, number]
  ) {}

  send(atMs: number, dir: 0 | 1, payload: Uint8Array): void {
    const [from, to] = dir === 0 ? [this.client, this.server] : [this.server, this.client]
    const u = new Uint8Array(8 + payload.length)
    put16(u, 0, from[1])
    put16(u, 2, to[1])
    put16(u, 4, u.length)
    u.set(payload, 8)
    const pkt = ipv4(17, from[0], to[0], u)
    this.tally.pkts[dir]++
    this.tally.bytes[dir] += pkt.length
    feed(this.a, atMs, pkt)
  }
}
