import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordLoopback, requireTool, startEchoServer, tempDir, tsharkFields, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { startHub, startLoAgent, startNatsServer, stopStack } from './stack.js'
import type { HubHandle } from './stack.js'

const run = promisify(execFile)
const RING_BYTES = 2 << 20
const PCAP_MAX = 64 << 10

/** One request on a fresh connection; resolves with the client's local port. */
function send(port: number, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: body ? 'POST' : 'GET', path, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(req.socket?.localPort ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

// include_pcap at its limits, on an agent with a small ring and a small connection-PCAP bound:
// a connection larger than the bound comes back cut (and says so); a call whose packets the ring
// evicted comes back with a clear pcap_error while its bodies and L4 counters are still there.
describe('drill-down include_pcap: bound and packets aged out of the ring', () => {
  const dir = tempDir('tapwire-e2e-dpcap-')
  const recording = join(dir.path, 'lo.pcap')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  let server: Awaited<ReturnType<typeof startEchoServer>>
  let smallPort = 0
  let bigPort = 0

  const details = async (path: string) => {
    const calls = (await hub.get(`/mcp/calls?format=full&limit=1000&kfl=${encodeURIComponent(`path == "${path}"`)}`)).body.calls as any[]
    expect(calls).toHaveLength(1)
    const res = await fetch(`${hub.url}/mcp/tools/get_api_call_details`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: calls[0].id, node_id: 'pcap-node', include_pcap: true, max_payload_size: 1024 }),
    })
    expect(res.status).toBe(200)
    return (await res.json()) as any
  }

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    server = await startEchoServer('x'.repeat(2048))
    ;({ process: agent } = await startLoAgent({
      nats,
      bpf: `tcp port ${server.port}`,
      node: 'pcap-node',
      dataDir: join(dir.path, 'agent'),
      extraArgs: ['--ring-size', String(RING_BYTES), '--details-pcap-max', String(PCAP_MAX)],
    }))
    await recordLoopback(recording, `tcp port ${server.port}`, async () => {
      smallPort = await send(server.port, '/pcap/small')
      bigPort = await send(server.port, '/pcap/big', 'b'.repeat(300_000))
    })
    await until('both calls stored', async () => (await hub.get('/mcp/calls?limit=10')).body.total >= 2)
  })

  afterAll(() => stopStack({ agent, hub, nats, servers: [server], dir }))

  it('returns a small connection whole, and cuts a large one at --details-pcap-max', async () => {
    const small = await details('/pcap/small')
    const recordedSmall = await tsharkFields(recording, `tcp.port==${smallPort}`, ['frame.number'])
    expect(small.pcap_error).toBeUndefined()
    expect(small.pcap_truncated).toBe(false)
    expect(small.pcap_packets).toBe(recordedSmall.length)

    const big = await details('/pcap/big')
    const recordedBig = await tsharkFields(recording, `tcp.port==${bigPort}`, ['frame.number'])
    const bytes = Buffer.from(big.pcap, 'base64')
    expect(big.pcap_truncated).toBe(true)
    expect(big.pcap_note).toMatch(/bounded to 65536 bytes/)
    expect(bytes.length).toBeLessThanOrEqual(PCAP_MAX)
    expect(big.pcap_packets).toBeGreaterThan(0)
    expect(big.pcap_packets).toBeLessThan(recordedBig.length)
    // What was cut is still a whole pcap file: capinfos counts exactly the packets announced.
    const file = join(dir.path, 'big.pcap')
    writeFileSync(file, bytes)
    const { stdout } = await run(requireTool('capinfos', 'wireshark-common'), ['-c', '-M', file])
    expect(stdout).toMatch(new RegExp(`Number of packets:\\s+${big.pcap_packets}\\b`))
    expect((await tsharkFields(file, `tcp.port==${bigPort}`, ['frame.number'])).length).toBe(big.pcap_packets)
  })

  it('says the packets left the ring once they were evicted, and still answers bodies and L4', async () => {
    const lastSmall = Number((await tsharkFields(recording, `tcp.port==${smallPort}`, ['frame.time_epoch'])).at(-1)![0]) * 1000
    // 12 x 300 KB through a 2 MiB ring: the first segments, with both calls, are evicted.
    for (let i = 0; i < 12; i++) await send(server.port, `/pcap/fill/${i}`, 'f'.repeat(300_000))
    await until(
      'the ring evicted the first call',
      async () => ((await hub.get('/mcp/data-boundaries')).body.nodes?.[0]?.oldest_ts ?? 0) > lastSmall + 1,
      30_000
    )
    const gone = await details('/pcap/small')
    expect(gone.pcap).toBeUndefined()
    expect(gone.pcap_error).toMatch(/have left the raw-capture ring/)
    expect(gone.resp_body).toBe('x'.repeat(1024))
    expect(gone.l4_conn.local_pkts).toBeGreaterThan(0)
  })
})
