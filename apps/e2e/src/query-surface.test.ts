import { writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, recordLoopback, sleep, tempDir, tsharkFields, until } from '@tapwire/testing'
import type { NatsServerHandle, TestProcess } from '@tapwire/testing'
import { agentProcess, startHub, startNatsServer } from './stack.js'
import type { HubHandle } from './stack.js'

const post = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as any }
}

/** One request on a fresh connection; resolves with the client's local port. */
function send(port: number, method: string, path: string, body?: string): Promise<{ status: number; srcPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, srcPort: req.socket?.localPort ?? 0 }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('query surface: drill-down, dissection control, flows, spec examples', () => {
  const dir = tempDir('tapwire-e2e-q-')
  let nats: NatsServerHandle
  let hub: HubHandle
  let agent: TestProcess
  let agentPort = 0
  let port = 0
  const pcap = join(dir.path, 'q.pcap')
  const big = JSON.stringify({ blob: 'z'.repeat(200_000) })
  let bigSrcPort = 0

  const startAgent = async () => {
    agentPort = await freePort()
    agent = agentProcess('agent', [
      '--interface', 'lo', '--bpf', `tcp port ${port}`, '--nats', nats.url, '--node', 'q-node',
      '--data-dir', join(dir.path, 'agent'), '--port', String(agentPort), '--host', '127.0.0.1',
    ])
    await agent.waitFor(/capturing on lo/)
  }
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text()
    return Number(new RegExp(`^tapwire_agent_${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  }
  const callsMatching = async (kfl: string, extra = '') =>
    (await hub.get(`/mcp/calls?kfl=${encodeURIComponent(kfl)}${extra || "&limit=1000"}`)).body

  beforeAll(async () => {
    nats = await startNatsServer()
    hub = await startHub(nats)
    const server = createServer((req, res) => {
      let n = 0
      req.on('data', (d: Buffer) => (n += d.length))
      req.on('end', () => {
        const path = req.url ?? '/'
        const status = path.includes('fail') ? 500 : 200
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ received: n, path }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    await startAgent()
    await recordLoopback(pcap, `tcp port ${port}`, async () => {
      bigSrcPort = (await send(port, 'POST', '/api/orders/upload', big)).srcPort
      for (let i = 0; i < 20; i++) await send(port, i % 2 ? 'GET' : 'POST', i % 5 === 0 ? `/api/orders/${i}/fail` : `/api/orders/${i}`, i % 2 ? undefined : '{"qty":1}')
      for (let i = 0; i < 5; i++) await send(port, 'GET', `/api/v1/users/${i}`)
    })
    await until('26 calls', async () => (await hub.get('/mcp/calls?limit=1000')).body.total >= 26)
  })

  afterAll(async () => {
    await agent?.stop()
    await hub?.process.stop()
    await nats?.dispose()
    dir.dispose()
  })

  it('answers the spec example requests', async () => {
    const errors = await callsMatching('http and response.status == 500')
    expect(errors.total).toBe(4)
    expect(errors.calls.every((c: any) => c.status === 500)).toBe(true)
    const orders = await callsMatching('request.path contains "/api/orders"', '&limit=50')
    expect(orders.total).toBe(21)
    const users = await callsMatching('http && method == "GET" && path.startsWith("/api/v1/")')
    expect(users.total).toBe(5)
    const all = (await hub.get('/mcp/calls?limit=1000')).body.calls as any[]
    const ts = all.map((c) => c.ts).sort((a, b) => a - b)
    const window = await hub.get(`/mcp/calls?start=${ts[5]}&end=${ts[14]}&limit=1000`)
    expect(window.body.total).toBe(ts.filter((t) => t >= ts[5]! && t <= ts[14]!).length)
  })

  it('drills down to the full 200 KB body, cut at the limit when asked', async () => {
    const full = (await hub.get('/mcp/calls?format=full&limit=1000')).body.calls as any[]
    const upload = full.find((c) => c.path === '/api/orders/upload')
    expect(upload.node_id).toBe('q-node')
    expect(upload.req_size).toBe(big.length)
    const cut = await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: upload.id, node_id: upload.node_id })
    expect(cut.status).toBe(200)
    expect(cut.body.req_body).toBe(big.slice(0, 65536))
    expect(cut.body.truncated).toBe(true)
    expect(cut.body.entry.id).toBe(upload.id)
    const whole = await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: upload.id, node_id: 'q-node', max_payload_size: 300_000, include_l4: false })
    expect(whole.body.req_body).toBe(big)
    expect(whole.body.resp_body).toBe(JSON.stringify({ received: big.length, path: '/api/orders/upload' }))
    expect(whole.body.truncated).toBe(false)
    expect(whole.body.l4_conn).toBeUndefined()
    // The spec's other id form: /<flow>/<index> with node_id.
    const short = `/${upload.id.split('/').slice(1).join('/')}`
    expect((await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: short, node_id: 'q-node', include_payload: false })).status).toBe(200)
  })

  it('reports L4 connection counters that agree with tshark', async () => {
    const full = (await hub.get('/mcp/calls?format=full&limit=1000')).body.calls as any[]
    const upload = full.find((c) => c.path === '/api/orders/upload')
    const d = await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: upload.id, node_id: 'q-node', include_payload: false })
    const dirStats = async (src: number, dst: number) => {
      const rows = await tsharkFields(pcap, `tcp.srcport==${src} && tcp.dstport==${dst}`, ['frame.len'])
      return { pkts: rows.length, bytes: rows.reduce((n, r) => n + Number(r[0]), 0) }
    }
    const up = await dirStats(bigSrcPort, port)
    const downStats = await dirStats(port, bigSrcPort)
    expect(d.body.l4_conn).toMatchObject({ local_pkts: up.pkts, local_bytes: up.bytes, remote_pkts: downStats.pkts, remote_bytes: downStats.bytes })
    expect(d.body.l4_conn.conn_id).toBe(upload.conn_id)
    // The flow aggregates every connection from this client IP to the server port.
    expect(d.body.l4_flow.flow_id).toBe(upload.flow_id)
    expect(d.body.l4_flow.local_pkts).toBeGreaterThanOrEqual(up.pkts)
    expect(d.body.l4_flow.local_pps).toBeGreaterThan(0)
  })

  it('returns the connection PCAP from the agent ring: tshark reads the same packets as in its own recording', async () => {
    const full = (await hub.get('/mcp/calls?format=full&limit=1000')).body.calls as any[]
    const upload = full.find((c) => c.path === '/api/orders/upload')
    const d = await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: upload.id, node_id: 'q-node', include_payload: false, include_pcap: true })
    expect(d.status).toBe(200)
    expect(d.body.pcap_error).toBeUndefined()
    expect(d.body.pcap_truncated).toBe(false)
    const file = join(dir.path, 'conn.pcap')
    writeFileSync(file, Buffer.from(d.body.pcap, 'base64'))
    // The independent tcpdump recording's packets of this connection (its client port is unique).
    const recorded = await tsharkFields(pcap, `tcp.port==${bigSrcPort}`, ['frame.len'])
    const ours = await tsharkFields(file, 'tcp', ['tcp.srcport', 'tcp.dstport', 'frame.len'])
    expect(ours.length).toBe(recorded.length)
    expect(d.body.pcap_packets).toBe(recorded.length)
    expect(d.body.l4_conn.local_pkts + d.body.l4_conn.remote_pkts).toBe(recorded.length)
    expect(ours.every(([a, b]) => [Number(a), Number(b)].sort().join() === [bigSrcPort, port].sort().join())).toBe(true)
    expect(ours.map((r) => r[2])).toEqual(recorded.map((r) => r[0]))
    // tshark reassembles the 200 KB request out of it.
    expect(await tsharkFields(file, 'http.request', ['http.request.method', 'http.request.uri'])).toEqual([['POST', '/api/orders/upload']])
  })

  it('answers bad drill-downs with 400/404', async () => {
    expect((await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: 'q-node/999999/0', node_id: 'q-node' })).body.error.code).toBe('ENTRY_NOT_FOUND')
    expect((await post(`${hub.url}/mcp/tools/get_api_call_details`, { node_id: 'q-node' })).body.error.code).toBe('MISSING_PARAMETER')
    expect((await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: 'x', node_id: 'q-node' })).status).toBe(400)
    expect((await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: 'a/1/2', node_id: 'b' })).status).toBe(400)
  })

  it('lists L4 flows and a summary from the agents', async () => {
    await until('heartbeat', async () => (await hub.get('/mcp/flows')).body.flows?.length > 0)
    const flows = await hub.get(`/mcp/flows?l4proto=tcp&format=full&limit=10`)
    const f = flows.body.flows.find((x: any) => x.server.port === port)
    expect(f).toBeDefined()
    expect(f.connections).toBeGreaterThanOrEqual(26)
    expect(f.client_stats.tx_pkts).toBe(f.server_stats.rx_pkts)
    expect(f.client_stats.tcp_handshake_p50_us).toBeGreaterThan(0)
    expect((await hub.get('/mcp/flows?l4proto=udp')).body.total).toBe(0)
    const summary = (await hub.get('/mcp/flows/summary')).body
    expect(summary.tcp_flows).toBeGreaterThanOrEqual(1)
    expect(summary.total_pkts).toBeGreaterThanOrEqual(f.totals.pkts)
    expect((await hub.get('/mcp/flows?aggregate=node')).body.groups[0].key).toBe('q-node')
  })

  it('stops L7 entries while dissection is off, keeps capturing, keeps the state across a hub restart', async () => {
    expect((await hub.get('/mcp/dissection')).body).toEqual({ enabled: true })
    expect((await post(`${hub.url}/mcp/dissection/disable`, {})).body).toEqual({ success: true, enabled: false })
    await agent.waitFor(/L7 dissection disabled/)
    const before = (await hub.get('/mcp/calls?limit=1')).body.total
    const packetsBefore = await metric('packets_seen_total')
    for (let i = 0; i < 10; i++) await send(port, 'GET', `/while-off/${i}`)
    await until('packets captured while off', async () => (await metric('packets_seen_total')) >= packetsBefore + 60)
    await sleep(1500)
    expect((await hub.get('/mcp/calls?limit=1')).body.total).toBe(before)
    // The switch lives in JetStream KV: a restarted hub still reports it.
    await hub.process.stop()
    hub = await startHub(nats)
    expect((await hub.get('/mcp/dissection')).body).toEqual({ enabled: false })
    await post(`${hub.url}/mcp/dissection/enable`, {})
    await agent.waitFor(/L7 dissection enabled/)
    for (let i = 0; i < 3; i++) await send(port, 'GET', `/after-on/${i}`)
    const on = await until('entries after re-enabling', async () => {
      const r = await callsMatching('path.startsWith("/after-on/")')
      return r.total === 3 ? r : undefined
    })
    expect(on.total).toBe(3)
    expect((await callsMatching('path.startsWith("/while-off/")')).total).toBe(0)
  })

  it('reports an offline node as 503 NODE_UNAVAILABLE', async () => {
    const any = (await hub.get('/mcp/calls?format=full&limit=1')).body.calls[0]
    await agent.stop()
    const r = await post(`${hub.url}/mcp/tools/get_api_call_details`, { id: any.id, node_id: 'q-node' })
    expect(r.status).toBe(503)
    expect(r.body.error.code).toBe('NODE_UNAVAILABLE')
  })
})
