// The manifests against the components' contract: env names, ports, volumes, and that every
// selector (Services, NetworkPolicies, PDBs) actually selects the pods it is meant for.
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { isAgent } from './policy.js'
import type { K8sObject } from './render.js'
import { deployDir, pickRenderer, podContainers, podSpec } from './render.js'

type Rec = Record<string, unknown>
const dirs = ['base', 'overlays/dev', 'overlays/production'] as const
const rendered = new Map<string, K8sObject[]>()

beforeAll(() => {
  const renderer = pickRenderer()
  for (const dir of dirs) rendered.set(dir, renderer.render(join(deployDir, dir)))
})

function env(o: K8sObject): Map<string, Rec> {
  return new Map((podContainers(o)[0]!['env'] as Rec[]).map((e) => [String(e['name']), e]))
}
function mountOf(o: K8sObject, path: string): Rec | undefined {
  const mount = (podContainers(o)[0]!['volumeMounts'] as Rec[]).find((m) => m['mountPath'] === path)
  return (podSpec(o)!['volumes'] as Rec[]).find((v) => v['name'] === mount?.['name'])
}
function templateLabels(o: K8sObject): Record<string, string> {
  return ((o['spec'] as Rec)['template'] as { metadata: { labels: Record<string, string> } })
    .metadata.labels
}
function matches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>
): boolean {
  return !!selector && Object.entries(selector).every(([k, v]) => labels[k] === v)
}

describe.each(dirs)('%s', (dir) => {
  const objects = () => rendered.get(dir)!
  const byKind = (kind: string, name?: string) =>
    objects().find((o) => o.kind === kind && (name === undefined || o.metadata.name === name))!
  const pods = () => objects().filter((o) => podSpec(o) !== undefined)

  it('hub: env contract, auth token from the generated Secret, snapshots on the PVC', () => {
    const hub = byKind('Deployment', 'tapwire-hub')
    const e = env(hub)
    expect(e.get('HUB_PORT')?.['value']).toBe('8898')
    expect(e.get('NATS_URL')?.['value']).toBe('nats://tapwire-nats.tapwire.svc:4222')
    const secretRef = ((e.get('HUB_AUTH_TOKEN')?.['valueFrom'] as Rec)['secretKeyRef'] as Rec)[
      'name'
    ]
    expect(objects().some((o) => o.kind === 'Secret' && o.metadata.name === secretRef)).toBe(true)
    const dataVolume = mountOf(hub, String(e.get('HUB_DATA_DIR')?.['value']))
    const claim = (dataVolume?.['persistentVolumeClaim'] as Rec | undefined)?.['claimName']
    expect(
      objects().some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim)
    ).toBe(true)
    expect(mountOf(hub, '/tmp')?.['emptyDir']).toBeDefined()
    const probe = podContainers(hub)[0]!['readinessProbe'] as { httpGet: { path: string } }
    expect(probe.httpGet.path).toBe('/readyz')
  })

  it('agent: node name from the downward API, ring on a hostPath, probes on AGENT_PORT', () => {
    const agent = objects().find(isAgent)!
    const spec = podSpec(agent)!
    expect(spec['hostNetwork']).toBe(true)
    expect(spec['dnsPolicy']).toBe('ClusterFirstWithHostNet')
    expect(spec['tolerations']).toEqual([{ operator: 'Exists' }])
    const e = env(agent)
    expect((e.get('NODE_NAME')?.['valueFrom'] as Rec)['fieldRef']).toMatchObject({
      fieldPath: 'spec.nodeName',
    })
    expect(e.get('CAPTURE_INTERFACE')?.['value']).toBe('any')
    expect(e.get('RING_SIZE')?.['value']).toMatch(/^\d+[MG]iB$/)
    expect(mountOf(agent, String(e.get('AGENT_DATA_DIR')?.['value']))?.['hostPath']).toMatchObject({
      path: '/var/lib/tapwire',
    })
    expect(mountOf(agent, '/tmp')?.['emptyDir']).toBeDefined()
    const c = podContainers(agent)[0]!
    const port = Number(e.get('AGENT_PORT')?.['value'])
    expect((c['livenessProbe'] as { httpGet: Rec }).httpGet).toEqual({ path: '/healthz', port })
    expect((c['readinessProbe'] as { httpGet: Rec }).httpGet).toEqual({ path: '/readyz', port })
    expect((c['resources'] as { limits: Rec }).limits['memory']).toBe('512Mi')
  })

  it('NATS: JetStream enabled, data on the claim template', () => {
    const config = byKind('ConfigMap', 'tapwire-nats-config')
    expect((config['data'] as Rec)['nats.conf']).toMatch(
      /jetstream\s*\{[^}]*store_dir:\s*\/data\/jetstream/
    )
    const sts = byKind('StatefulSet')
    const templates = (sts['spec'] as Rec)['volumeClaimTemplates'] as {
      metadata: { name: string }
    }[]
    const mount = (podContainers(sts)[0]!['volumeMounts'] as Rec[]).find(
      (m) => m['mountPath'] === '/data'
    )
    expect(templates.map((t) => t.metadata.name)).toContain(mount?.['name'])
  })

  it('every Service selects pods and targets a named container port', () => {
    for (const svc of objects().filter((o) => o.kind === 'Service')) {
      const spec = svc['spec'] as {
        selector: Record<string, string>
        ports: { targetPort: string }[]
      }
      const selected = pods().filter((p) => matches(spec.selector, templateLabels(p)))
      expect(selected.length, svc.metadata.name).toBe(1)
      const names = podContainers(selected[0]!).flatMap((c) =>
        (c['ports'] as Rec[]).map((p) => p['name'])
      )
      for (const port of spec.ports) expect(names, svc.metadata.name).toContain(port.targetPort)
    }
  })

  it('every workload selector matches its own template, every NetworkPolicy and PDB selects a workload', () => {
    for (const w of pods()) {
      const selector = ((w['spec'] as Rec)['selector'] as { matchLabels: Record<string, string> })
        .matchLabels
      expect(matches(selector, templateLabels(w)), w.metadata.name).toBe(true)
    }
    for (const o of objects().filter(
      (x) => x.kind === 'NetworkPolicy' || x.kind === 'PodDisruptionBudget'
    )) {
      const key = o.kind === 'NetworkPolicy' ? 'podSelector' : 'selector'
      const selector = ((o['spec'] as Rec)[key] as { matchLabels?: Record<string, string> })
        .matchLabels
      if (selector === undefined) continue // {}: every pod (default deny)
      expect(
        pods().filter((p) => matches(selector, templateLabels(p))).length,
        o.metadata.name
      ).toBe(1)
    }
  })

  it('everything namespaced lives in tapwire, and the ingress routes to the hub Service', () => {
    for (const o of objects()) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass'].includes(o.kind)) {
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('tapwire')
      }
    }
    const ingress = byKind('Ingress')
    expect(JSON.stringify(ingress['spec'])).toContain('"name":"tapwire-hub"')
  })
})

it('production: TLS on the ingress, PDBs for hub and NATS, a priority class for agents', () => {
  const objects = rendered.get('overlays/production')!
  const ingress = objects.find((o) => o.kind === 'Ingress')!
  expect((ingress['spec'] as Rec)['tls']).toEqual([
    { hosts: ['tapwire.example.com'], secretName: 'tapwire-hub-tls' },
  ])
  expect(
    objects
      .filter((o) => o.kind === 'PodDisruptionBudget')
      .map((o) => o.metadata.name)
      .sort()
  ).toEqual(['tapwire-hub', 'tapwire-nats'])
  const pc = objects.find((o) => o.kind === 'PriorityClass')!
  expect(podSpec(objects.find(isAgent)!)!['priorityClassName']).toBe(pc.metadata.name)
})

it('dev: no TLS, a NodePort for the hub', () => {
  const objects = rendered.get('overlays/dev')!
  expect((objects.find((o) => o.kind === 'Ingress')!['spec'] as Rec)['tls']).toBeUndefined()
  const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'tapwire-hub')!
  expect(svc['spec']).toMatchObject({ type: 'NodePort', ports: [{ nodePort: 30898, port: 8898 }] })
})
