import { CoreV1Api, KubeConfig, ListWatch, Watch } from '@kubernetes/client-node'
import type { KubernetesListObject, V1Pod } from '@kubernetes/client-node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { until } from '../processes.js'
import { startK8sApiServer } from './api-server.js'
import type { K8sApiServerHandle, K8sObject } from './api-server.js'

const pod = (
  name: string,
  ip: string,
  ns = 'default',
  labels: Record<string, string> = {}
): K8sObject => ({
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'busybox' }] },
  status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
})

/** The library's own Watch, asked for bookmarks the way client-go's reflector asks. */
class BookmarkWatch extends Watch {
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void
  ): Promise<AbortController> {
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true }, callback, done)
  }
}

describe('test Kubernetes API server against @kubernetes/client-node', () => {
  let server: K8sApiServerHandle
  let kc: KubeConfig
  let informer: ListWatch<V1Pod> | undefined

  beforeEach(async () => {
    server = await startK8sApiServer({ fragmentEvents: true })
    kc = new KubeConfig()
    kc.loadFromOptions(server.kubeConfigOptions)
  })
  afterEach(async () => {
    await informer?.stop()
    informer = undefined
    await server.close()
  })

  const podNames = (): string[] =>
    (informer?.list() ?? []).map((p) => p.metadata?.name ?? '').sort()

  function startInformer(): { errors: unknown[]; lists: () => number } {
    const api = kc.makeApiClient(CoreV1Api)
    const listFn = (): Promise<KubernetesListObject<V1Pod>> => api.listPodForAllNamespaces()
    informer = new ListWatch<V1Pod>('/api/v1/pods', new BookmarkWatch(kc), listFn, false)
    const errors: unknown[] = []
    informer.on('error', (e) => errors.push(e))
    return {
      errors,
      lists: () => server.requests.filter((r) => r.verb === 'list' && r.resource === 'pods').length,
    }
  }

  it('lists with resourceVersion and pages with limit/continue from one snapshot', async () => {
    for (let i = 0; i < 5; i++) server.add('pods', pod(`p${i}`, `10.1.0.${i}`))
    const api = kc.makeApiClient(CoreV1Api)
    const first = await api.listPodForAllNamespaces({ limit: 2 })
    expect(first.items.map((p) => p.metadata?.name)).toEqual(['p0', 'p1'])
    expect(first.metadata?.resourceVersion).toBe(String(server.resourceVersion))
    expect(first.metadata?.remainingItemCount).toBe(3)
    // A change between pages does not show: the pages come from the first page's snapshot.
    server.add('pods', pod('p5', '10.1.0.9'))
    const second = await api.listPodForAllNamespaces({
      limit: 2,
      _continue: first.metadata!._continue!,
    })
    const third = await api.listPodForAllNamespaces({
      limit: 2,
      _continue: second.metadata!._continue!,
    })
    expect([...second.items, ...third.items].map((p) => p.metadata?.name)).toEqual([
      'p2',
      'p3',
      'p4',
    ])
    expect(third.metadata?._continue).toBeUndefined()
    expect(third.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion)
    // Namespaced list.
    server.add('pods', pod('other', '10.2.0.1', 'shop'))
    const shop = await api.listNamespacedPod({ namespace: 'shop' })
    expect(shop.items.map((p) => p.metadata?.name)).toEqual(['other'])
  })

  it('answers an expired continue token with 410 and a bad token with 401', async () => {
    for (let i = 0; i < 3; i++) server.add('pods', pod(`p${i}`, `10.1.0.${i}`))
    const api = kc.makeApiClient(CoreV1Api)
    const first = await api.listPodForAllNamespaces({ limit: 1 })
    server.add('pods', pod('p9', '10.1.0.9'))
    server.compact()
    await expect(
      api.listPodForAllNamespaces({ limit: 1, _continue: first.metadata!._continue! })
    ).rejects.toMatchObject({ code: 410 })
    const res = await fetch(`${server.url}/api/v1/pods`)
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized' })
  })

  it('streams watch events as chunked NDJSON and sends 410 Gone as an ERROR event', async () => {
    server.add('pods', pod('a', '10.1.0.1'))
    const rv = server.resourceVersion
    server.add('pods', pod('b', '10.1.0.2'))
    const res = await fetch(
      `${server.url}/api/v1/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1`,
      {
        headers: { authorization: 'Bearer tapwire-test-token' },
      }
    )
    expect(res.headers.get('transfer-encoding')).toBe('chunked')
    const events = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(events.map((e) => [e.type, e.object.metadata.name, e.object.kind])).toEqual([
      ['ADDED', 'b', 'Pod'],
    ])

    server.compact()
    server.add('pods', pod('c', '10.1.0.3'))
    const gone = await fetch(`${server.url}/api/v1/pods?watch=true&resourceVersion=${rv}`, {
      headers: { authorization: 'Bearer tapwire-test-token' },
    })
    expect(gone.status).toBe(200)
    const [err] = (await gone.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(err).toMatchObject({
      type: 'ERROR',
      object: { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 },
    })
  })

  it('runs the real informer: initial list, ADDED/MODIFIED/DELETED, BOOKMARK advances the resourceVersion', async () => {
    server.add('pods', pod('a', '10.1.0.1'))
    server.add('pods', pod('b', '10.1.0.2'))
    const { errors } = startInformer()
    const seen: string[] = []
    informer!.on('add', (p) => seen.push(`add ${p.metadata?.name}`))
    informer!.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.v}`))
    informer!.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`))
    await informer!.start()
    expect(podNames()).toEqual(['a', 'b'])
    await until('watch open', () => server.openWatches('pods') === 1)

    server.add('pods', pod('c', '10.1.0.3'))
    server.update('pods', pod('a', '10.1.0.1', 'default', { v: '2' }))
    server.remove('pods', 'default', 'b')
    await until('events delivered', () => seen.length === 5, 3000).catch((e) => {
      throw new Error(`${(e as Error).message}: ${seen.join('; ')}`)
    })
    expect(seen).toEqual(['add a', 'add b', 'add c', 'update a 2', 'delete b'])
    expect(podNames()).toEqual(['a', 'c'])
    expect(informer!.latestResourceVersion()).toBe(String(server.resourceVersion))

    // Changes elsewhere move the global resourceVersion; only a bookmark tells this watcher.
    server.add('services', {
      metadata: { name: 's', namespace: 'default' },
      spec: { clusterIP: '10.96.0.10' },
    })
    expect(informer!.latestResourceVersion()).not.toBe(String(server.resourceVersion))
    server.bookmark()
    await until(
      'bookmark seen',
      () => informer!.latestResourceVersion() === String(server.resourceVersion)
    )
    expect(errors).toEqual([])
  })

  it('relists on 410 Gone and converges to the true state', async () => {
    server.add('pods', pod('a', '10.1.0.1'))
    server.add('pods', pod('b', '10.1.0.2'))
    const { errors, lists } = startInformer()
    const deleted: string[] = []
    informer!.on('delete', (p) => deleted.push(p.metadata?.name ?? ''))
    await informer!.start()
    await until('watch open', () => server.openWatches('pods') === 1)
    expect(lists()).toBe(1)

    // The watcher is cut off; while it is away, things change and the history is compacted.
    server.pauseWatches()
    server.endWatches()
    await until(
      'reconnect held',
      () => server.requests.filter((r) => r.verb === 'watch').length === 2
    )
    server.remove('pods', 'default', 'a')
    server.add('pods', pod('c', '10.1.0.3'))
    server.compact()
    server.resumeWatches()

    await until('relisted', () => podNames().join() === 'b,c')
    expect(lists()).toBe(2)
    expect(deleted).toEqual(['a'])
    await until('watching again', () => server.openWatches('pods') === 1)
    server.add('pods', pod('d', '10.1.0.4'))
    await until('new events after relist', () => podNames().join() === 'b,c,d')
    expect(errors).toEqual([])
  })

  it('a dropped watch reconnects from its resourceVersion without relisting', async () => {
    server.add('pods', pod('a', '10.1.0.1'))
    const { errors, lists } = startInformer()
    // What the resolver does: a watch that fails is restarted (after a backoff).
    informer!.on('error', () => void informer?.start())
    await informer!.start()
    await until('watch open', () => server.openWatches('pods') === 1)
    server.dropWatches()
    server.add('pods', pod('b', '10.1.0.2'))
    await until('reconnected', () => podNames().join() === 'a,b')
    expect(lists()).toBe(1)
    const watches = server.requests.filter((r) => r.verb === 'watch')
    expect(watches.length).toBeGreaterThanOrEqual(2)
    expect(Number(watches.at(-1)!.query.resourceVersion)).toBeGreaterThan(0)
    // The client library reports the cut connection (node-fetch: "Premature close").
    expect(errors.length).toBeGreaterThanOrEqual(1)

    // A clean end (timeoutSeconds) re-watches without an error at all.
    const before = errors.length
    server.endWatches()
    server.add('pods', pod('c', '10.1.0.3'))
    await until('re-watched', () => podNames().join() === 'a,b,c')
    expect(errors.length).toBe(before)
    expect(lists()).toBe(1)
  })
})
