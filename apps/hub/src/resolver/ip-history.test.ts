import { describe, expect, it } from 'vitest'
import { IpHistory } from './ip-history.js'
import type { RecordSpec } from './ip-history.js'
import { specsOf, slim } from './k8s-objects.js'

const spec = (over: Partial<RecordSpec>): RecordSpec => ({
  ip: '10.1.0.5',
  kind: 'pod',
  name: 'p',
  namespace: 'default',
  node: 'n1',
  labels: {},
  ports: [],
  uid: '',
  target: '',
  ...over,
})

function clock(start = 1_000_000): { now: () => number; set: (t: number) => void } {
  let t = start
  return { now: () => t, set: (x) => (t = x) }
}

describe('IpHistory', () => {
  it('resolves a reused IP to the pod that held it at the time', () => {
    const c = clock(1000)
    const h = new IpHistory({ now: c.now })
    h.set('pods/shop/old', [
      spec({ name: 'old', namespace: 'shop', uid: 'u1', labels: { app: 'cart' } }),
    ])
    c.set(2000)
    h.remove('pods/shop/old')
    c.set(3000)
    h.set('pods/shop/new', [spec({ name: 'new', namespace: 'shop', uid: 'u2', node: 'n2' })])

    expect(h.resolve('10.1.0.5', 80, 1500)).toMatchObject({
      pod: 'old',
      ns: 'shop',
      node: 'n1',
      labels: { app: 'cart' },
      status: '',
    })
    expect(h.resolve('10.1.0.5', 80, 2500)).toMatchObject({ pod: '', status: 'unresolved' })
    expect(h.resolve('10.1.0.5', 80, 3500)).toMatchObject({ pod: 'new', node: 'n2', status: '' })
    expect(h.resolve('10.1.0.5', 80, 999)).toMatchObject({ status: 'unresolved' })
    expect(h.resolve('192.0.2.1', 80, 1500).status).toBe('unresolved')
  })

  it('starts a record at the object start hint, but never before the previous holder let go', () => {
    const c = clock(10_000)
    const h = new IpHistory({ now: c.now })
    h.set('pods/a', [spec({ name: 'a' })], 5_000)
    expect(h.resolve('10.1.0.5', 0, 6_000).pod).toBe('a')
    c.set(20_000)
    h.remove('pods/a')
    c.set(21_000)
    // Second-precision creationTimestamp says 19.5 s; the old pod held the IP until 20 s.
    h.set('pods/b', [spec({ name: 'b' })], 19_500)
    expect(h.resolve('10.1.0.5', 0, 19_800).pod).toBe('a')
    expect(h.resolve('10.1.0.5', 0, 20_100).pod).toBe('b')
  })

  it('resolves services by ClusterIP:port and pod IPs to their services via EndpointSlices', () => {
    const h = new IpHistory({ now: () => 1000 })
    h.set('services/shop/web', [
      spec({
        ip: '10.96.0.20',
        kind: 'service',
        name: 'web',
        namespace: 'shop',
        node: '',
        ports: [80, 443],
        labels: { tier: 'fe' },
      }),
    ])
    h.set('services/shop/admin', [
      spec({
        ip: '10.96.0.20',
        kind: 'service',
        name: 'admin',
        namespace: 'shop',
        node: '',
        ports: [8080],
      }),
    ])
    h.set('pods/shop/web-1', [spec({ ip: '10.1.0.7', name: 'web-1', namespace: 'shop' })])
    h.set('endpointslices/shop/web-abc', [
      spec({ ip: '10.1.0.7', kind: 'endpoint', name: 'web', namespace: 'shop', ports: [8080] }),
    ])
    h.set('endpointslices/shop/metrics-x', [
      spec({ ip: '10.1.0.7', kind: 'endpoint', name: 'metrics', namespace: 'shop', ports: [9090] }),
    ])

    expect(h.resolve('10.96.0.20', 443, 1000)).toMatchObject({
      pod: '',
      svc: 'web',
      ns: 'shop',
      labels: { tier: 'fe' },
      status: '',
    })
    expect(h.resolve('10.96.0.20', 8080, 1000)).toMatchObject({ svc: 'admin' })
    expect(h.resolve('10.1.0.7', 9090, 1000)).toMatchObject({
      pod: 'web-1',
      svc: 'metrics',
      ns: 'shop',
    })
    expect(h.resolve('10.1.0.7', 8080, 1000)).toMatchObject({ pod: 'web-1', svc: 'web' })
    // An endpoint the pod watch has not shown yet still names the service (and its pod).
    h.set('endpointslices/shop/late', [
      spec({ ip: '10.1.0.9', kind: 'endpoint', name: 'web', namespace: 'shop', target: 'web-2' }),
    ])
    expect(h.resolve('10.1.0.9', 8080, 1000)).toMatchObject({
      pod: 'web-2',
      svc: 'web',
      ns: 'shop',
      status: '',
    })
  })

  it('maps node IPs to node names and skips host-network and finished pods', () => {
    const h = new IpHistory({ now: () => 1000 })
    const node = slim('nodes', {
      metadata: { name: 'worker-1', labels: { zone: 'a' } },
      status: {
        addresses: [
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'Hostname', address: 'worker-1' },
        ],
      },
    })
    h.set('nodes//worker-1', specsOf('nodes', node))
    const hostNet = slim('pods', {
      metadata: { name: 'kube-proxy', namespace: 'kube-system' },
      spec: { hostNetwork: true, nodeName: 'worker-1' },
      status: { podIP: '192.168.1.10' },
    })
    const done = slim('pods', {
      metadata: { name: 'job-1', namespace: 'ci' },
      spec: {},
      status: { phase: 'Succeeded', podIP: '10.1.0.50' },
    })
    expect(specsOf('pods', hostNet)).toEqual([])
    expect(specsOf('pods', done)).toEqual([])
    expect(h.resolve('192.168.1.10', 10250, 1000)).toMatchObject({
      node: 'worker-1',
      pod: '',
      labels: { zone: 'a' },
      status: '',
    })
  })

  it('closes and reopens a record when a pod is relabelled, keeping the old labels for old calls', () => {
    const c = clock(1000)
    const h = new IpHistory({ now: c.now })
    h.set('pods/a', [spec({ name: 'a', labels: { v: '1' } })])
    c.set(2000)
    h.set('pods/a', [spec({ name: 'a', labels: { v: '2' } })])
    expect(h.resolve('10.1.0.5', 0, 1500).labels).toEqual({ v: '1' })
    expect(h.resolve('10.1.0.5', 0, 2500).labels).toEqual({ v: '2' })
    expect(h.stats).toMatchObject({ records: 2, open: 1 })
  })

  it('bounds memory with many pods churning: records capped, drops counted, horizon reported', () => {
    const c = clock(0)
    const h = new IpHistory({ now: c.now, maxRecords: 1000, retentionMs: 3600_000 })
    for (let i = 0; i < 20_000; i++) {
      c.set(i * 10)
      const ip = `10.2.${(i >> 8) & 255}.${i & 255}`
      h.set(`pods/ns/p${i}`, [spec({ ip, name: `p${i}` })])
      if (i >= 100) h.remove(`pods/ns/p${i - 100}`)
    }
    const s = h.stats
    expect(s.records).toBeLessThanOrEqual(1000)
    expect(s.open).toBe(100)
    expect(s.droppedOverCap).toBe(20_000 - s.records)
    expect(s.droppedExpired).toBe(0)
    // The newest pods still resolve; an old dropped one says its time is out of the window.
    expect(h.resolve('10.2.78.31', 0, 19_999 * 10).pod).toBe('p19999')
    expect(h.resolve('10.2.0.5', 0, 5 * 10 + 1).status).toBe('out_of_window')

    // Retention: an hour later, every closed record is gone; open ones stay.
    c.set(20_000 * 10 + 3600_001)
    h.prune()
    expect(h.stats.records).toBe(100)
    expect(h.stats.droppedExpired).toBeGreaterThan(0)
  })

  it('exports the records of a window and loads them into another table', () => {
    const c = clock(1000)
    const h = new IpHistory({ now: c.now })
    h.set('pods/a', [spec({ name: 'a' })])
    c.set(2000)
    h.remove('pods/a')
    h.set('pods/b', [spec({ ip: '10.1.0.6', name: 'b' })])
    const rows = h.exportWindow(500, 1500)
    expect(rows.map((r) => [r.name, r.to])).toEqual([['a', 2000]])
    const copy = new IpHistory({ now: () => 10_000, retentionMs: Infinity })
    copy.load(JSON.parse(JSON.stringify(h.exportWindow(0, 5000))))
    expect(copy.resolve('10.1.0.5', 0, 1500).pod).toBe('a')
    expect(copy.resolve('10.1.0.6', 0, 9000).pod).toBe('b')
  })
})
