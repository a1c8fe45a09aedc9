import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { RuleId } from './policy.js'
import { checkPolicy, isAgent, ruleIds } from './policy.js'
import type { K8sObject } from './render.js'
import { deployDir, pickRenderer, podContainers, podSpec } from './render.js'

const dirs = ['base', 'overlays/dev', 'overlays/production'] as const
const rendered = new Map<string, K8sObject[]>()

beforeAll(() => {
  const renderer = pickRenderer()
  for (const dir of dirs) rendered.set(dir, renderer.render(join(deployDir, dir)))
})

type Rec = Record<string, unknown>
const find = (objects: K8sObject[], pred: (o: K8sObject) => boolean): K8sObject => {
  const o = objects.find(pred)
  if (!o) throw new Error('object not found')
  return o
}
const hub = (objects: K8sObject[]) =>
  find(objects, (o) => o.kind === 'Deployment' && o.metadata.name === 'tapwire-hub')
const agent = (objects: K8sObject[]) => find(objects, isAgent)
const nats = (objects: K8sObject[]) => find(objects, (o) => o.kind === 'StatefulSet')
const role = (objects: K8sObject[]) => find(objects, (o) => o.kind === 'ClusterRole')
const container = (o: K8sObject): Rec => podContainers(o)[0]!
const sc = (o: K8sObject): Rec => container(o)['securityContext'] as Rec
const caps = (o: K8sObject): Rec => sc(o)['capabilities'] as Rec
const firstRule = (o: K8sObject): Rec => (o['rules'] as Rec[])[0]!
const b64 = (s: string) => Buffer.from(s).toString('base64')

describe('policy holds on every rendered overlay', () => {
  for (const dir of dirs) {
    it(dir, () => {
      expect(checkPolicy(rendered.get(dir)!)).toEqual([])
    })
  }

  it('the agent adds exactly NET_RAW and NET_ADMIN, and is the only hostNetwork workload', () => {
    const objects = rendered.get('overlays/production')!
    expect(caps(agent(objects))['add']).toEqual(['NET_RAW', 'NET_ADMIN'])
    expect(
      objects.filter((o) => podSpec(o)?.['hostNetwork'] === true).map((o) => o.metadata.name)
    ).toEqual(['tapwire-agent'])
  })
})

/** Each case breaks one rendered object; exactly the named rule must fire. */
const cases: [string, RuleId, (objects: K8sObject[]) => void][] = [
  ['a privileged hub', 'no-privileged', (os) => void (sc(hub(os))['privileged'] = true)],
  ['a privileged agent', 'no-privileged', (os) => void (sc(agent(os))['privileged'] = true)],
  [
    'SYS_ADMIN on the agent',
    'capabilities',
    (os) => void (caps(agent(os))['add'] as string[]).push('SYS_ADMIN'),
  ],
  ['NET_RAW on the hub', 'capabilities', (os) => void (caps(hub(os))['add'] = ['NET_RAW'])],
  ['NET_ADMIN on NATS', 'capabilities', (os) => void (caps(nats(os))['add'] = ['NET_ADMIN'])],
  [
    'the agent keeping default capabilities',
    'drop-all-capabilities',
    (os) => void (caps(agent(os))['drop'] = []),
  ],
  [
    'privilege escalation allowed',
    'no-privilege-escalation',
    (os) => void delete sc(agent(os))['allowPrivilegeEscalation'],
  ],
  [
    'a writable root filesystem',
    'read-only-root-fs',
    (os) => void (sc(nats(os))['readOnlyRootFilesystem'] = false),
  ],
  [
    'the hub as root',
    'run-as-non-root',
    (os) => {
      const spec = podSpec(hub(os))!
      ;(spec['securityContext'] as Rec)['runAsUser'] = 0
    },
  ],
  [
    'NATS without runAsNonRoot',
    'run-as-non-root',
    (os) => {
      delete ((podSpec(nats(os))!['securityContext'] as Rec) ?? {})['runAsNonRoot']
      delete sc(nats(os))['runAsNonRoot']
    },
  ],
  [
    'no seccomp profile',
    'seccomp-runtime-default',
    (os) => {
      delete (podSpec(agent(os))!['securityContext'] as Rec)['seccompProfile']
      delete sc(agent(os))['seccompProfile']
    },
  ],
  [
    'missing limits',
    'resources',
    (os) => void delete (container(hub(os))['resources'] as Rec)['limits'],
  ],
  [
    'missing a memory request',
    'resources',
    (os) => void delete ((container(agent(os))['resources'] as Rec)['requests'] as Rec)['memory'],
  ],
  ['missing a liveness probe', 'probes', (os) => void delete container(agent(os))['livenessProbe']],
  [
    'missing a readiness probe',
    'probes',
    (os) => void delete container(nats(os))['readinessProbe'],
  ],
  [
    'an image tagged latest',
    'pinned-images',
    (os) => void (container(hub(os))['image'] = 'ghcr.io/tapwire/hub:latest'),
  ],
  ['an untagged image', 'pinned-images', (os) => void (container(nats(os))['image'] = 'nats')],
  ['a floating tag', 'pinned-images', (os) => void (container(nats(os))['image'] = 'nats:alpine')],
  [
    'hostNetwork on the hub',
    'host-namespaces',
    (os) => void (podSpec(hub(os))!['hostNetwork'] = true),
  ],
  ['hostPID on the agent', 'host-namespaces', (os) => void (podSpec(agent(os))!['hostPID'] = true)],
  [
    'a create verb',
    'rbac-verbs',
    (os) => void (firstRule(role(os))['verbs'] as string[]).push('create'),
  ],
  [
    'reading secrets',
    'rbac-resources',
    (os) => void (firstRule(role(os))['resources'] as string[]).push('secrets'),
  ],
  [
    'another API group',
    'rbac-resources',
    (os) =>
      void (role(os)['rules'] as Rec[]).push({
        apiGroups: ['apps'],
        resources: ['deployments'],
        verbs: ['get'],
      }),
  ],
  ['a * verb', 'rbac-wildcards', (os) => void (firstRule(role(os))['verbs'] = ['*'])],
  ['a * resource', 'rbac-wildcards', (os) => void (firstRule(role(os))['resources'] = ['*'])],
  ['a * apiGroup', 'rbac-wildcards', (os) => void (firstRule(role(os))['apiGroups'] = ['*'])],
  [
    'a binding to cluster-admin',
    'rbac-bindings',
    (os) => {
      const b = find(os, (o) => o.kind === 'ClusterRoleBinding')
      ;(b['roleRef'] as Rec)['name'] = 'cluster-admin'
    },
  ],
  [
    'a real-looking token',
    'secret-placeholders',
    (os) =>
      void ((find(os, (o) => o.kind === 'Secret')['data'] as Rec)['token'] = b64(
        '9f86d081884c7d659a2feaa0c55ad015'
      )),
  ],
  [
    'a real-looking stringData value',
    'secret-placeholders',
    (os) =>
      void (find(os, (o) => o.kind === 'Secret')['stringData'] = { password: 'hunter2hunter2' }),
  ],
]

describe('each rule fires on a deliberately broken object', () => {
  it('every rule has at least one case', () => {
    expect(new Set(cases.map(([, rule]) => rule))).toEqual(new Set(ruleIds))
  })

  for (const [name, rule, mutate] of cases) {
    it(`${rule}: ${name}`, () => {
      const objects = structuredClone(rendered.get('overlays/production')!)
      mutate(objects)
      const violations = checkPolicy(objects)
      expect(violations.length).toBeGreaterThan(0)
      expect(new Set(violations.map((v) => v.rule))).toEqual(new Set([rule]))
    })
  }

  it('accepts obvious placeholders and empty values', () => {
    const objects = structuredClone(rendered.get('base')!)
    const secret = find(objects, (o) => o.kind === 'Secret')
    for (const value of ['', 'REPLACE_ME', 'change-me please', '<your token here>']) {
      secret['data'] = { token: b64(value) }
      expect(checkPolicy(objects, ['secret-placeholders']), value).toEqual([])
    }
  })
})
