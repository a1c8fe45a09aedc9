// Test helpers: synthetic Ethernet/IPv4/TCP packets and per-node pcap files.
import { createWriteStream } from 'node:fs'
import { PcapWriter } from '@tapwire/pcap'

/** An Ethernet + IPv4 + TCP packet (checksums zero: tcpdump and the filters do not check them). */
export function tcpPacket(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  payload: number
): Uint8Array {
  const b = new Uint8Array(14 + 20 + 20 + payload)
  const v = new DataView(b.buffer)
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0)
  v.setUint16(12, 0x0800)
  b[14] = 0x45
  v.setUint16(16, 20 + 20 + payload)
  b[22] = 64
  b[23] = 6
  b.set(src.split('.').map(Number), 26)
  b.set(dst.split('.').map(Number), 30)
  v.setUint16(34, sport)
  v.setUint16(36, dport)
  b[46] = 0x50
  b[47] = 0x18
  for (let i = 0; i < payload; i++) b[54 + i] = (i * 7 + sport) & 0xff
  return b
}

export interface SynthPacket {
  tsSec: number
  tsNsec: number
  data: Uint8Array
}

/** Writes a node file as the ring's writeSlice does: classic pcap, ns, Ethernet. */
export async function writeNodePcap(path: string, packets: Iterable<SynthPacket>): Promise<number> {
  const out = createWriteStream(path)
  const w = new PcapWriter(out, { linkType: 1, resolution: 'ns', snapLen: 262144 })
  let n = 0
  for (const p of packets) {
    await w.write(p)
    n++
  }
  await w.close()
  return n
}
