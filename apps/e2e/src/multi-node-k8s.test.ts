import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createNetnsLab,
  freePort,
  requireNetns,
  sleep,
  startK8sApiServer,
  tempDir,
  TestProcess,
  until,
} from '@tapwire/testing'
import type { K8sApiServerHandle, K8sObject, NetnsLab } from '@tapwire/testing'
import { AGENT_MAIN, startHub } from './stack.js'
import type { HubHandle } from './stack.js'

// Three "nodes" as network namespaces on a private bridge, one agent each, NATS and the hub in the
// root namespace, and a test Kubernetes API server (loopback) describing the namespaces as pods of
// two services: web-1 (frontend/web) on node-a, api-1 and api-2 (backend/api) on node-b and node-c.
// One namespace = one node = one pod IP. The hub resolves every call's ends through its
// Kubernetes watcher (--kubeconfig), as it would in a cluster.

const PORT = 8080

/** An HTTP server on 8080 inside a namespace. */
const SERVER_JS = `
const http = require('node:http')
http.createServer((req, res) => {
  req.resume()
  req.on('end', () => res.end('ok ' + req.url))
}).listen(${PORT}, '0.0.0.0')
console.log('listening')
`

/** Bounded traffic from one namespace: `count` GETs to each target, paths `/<tag>/<i>`. */
const CLIENT_JS = `
const http = require('node:http')
const [targets, count] = [process.argv[1].split(','), Number(process.argv[2])]
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
function one(t, i) {
  return new Promise((resolve, reject) => {
    const [host, port, tag] = t.split(':')
    const req = http.request({ host, port: Number(port), path: '/' + tag + '/' + i, agent }, (res) => { res.resume(); res.on('end', resolve) })
    req.on('error', reject)
    req.end()
  })
}
;(async () => {
  for (let i = 0; i < count; i++) for (const t of targets) await one(t, i)
  agent.destroy()
})().catch((e) => { console.error(e); process.exit(1) })
`

interface Workload {
  pod: string
  ns: string
  svc: string
  node: string
}

interface EndpointJson extends Partial<Workload> {
  ip: string
  port: number
}

interface Call {
  id: string
  ts: number
  src: EndpointJson
  dst: EndpointJson
  method: string
  path: string
  status: number
  node_id: string
}

const NODES = ['node-a', 'node-b', 'node-c'] as const
/** Workload per lab node index. */
const WORKLOADS: Workload[] = [
  { pod: 'web-1', ns: 'frontend', svc: 'web', node: 'node-a' },
  { pod: 'api-1', ns: 'backend', svc: 'api', node: 'node-b' },
  { pod: 'api-2', ns: 'backend', svc: 'api', node: 'node-c' },
]
/** from node index → [to node index, path tag, requests]. */
const FLOWS: [number, [number, string, number][]][] = [
  [
    0,
    [
      [1, 'web-api1', 10],
      [2, 'web-api2', 10],
    ],
  ],
  [1, [[2, 'api1-api2', 5]]],
  [2, [[0, 'api2-web', 5]]],
]
const REQUESTS = FLOWS.flatMap(([, ts]) => ts).reduce((n, [, , c]) => n + c, 0)
/** Both ends' agents capture every call. */
const ENTRIES = REQUESTS * 2

const podObject = (w: Workload, ip: string): K8sObject => ({
  metadata: { name: w.pod, namespace: w.ns, labels: { app: w.svc } },
  spec: { nodeName: w.node, containers: [{ name: 'app', image: 'example/app:1' }] },
  status: {
    phase: 'Running',
    podIP: ip,
    podIPs: [{ ip }],
    startTime: new Date(Date.now() - 1000).toISOString(),
  },
})

describe('three nodes described by a Kubernetes API server', () => {
  const dir = tempDir('tapwire-e2e-mnk8s-')
  let lab: NetnsLab
  let nats: TestProcess
  let k8s: K8sApiServerHandle
  let hub: HubHandle
  const agents: TestProcess[] = []
  const servers: TestProcess[] = []
  let calls: Call[] = []

  const ipOf = (i: number): string => lab.nodes[i]!.ip
  const workloadOf = (ip: string): Workload | undefined =>
    WORKLOADS[lab.nodes.findIndex((n) => n.ip === ip)]

  beforeAll(async () => {
    requireNetns()
    lab = createNetnsLab({ nodes: 3 })
    const natsPort = await freePort()
    nats = new TestProcess('nats-server', 'nats-server', [
      '-a',
      lab.hostIp,
      '-p',
      String(natsPort),
      '-js',
      '-sd',
      join(dir.path, 'nats'),
    ])
    await nats.waitFor(/Server is ready/, 20_000)
    const natsUrl = `nats://${lab.hostIp}:${natsPort}`

    // The cluster, described before any traffic.
    k8s = await startK8sApiServer()
    for (const [i, name] of NODES.entries()) {
      k8s.add('nodes', {
        metadata: { name },
        status: { addresses: [{ type: 'InternalIP', address: ipOf(i) }] },
      })
    }
    for (const ns of ['frontend', 'backend']) k8s.add('namespaces', { metadata: { name: ns } })
    for (const [i, w] of WORKLOADS.entries()) k8s.add('pods', podObject(w, ipOf(i)))
    for (const [svc, ns, clusterIP] of [
      ['web', 'frontend', '10.96.0.10'],
      ['api', 'backend', '10.96.0.20'],
    ] as const) {
      k8s.add('services', {
        metadata: { name: svc, namespace: ns, labels: { app: svc } },
        spec: { clusterIP, selector: { app: svc }, ports: [{ port: 80, targetPort: PORT }] },
      })
      k8s.add('endpointslices', {
        metadata: {
          name: `${svc}-x1`,
          namespace: ns,
          labels: { 'kubernetes.io/service-name': svc },
        },
        addressType: 'IPv4',
        endpoints: WORKLOADS.flatMap((w, i) =>
          w.svc === svc
            ? [
                {
                  addresses: [ipOf(i)],
                  nodeName: w.node,
                  conditions: { ready: true },
                  targetRef: { kind: 'Pod', name: w.pod, namespace: ns },
                },
              ]
            : []
        ),
        ports: [{ port: PORT, protocol: 'TCP' }],
      })
    }
    const kubeconfig = join(dir.path, 'kubeconfig')
    k8s.writeKubeconfig(kubeconfig)

    hub = await startHub({ url: natsUrl }, [
      '--data-dir',
      join(dir.path, 'hub'),
      '--kubeconfig',
      kubeconfig,
    ])
    await until(
      'hub resolver sees the cluster',
      async () => (await hub.get('/mcp/resolve/workloads')).body.total === 5,
      20_000
    )

    for (const [i, n] of lab.nodes.entries()) {
      const s = lab.spawn(n.ns, `server-${NODES[i]}`, process.execPath, ['-e', SERVER_JS])
      servers.push(s)
      await s.waitFor(/listening/)
      agents.push(
        lab.spawn(n.ns, `agent-${NODES[i]}`, process.execPath, [
          AGENT_MAIN,
          '--interface',
          n.iface,
          '--nats',
          natsUrl,
          '--node',
          NODES[i]!,
          '--bpf',
          `tcp port ${PORT}`,
          '--data-dir',
          join(dir.path, `agent-${i}`),
          '--port',
          '0',
          // This suite counts every stored entry as a call.
          '--l4-entries=false',
        ])
      )
    }
    for (const a of agents) await a.waitFor(/capturing on/)
    await until(
      'all nodes registered',
      async () => (await hub.get('/mcp/data-boundaries')).body.nodes.length === 3,
      20_000
    )
    await sleep(300)

    for (const [from, targets] of FLOWS) {
      const p = lab.spawn(lab.nodes[from]!.ns, `client-${NODES[from]}`, process.execPath, [
        '-e',
        CLIENT_JS,
        targets.map(([to, tag]) => `${ipOf(to)}:${PORT}:${tag}`).join(','),
        // Every target of one client gets the same count (FLOWS is written so).
        String(targets[0]![2]),
      ])
      const code = await p.wait(60_000)
      if (code !== 0) throw new Error(`traffic from ${NODES[from]} failed:\n${p.output}`)
    }

    await until(
      'hub holds every call from both ends',
      async () => {
        const r = await hub.get('/mcp/calls?format=full&limit=1000')
        calls = r.body.calls
        return r.body.total >= ENTRIES
      },
      30_000,
      250
    )
    await sleep(1000)
    calls = (await hub.get('/mcp/calls?format=full&limit=1000')).body.calls
  }, 120_000)

  afterAll(async () => {
    for (const a of agents) await a.stop()
    for (const s of servers) await s.stop()
    await hub?.process.stop()
    await nats?.stop()
    await k8s?.close()
    lab?.destroy()
    dir.dispose()
  })

  it('captures every request once per end (the two nodes it crosses)', () => {
    expect(calls.length).toBe(ENTRIES)
    const seen = new Map<string, string[]>()
    for (const c of calls) seen.set(c.path, [...(seen.get(c.path) ?? []), c.node_id].sort())
    for (const [from, targets] of FLOWS) {
      for (const [to, tag, count] of targets) {
        for (let i = 0; i < count; i++) {
          expect(seen.get(`/${tag}/${i}`)).toEqual([NODES[from], NODES[to]].sort())
        }
      }
    }
  })

  it('resolves pod, ns, svc and node on both ends of every call', () => {
    for (const c of calls) {
      const src = workloadOf(c.src.ip)
      const dst = workloadOf(c.dst.ip)
      expect(src, `src ${c.src.ip}`).toBeDefined()
      expect(dst, `dst ${c.dst.ip}`).toBeDefined()
      expect(c.dst.port).toBe(PORT)
      expect(c.status).toBe(200)
      expect({ ...c.src, ip: undefined, port: undefined }).toEqual({
        ...src,
        ip: undefined,
        port: undefined,
      })
      expect({ ...c.dst, ip: undefined, port: undefined }).toEqual({
        ...dst,
        ip: undefined,
        port: undefined,
      })
    }
    // E.g. web-1 → api-1 as the issue states it.
    const one = calls.find((c) => c.path === '/web-api1/0')!
    expect(one.src).toMatchObject({ pod: 'web-1', ns: 'frontend', svc: 'web', node: 'node-a' })
    expect(one.dst).toMatchObject({ pod: 'api-1', ns: 'backend', svc: 'api', node: 'node-b' })
    const two = calls.find((c) => c.path === '/api1-api2/0')!
    expect(two.src).toMatchObject({ pod: 'api-1', ns: 'backend', svc: 'api', node: 'node-b' })
    expect(two.dst).toMatchObject({ pod: 'api-2', ns: 'backend', svc: 'api', node: 'node-c' })
  })

  it('src.ns == "frontend" and dst.ns == "backend" selects exactly the cross-namespace calls', async () => {
    const want = calls
      .filter((c) => c.src.ns === 'frontend' && c.dst.ns === 'backend')
      .map((c) => c.id)
      .sort()
    // web-1 → api-1 and web-1 → api-2, from both ends; not api-1 → api-2 nor api-2 → web-1.
    expect(want.length).toBe(2 * (10 + 10))
    const kfl = encodeURIComponent('src.ns == "frontend" and dst.ns == "backend"')
    const r = await hub.get(`/mcp/calls?kfl=${kfl}&limit=1000`)
    expect(r.status).toBe(200)
    expect(r.body.total).toBe(want.length)
    expect(r.body.calls.map((c: Call) => c.id).sort()).toEqual(want)
    for (const c of r.body.calls as Call[]) expect(c.path).toMatch(/^\/web-api[12]\//)
    // The other direction across namespaces is its own set.
    const back = encodeURIComponent('src.ns == "backend" and dst.ns == "frontend"')
    const b = await hub.get(`/mcp/calls?kfl=${back}&limit=1000`)
    expect(b.body.total).toBe(2 * 5)
    for (const c of b.body.calls as Call[]) expect(c.path).toMatch(/^\/api2-web\//)
  })

  it('lists api-1 with its IP from /mcp/resolve/workloads', async () => {
    const r = await hub.get('/mcp/resolve/workloads?namespace=backend&name=api-1')
    expect(r.status).toBe(200)
    expect(r.body.total).toBe(1)
    expect(r.body.workloads).toEqual([
      expect.objectContaining({
        name: 'api-1',
        namespace: 'backend',
        kind: 'pod',
        labels: { app: 'api' },
        ips: [expect.objectContaining({ ip: ipOf(1) })],
      }),
    ])
  })

  it('a snapshot keeps the workload table of its window: the pod is gone, its calls still resolve', async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(hub.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, body: (await res.json()) as any }
    }
    const created = await post('/mcp/snapshots', { name: 'k8s-window', duration: '5m' })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    await until('snapshot done', async () => ['completed', 'partial'].includes((await hub.get('/mcp/snapshots/k8s-window')).body.status), 60_000, 300)
    // api-1 is deleted after the window: the live table no longer shows it...
    const during = Math.round(calls.find((c) => c.dst.pod === 'api-1')!.ts)
    k8s.remove('pods', 'backend', 'api-1')
    await until('api-1 gone from the live table', async () => (await hub.get('/mcp/resolve/workloads?namespace=backend&name=api-1')).body.total === 0)
    // ...but the snapshot's table does, as of a time in its window.
    const fromSnap = await hub.get(`/mcp/resolve/workloads?snapshot_id=k8s-window&namespace=backend&name=api-1&timestamp=${during}`)
    expect(fromSnap.status).toBe(200)
    expect(fromSnap.body.workloads.map((w: any) => w.name)).toEqual(['api-1'])
    expect((await hub.get('/mcp/resolve/workloads?snapshot_id=no-such-snapshot')).status).toBe(404)
    // Delayed dissection of the snapshot names the deleted pod on both ends of its calls.
    const started = await post('/mcp/dissections', { snapshot: 'k8s-window', name: 'full' })
    expect(started.status, JSON.stringify(started.body)).toBeLessThan(300)
    await until('dissection done', async () => (await hub.get('/mcp/dissections/k8s-window/full')).body.status === 'completed', 120_000, 500)
    // L7 calls: the delayed dissection also makes L4 entries (as an agent does by default), which
    // these agents were started without.
    const kfl = encodeURIComponent('http && dst.pod == "api-1"')
    const fromDb = await hub.get(`/mcp/calls?db=k8s-window/full&kfl=${kfl}&format=full&limit=1000`)
    const live = calls.filter((c) => c.dst.pod === 'api-1')
    expect(fromDb.body.total).toBe(live.length)
    for (const c of fromDb.body.calls) expect(c.dst).toMatchObject({ pod: 'api-1', ns: 'backend', svc: 'api', node: 'node-b' })
  })
})
