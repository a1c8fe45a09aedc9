import { compile } from '@tapwire/kfl'
import type { Entry } from '@tapwire/wire'
import { pb } from '@tapwire/wire'
import { describe, expect, it } from 'vitest'
import { enrichEntry } from './enrich.js'
import { StaticResolver, nullResolver } from './static-resolver.js'
import { KubernetesResolver } from './k8s-resolver.js'
import { KubeConfig } from '@kubernetes/client-node'

const resolver = new StaticResolver([
  { ip: '10.1.0.1', pod: 'web-1', ns: 'frontend', svc: 'web', node: 'n1', labels: { app: 'web' } },
  {
    ip: '10.1.0.2',
    pod: 'api-1',
    ns: 'backend',
    svc: 'api',
    node: 'n2',
    labels: { app: 'api', tier: 'be' },
  },
  { ip: '10.1.0.3', pod: 'web-2', ns: 'frontend', node: 'n1', labels: { app: 'web' } },
  { ip: '10.96.0.10', port: 53, svc: 'kube-dns', ns: 'kube-system' },
])

let seq = 0
const entry = (src: string, dst: string, dstPort = 8080): Entry =>
  pb.Entry.fromObject({
    id: `n1/${++seq}/0`,
    node: 'n1',
    ts: 1_700_000_000_000,
    proto: 'http',
    src: { ip: src, port: 40000 + seq },
    dst: { ip: dst, port: dstPort },
  })

describe('enrichEntry', () => {
  it('fills pod, ns, svc, node, labels and resolution status on both sides', () => {
    const e = entry('10.1.0.1', '10.1.0.2')
    enrichEntry(e, resolver)
    expect(e.src).toMatchObject({
      pod: 'web-1',
      ns: 'frontend',
      svc: 'web',
      node: 'n1',
      labels: { app: 'web' },
      resolutionStatus: '',
    })
    expect(e.dst).toMatchObject({
      pod: 'api-1',
      ns: 'backend',
      svc: 'api',
      node: 'n2',
      labels: { app: 'api', tier: 'be' },
      resolutionStatus: '',
    })
    // Survives the wire: what the store and KFL read is the protobuf Endpoint.
    const back = pb.Entry.decode(pb.Entry.encode(e).finish())
    expect(back.dst?.labels).toEqual({ app: 'api', tier: 'be' })

    const ext = entry('10.1.0.1', '203.0.113.7', 443)
    enrichEntry(ext, resolver)
    expect(ext.dst).toMatchObject({ pod: '', ns: '', resolutionStatus: 'unresolved' })
    // Again: answered by the negative cache, same result.
    const ext2 = entry('10.1.0.3', '203.0.113.7', 443)
    enrichEntry(ext2, resolver)
    expect(ext2.dst?.resolutionStatus).toBe('unresolved')

    const dns = entry('10.1.0.3', '10.96.0.10', 53)
    enrichEntry(dns, resolver)
    expect(dns.dst).toMatchObject({
      svc: 'kube-dns',
      ns: 'kube-system',
      pod: '',
      resolutionStatus: '',
    })
    const wrongPort = entry('10.1.0.3', '10.96.0.10', 80)
    enrichEntry(wrongPort, resolver)
    expect(wrongPort.dst?.resolutionStatus).toBe('unresolved')
  })

  it('says no_resolver without Kubernetes or mapping, and not_synced before the first lists', () => {
    const e = entry('10.1.0.1', '10.1.0.2')
    enrichEntry(e, nullResolver())
    expect(e.src?.resolutionStatus).toBe('no_resolver')
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'http://127.0.0.1:9' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    })
    const k8s = new KubernetesResolver({ kubeConfig: kc, log: () => {} })
    const f = entry('10.1.0.1', '10.1.0.2')
    enrichEntry(f, k8s)
    expect(f.dst?.resolutionStatus).toBe('not_synced')
  })

  it('lets KFL select exactly the cross-namespace calls over enriched entries', () => {
    const entries = [
      entry('10.1.0.1', '10.1.0.2'), // frontend → backend
      entry('10.1.0.3', '10.1.0.2'), // frontend → backend
      entry('10.1.0.1', '10.1.0.3'), // frontend → frontend
      entry('10.1.0.2', '10.1.0.1'), // backend → frontend
      entry('10.1.0.1', '203.0.113.7'), // frontend → outside
    ]
    for (const e of entries) enrichEntry(e, resolver)
    const pick = (kfl: string): number[] => {
      const f = compile(kfl)
      return entries.flatMap((e, i) => (f.predicate(e) ? [i] : []))
    }
    expect(pick('src.ns == "frontend" and dst.ns == "backend"')).toEqual([0, 1])
    expect(pick('src.pod.namespace == "frontend" && dst.service.name == "api"')).toEqual([0, 1])
    expect(pick('"backend" in namespaces')).toEqual([0, 1, 3])
    expect(pick('"web-2" in pods')).toEqual([1, 2])
    expect(pick('"api" in services && src.namespace != dst.namespace')).toEqual([0, 1, 3])
    expect(pick('map_get(remote_labels, "tier", "") == "be"')).toEqual([0, 1])
    expect(pick('remote_resolution_status == "unresolved"')).toEqual([4])
  })
})
