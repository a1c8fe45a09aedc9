import { KubeConfig } from '@kubernetes/client-node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { until } from '@tapwire/testing'
// The test API server lives in @tapwire/testing (libs/testing/src/k8s); imported by path until
// the package index exports it.
import { startK8sApiServer } from '@tapwire/testing'
import type { K8sApiServerHandle, K8sObject } from '@tapwire/testing'
import { KubernetesResolver } from './k8s-resolver.js'

const pod = (
  name: string,
  ns: string,
  ip: string | undefined,
  labels: Record<string, string> = {},
  node = 'worker-1'
): K8sObject => ({
  metadata: { name, namespace: ns, labels },
  spec: {
    nodeName: node,
    containers: [
      { name: 'app', image: 'example/app:1', env: [{ name: 'BIG', value: 'x'.repeat(2000) }] },
    ],
  },
  status: {
    phase: ip ? 'Running' : 'Pending',
    ...(ip ? { podIP: ip, podIPs: [{ ip }], startTime: new Date().toISOString() } : {}),
  },
})

describe('KubernetesResolver against the test API server (real @kubernetes/client-node informers)', () => {
  let server: K8sApiServerHandle
  let resolver: KubernetesResolver
  const logs: string[] = []

  beforeEach(async () => {
    server = await startK8sApiServer({ fragmentEvents: true })
    logs.length = 0
  })
  afterEach(async () => {
    await resolver?.stop()
    await server.close()
  })

  function start(pageSize = 500): KubernetesResolver {
    const kc = new KubeConfig()
    kc.loadFromOptions(server.kubeConfigOptions)
    resolver = new KubernetesResolver({
      kubeConfig: kc,
      log: (m) => logs.push(m),
      pageSize,
      backoff: { initialMs: 20, maxMs: 200 },
    })
    void resolver.start()
    return resolver
  }

  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

  it('resolves calls before and after an IP is reused by a new pod to the right pod', async () => {
    server.add('nodes', {
      metadata: { name: 'worker-1' },
      status: { addresses: [{ type: 'InternalIP', address: '192.168.0.11' }] },
    })
    server.add('pods', pod('cart-1', 'shop', '10.1.0.5', { app: 'cart' }))
    server.add('services', {
      metadata: { name: 'cart', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.30', ports: [{ port: 80 }] },
    })
    server.add('endpointslices', {
      metadata: {
        name: 'cart-x1',
        namespace: 'shop',
        labels: { 'kubernetes.io/service-name': 'cart' },
      },
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.1.0.5'],
          nodeName: 'worker-1',
          targetRef: { kind: 'Pod', name: 'cart-1', namespace: 'shop' },
        },
      ],
      ports: [{ port: 8080 }],
    })
    const r = start(2)
    expect(r.resolve('10.1.0.5', 8080, Date.now()).status).toBe('not_synced')
    await until('synced', () => r.ready)
    // One list and one watch per resource, no more: one watcher per cluster.
    expect(
      server.requests
        .filter((q) => q.verb === 'watch')
        .map((q) => q.resource)
        .sort()
    ).toEqual(['endpointslices', 'nodes', 'pods', 'services'])
    expect(server.requests.find((q) => q.verb === 'watch')?.query).toMatchObject({
      allowWatchBookmarks: 'true',
    })

    const t1 = Date.now()
    expect(r.resolve('10.1.0.5', 8080, t1)).toMatchObject({
      pod: 'cart-1',
      ns: 'shop',
      svc: 'cart',
      node: 'worker-1',
      labels: { app: 'cart' },
      status: '',
    })
    expect(r.resolve('10.96.0.30', 80, t1)).toMatchObject({
      pod: '',
      svc: 'cart',
      ns: 'shop',
      status: '',
    })
    expect(r.resolve('192.168.0.11', 10250, t1)).toMatchObject({ node: 'worker-1', status: '' })
    expect(r.resolve('203.0.113.9', 443, t1).status).toBe('unresolved')

    await pause(20)
    server.remove('pods', 'shop', 'cart-1')
    server.update('endpointslices', {
      metadata: {
        name: 'cart-x1',
        namespace: 'shop',
        labels: { 'kubernetes.io/service-name': 'cart' },
      },
      addressType: 'IPv4',
      endpoints: [],
      ports: [{ port: 8080 }],
    })
    await until('old pod gone', () => r.resolve('10.1.0.5', 0, Date.now()).status === 'unresolved')
    const t2 = Date.now()
    await pause(20)
    // A new pod is scheduled, first without an IP, then the same IP is assigned to it.
    server.add('pods', pod('orders-1', 'billing', undefined, { app: 'orders' }, 'worker-2'))
    await pause(20)
    server.update('pods', pod('orders-1', 'billing', '10.1.0.5', { app: 'orders' }, 'worker-2'))
    await until('new pod seen', () => r.resolve('10.1.0.5', 0, Date.now()).pod === 'orders-1')
    const t3 = Date.now()

    expect(r.resolve('10.1.0.5', 8080, t1)).toMatchObject({
      pod: 'cart-1',
      ns: 'shop',
      svc: 'cart',
    })
    expect(r.resolve('10.1.0.5', 8080, t2).status).toBe('unresolved')
    expect(r.resolve('10.1.0.5', 8080, t3)).toMatchObject({
      pod: 'orders-1',
      ns: 'billing',
      svc: '',
      node: 'worker-2',
      labels: { app: 'orders' },
    })
    // Nothing failed on the way (the large env var in the pod specs was trimmed, not cached).
    expect(r.stats().resources.pods).toMatchObject({ synced: true, errors: 0 })
  })

  it('relists after 410 Gone and converges; a dropped watch reconnects with backoff', async () => {
    server.add('pods', pod('a', 'default', '10.1.0.1'))
    server.add('pods', pod('b', 'default', '10.1.0.2'))
    const r = start()
    await until('synced', () => r.ready)
    const lists = (): number =>
      server.requests.filter((q) => q.verb === 'list' && q.resource === 'pods').length
    expect(lists()).toBe(1)

    // Ready means listed; the watch requests may still be on their way.
    await until('all watching', () => server.openWatches() === 4)
    // Cut off, changes made meanwhile, history compacted: the reconnect gets 410 and relists.
    server.pauseWatches()
    server.endWatches()
    await until(
      'reconnects held',
      () => server.requests.filter((q) => q.verb === 'watch').length >= 8
    )
    server.remove('pods', 'default', 'a')
    server.add('pods', pod('c', 'default', '10.1.0.3'))
    server.compact()
    server.resumeWatches()
    await until(
      'relisted',
      () =>
        r.resolve('10.1.0.3', 0, Date.now()).pod === 'c' &&
        r.resolve('10.1.0.1', 0, Date.now()).status === 'unresolved'
    )
    expect(lists()).toBe(2)
    expect(r.resolve('10.1.0.2', 0, Date.now()).pod).toBe('b')

    // A network failure: the library reports it, the resolver restarts the watch after a backoff.
    await until('watching', () => server.openWatches('pods') === 1)
    server.dropWatches()
    server.add('pods', pod('d', 'default', '10.1.0.4'))
    await until('reconnected', () => r.resolve('10.1.0.4', 0, Date.now()).pod === 'd')
    expect(lists()).toBe(2)
    expect(r.stats().resources.pods!.errors).toBeGreaterThanOrEqual(1)
    expect(logs.some((l) => /k8s pods: .*retrying in \d+ ms/.test(l))).toBe(true)
  })

  it('backs off on API errors and recovers', async () => {
    server.add('pods', pod('a', 'default', '10.1.0.1'))
    server.failRequests(3, 500, 'pods')
    const r = start()
    await until('synced despite errors', () => r.ready)
    expect(r.resolve('10.1.0.1', 0, Date.now()).pod).toBe('a')
    expect(r.stats().resources.pods!.errors).toBe(3)
    const delays = logs
      .filter((l) => l.startsWith('k8s pods'))
      .map((l) => Number(/in (\d+) ms/.exec(l)![1]))
    expect(delays).toHaveLength(3)
    // Exponential with equal jitter: attempt n waits between half and all of 20·2^n ms.
    delays.forEach((d, n) => {
      expect(d).toBeGreaterThanOrEqual((20 * 2 ** n) / 2)
      expect(d).toBeLessThanOrEqual(20 * 2 ** n)
    })
  })
})
