/**
 * The security and operability policy every rendered manifest must meet. Each rule is a function
 * from the rendered objects to violations; `checkPolicy` runs them all. The tests render both
 * overlays, expect no violation, then break a rendered object for each rule and expect that rule
 * (and only that rule) to fire.
 */
import type { K8sObject } from './render.js'
import { isRecord, parseImage, podContainers, podSpec } from './render.js'
import { describeObject } from './validate.js'

export const ruleIds = [
  'no-privileged',
  'capabilities',
  'drop-all-capabilities',
  'no-privilege-escalation',
  'read-only-root-fs',
  'run-as-non-root',
  'seccomp-runtime-default',
  'resources',
  'probes',
  'pinned-images',
  'host-namespaces',
  'rbac-verbs',
  'rbac-resources',
  'rbac-wildcards',
  'rbac-bindings',
  'secret-placeholders',
] as const
export type RuleId = (typeof ruleIds)[number]

export interface Violation {
  rule: RuleId
  object: string
  message: string
}

/** The only capabilities anything may add, and only the agent may add them. */
export const AGENT_CAPABILITIES: ReadonlySet<string> = new Set(['NET_RAW', 'NET_ADMIN'])
export const RBAC_VERBS: ReadonlySet<string> = new Set(['get', 'list', 'watch'])
/** What the hub's resolver reads: apiGroup → resources. */
export const RBAC_RESOURCES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['', new Set(['pods', 'services', 'nodes', 'namespaces'])],
  ['discovery.k8s.io', new Set(['endpointslices'])],
])
/** How a committed secret value must look: an obvious placeholder, or empty. */
export const PLACEHOLDER = /^(|(REPLACE|CHANGE)[-_ ]?ME\b.*|<[^>]*>)$/i

/** The node agent: the one workload allowed hostNetwork, root and NET_RAW/NET_ADMIN. */
export function isAgent(o: K8sObject): boolean {
  return o.kind === 'DaemonSet' && o.metadata.labels?.['app.kubernetes.io/name'] === 'node-agent'
}

type Rec = Record<string, unknown>

function rec(v: unknown): Rec {
  return isRecord(v) ? v : {}
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

function workloads(objects: readonly K8sObject[]): { o: K8sObject; spec: Rec }[] {
  return objects.flatMap((o) => {
    const spec = podSpec(o)
    return spec ? [{ o, spec }] : []
  })
}

function containersOf(o: K8sObject): { c: Rec; init: boolean }[] {
  const spec = podSpec(o) ?? {}
  const init = new Set(list(spec['initContainers']))
  return podContainers(o).map((c) => ({ c, init: init.has(c) }))
}

function where(o: K8sObject, c?: Rec): string {
  return c ? `${describeObject(o)} container ${String(c['name'])}` : describeObject(o)
}

type Rule = (objects: readonly K8sObject[]) => Omit<Violation, 'rule'>[]

const rules: Record<RuleId, Rule> = {
  'no-privileged': (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o)
        .filter(({ c }) => rec(c['securityContext'])['privileged'] === true)
        .map(({ c }) => ({ object: where(o, c), message: 'runs privileged' }))
    ),

  capabilities: (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o).flatMap(({ c }) => {
        const added = list(rec(rec(c['securityContext'])['capabilities'])['add']).map(String)
        return added
          .filter((cap) => !isAgent(o) || !AGENT_CAPABILITIES.has(cap.replace(/^CAP_/, '')))
          .map((cap) => ({
            object: where(o, c),
            message: isAgent(o)
              ? `adds ${cap}: the agent may add only NET_RAW and NET_ADMIN`
              : `adds ${cap}: only the node agent may add capabilities`,
          }))
      })
    ),

  'drop-all-capabilities': (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o)
        .filter(
          ({ c }) => !list(rec(rec(c['securityContext'])['capabilities'])['drop']).includes('ALL')
        )
        .map(({ c }) => ({ object: where(o, c), message: 'does not drop ALL capabilities' }))
    ),

  'no-privilege-escalation': (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o)
        .filter(({ c }) => rec(c['securityContext'])['allowPrivilegeEscalation'] !== false)
        .map(({ c }) => ({ object: where(o, c), message: 'allowPrivilegeEscalation is not false' }))
    ),

  'read-only-root-fs': (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o)
        .filter(({ c }) => rec(c['securityContext'])['readOnlyRootFilesystem'] !== true)
        .map(({ c }) => ({ object: where(o, c), message: 'readOnlyRootFilesystem is not true' }))
    ),

  // Everything but the agent runs as non-root (the agent's reason is in deploy/base/agent.yaml).
  'run-as-non-root': (objects) =>
    workloads(objects)
      .filter(({ o }) => !isAgent(o))
      .flatMap(({ o, spec }) => {
        const podLevel = rec(spec['securityContext'])
        return containersOf(o)
          .filter(({ c }) => {
            const sc = rec(c['securityContext'])
            const nonRoot = sc['runAsNonRoot'] ?? podLevel['runAsNonRoot']
            const uid = sc['runAsUser'] ?? podLevel['runAsUser']
            return nonRoot !== true || uid === 0
          })
          .map(({ c }) => ({
            object: where(o, c),
            message: 'does not set runAsNonRoot: true (or runs as UID 0)',
          }))
      }),

  'seccomp-runtime-default': (objects) =>
    workloads(objects).flatMap(({ o, spec }) => {
      const podType = rec(rec(spec['securityContext'])['seccompProfile'])['type']
      return containersOf(o)
        .filter(({ c }) => {
          const type = rec(rec(c['securityContext'])['seccompProfile'])['type'] ?? podType
          return type !== 'RuntimeDefault' && type !== 'Localhost'
        })
        .map(({ c }) => ({ object: where(o, c), message: 'seccompProfile is not RuntimeDefault' }))
    }),

  resources: (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o).flatMap(({ c }) => {
        const r = rec(c['resources'])
        const missing = (['requests', 'limits'] as const).flatMap((k) =>
          (['cpu', 'memory'] as const)
            .filter((q) => rec(r[k])[q] === undefined)
            .map((q) => `${k}.${q}`)
        )
        return missing.length > 0
          ? [{ object: where(o, c), message: `missing resources ${missing.join(', ')}` }]
          : []
      })
    ),

  probes: (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o)
        .filter(({ init }) => !init)
        .flatMap(({ c }) =>
          (['livenessProbe', 'readinessProbe'] as const)
            .filter((p) => !isRecord(c[p]))
            .map((p) => ({ object: where(o, c), message: `missing ${p}` }))
        )
    ),

  'pinned-images': (objects) =>
    workloads(objects).flatMap(({ o }) =>
      containersOf(o).flatMap(({ c }) => {
        const image = typeof c['image'] === 'string' ? c['image'] : ''
        const ref = parseImage(image)
        if (ref.digest && /^sha256:[0-9a-f]{64}$/.test(ref.digest)) return []
        if (!ref.tag) return [{ object: where(o, c), message: `image ${image} has no tag` }]
        if (ref.tag === 'latest' || !/\d/.test(ref.tag)) {
          return [{ object: where(o, c), message: `image ${image} is not pinned to a version` }]
        }
        return []
      })
    ),

  'host-namespaces': (objects) =>
    workloads(objects).flatMap(({ o, spec }) => {
      const out: Omit<Violation, 'rule'>[] = []
      if (spec['hostNetwork'] === true && !isAgent(o))
        out.push({ object: where(o), message: 'hostNetwork on a non-agent workload' })
      for (const k of ['hostPID', 'hostIPC'] as const) {
        if (spec[k] === true) out.push({ object: where(o), message: `${k} is set` })
      }
      return out
    }),

  'rbac-verbs': (objects) =>
    rbacRules(objects).flatMap(({ o, rule }) =>
      list(rule['verbs'])
        .map(String)
        .filter((v) => v !== '*' && !RBAC_VERBS.has(v))
        .map((v) => ({ object: where(o), message: `verb ${v} (only get/list/watch)` }))
    ),

  'rbac-resources': (objects) =>
    rbacRules(objects).flatMap(({ o, rule }) => {
      const out: Omit<Violation, 'rule'>[] = []
      if (list(rule['nonResourceURLs']).length > 0)
        out.push({ object: where(o), message: 'nonResourceURLs' })
      if (list(rule['resourceNames']).length > 0 && list(rule['resources']).length === 0) {
        out.push({ object: where(o), message: 'resourceNames without resources' })
      }
      for (const group of list(rule['apiGroups']).map(String)) {
        if (group === '*') continue
        const allowed = RBAC_RESOURCES.get(group)
        for (const r of list(rule['resources']).map(String)) {
          if (r === '*') continue
          if (!allowed?.has(r))
            out.push({
              object: where(o),
              message: `resource ${group || 'core'}/${r} is not one the resolver reads`,
            })
        }
      }
      return out
    }),

  'rbac-wildcards': (objects) =>
    rbacRules(objects).flatMap(({ o, rule }) =>
      (['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs'] as const)
        .filter((k) => list(rule[k]).some((v) => String(v).includes('*')))
        .map((k) => ({ object: where(o), message: `'*' in ${k}` }))
    ),

  // Bindings may only grant roles this tree defines (never cluster-admin, edit, view, ...).
  'rbac-bindings': (objects) =>
    objects
      .filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')
      .flatMap((o) => {
        const ref = rec(o['roleRef'])
        const defined = objects.some(
          (x) => x.kind === ref['kind'] && x.metadata.name === ref['name']
        )
        return defined
          ? []
          : [
              {
                object: where(o),
                message: `binds ${String(ref['kind'])} ${String(ref['name'])}, which deploy/ does not define`,
              },
            ]
      }),

  'secret-placeholders': (objects) =>
    objects
      .filter((o) => o.kind === 'Secret')
      .flatMap((o) => {
        const values: [string, string][] = [
          ...Object.entries(rec(o['data'])).map(([k, v]): [string, string] => [
            k,
            Buffer.from(String(v), 'base64').toString('utf8'),
          ]),
          ...Object.entries(rec(o['stringData'])).map(([k, v]): [string, string] => [k, String(v)]),
        ]
        return values
          .filter(([, v]) => !PLACEHOLDER.test(v.trim()))
          .map(([k]) => ({
            object: where(o),
            message: `key ${k} holds a real-looking value, not a REPLACE_ME placeholder`,
          }))
      }),
}

function rbacRules(objects: readonly K8sObject[]): { o: K8sObject; rule: Rec }[] {
  return objects
    .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
    .flatMap((o) => {
      const out: { o: K8sObject; rule: Rec }[] = list(o['rules']).map((rule) => ({
        o,
        rule: rec(rule),
      }))
      // An aggregated ClusterRole pulls in rules from elsewhere: treat it as a wildcard.
      if (o['aggregationRule'] !== undefined)
        out.push({ o, rule: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] } })
      return out
    })
}

export function checkPolicy(objects: readonly K8sObject[], only?: readonly RuleId[]): Violation[] {
  return (only ?? ruleIds).flatMap((rule) => rules[rule](objects).map((v) => ({ rule, ...v })))
}
