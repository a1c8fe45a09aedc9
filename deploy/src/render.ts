/**
 * Rendering the kustomize tree under deploy/.
 *
 * The real renderer is preferred: `kustomize build` (a standalone binary named by $KUSTOMIZE_BIN or
 * found on PATH) or `kubectl kustomize` from a kubectl that embeds kustomize v4 or newer. Debian's
 * own kubectl (package kubernetes-client, 1.20) embeds kustomize v2.0.3, which predates the
 * `labels` and `patches` fields these manifests use, so it is not accepted.
 *
 * Where no real renderer is installed, `renderMinimal` renders the same tree: it implements only
 * the kustomize features deploy/ uses (resources, namespace, labels without selectors/templates,
 * images, patches as strategic-merge files, secretGenerator with hash suffix and name references)
 * and throws on anything else. A test proves it produces the same objects as the real tool
 * whenever both are present.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, parse as parseYaml } from 'yaml'

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [key: string]: unknown
  }
  [key: string]: unknown
}

export interface Renderer {
  /** Human-readable: which tool and version. */
  readonly name: string
  readonly real: boolean
  render(dir: string): K8sObject[]
}

/** deploy/ itself. */
export const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export function parseObjects(text: string): K8sObject[] {
  const out: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0]?.message ?? ''}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    if (
      !isRecord(value) ||
      typeof value['kind'] !== 'string' ||
      typeof value['apiVersion'] !== 'string'
    ) {
      throw new Error(`not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`)
    }
    out.push(value as K8sObject)
  }
  return out
}

function run(bin: string, args: string[]): string | undefined {
  try {
    return execFileSync(bin, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    })
  } catch {
    return undefined
  }
}

function majorOf(version: string | undefined): number {
  const m = /v?(\d+)\./.exec(version ?? '')
  return m ? Number(m[1]) : 0
}

/** The real kustomize, if this machine has one new enough; undefined otherwise. */
export function findRealRenderer(): Renderer | undefined {
  const candidates = [process.env['KUSTOMIZE_BIN'], 'kustomize'].filter((b): b is string => !!b)
  for (const bin of candidates) {
    const version = run(bin, ['version'])
    if (version !== undefined && majorOf(/v\d+\.\d+\.\d+/.exec(version)?.[0]) >= 4) {
      return {
        name: `${bin} build (${version.trim()})`,
        real: true,
        render: (dir) =>
          parseObjects(execFileSync(bin, ['build', dir], { encoding: 'utf8', timeout: 60_000 })),
      }
    }
  }
  const kubectl = process.env['KUBECTL_BIN'] ?? 'kubectl'
  const raw = run(kubectl, ['version', '--client', '-o', 'json'])
  if (raw !== undefined) {
    let info: { kustomizeVersion?: string; clientVersion?: { gitVersion?: string } } = {}
    try {
      info = JSON.parse(raw) as typeof info
    } catch {
      /* unparseable: treat as absent */
    }
    if (majorOf(info.kustomizeVersion) >= 4) {
      return {
        name: `kubectl kustomize (kubectl ${info.clientVersion?.gitVersion ?? '?'}, kustomize ${info.kustomizeVersion ?? '?'})`,
        real: true,
        render: (dir) =>
          parseObjects(
            execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 })
          ),
      }
    }
  }
  return undefined
}

export const minimalRenderer: Renderer = {
  name: 'deploy/src/render.ts minimal kustomize subset',
  real: false,
  render: (dir) => renderMinimal(dir),
}

/** The real renderer when there is one, else the minimal one. */
export function pickRenderer(): Renderer {
  return findRealRenderer() ?? minimalRenderer
}

// ---------------------------------------------------------------------------------------------
// Minimal renderer
// ---------------------------------------------------------------------------------------------

const SUPPORTED_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'images',
  'patches',
  'secretGenerator',
])

/** Kinds without a namespace (those deploy/ uses, plus the common ones). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PriorityClass',
  'PersistentVolume',
  'StorageClass',
  'CustomResourceDefinition',
  'IngressClass',
])

/** Kinds whose pod template lives at spec.template.spec. */
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'])

interface Generated {
  /** Name before the hash suffix. */
  baseName: string
  obj: K8sObject
}

interface Built {
  objects: K8sObject[]
  /** Secrets from secretGenerator: they get a hash suffix once the whole tree is built. */
  generated: Generated[]
}

export function renderMinimal(dir: string): K8sObject[] {
  const built = build(resolve(dir))
  // Hash suffixes and name references are resolved last, on the final content (as kustomize does).
  const renames = new Map<string, string>()
  for (const g of built.generated) {
    const newName = `${g.baseName}-${secretHash(g.obj)}`
    g.obj.metadata.name = newName
    renames.set(`${g.obj.metadata.namespace ?? ''}/${g.baseName}`, newName)
  }
  for (const obj of built.objects) renameSecretReferences(obj, renames)
  return built.objects
}

function build(dir: string): Built {
  const file = join(dir, 'kustomization.yaml')
  if (!existsSync(file)) throw new Error(`no kustomization.yaml in ${dir}`)
  const k: unknown = parseYaml(readFileSync(file, 'utf8'))
  if (!isRecord(k)) throw new Error(`${file}: not a mapping`)
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_KEYS.has(key))
      throw new Error(`${file}: kustomize field '${key}' is not supported by the minimal renderer`)
  }

  const objects: K8sObject[] = []
  const generated: Generated[] = []

  // 1. resources: files are loaded, directories are built recursively (fully transformed).
  for (const entry of asArray<string>(k['resources'])) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) {
      const sub = build(path)
      objects.push(...sub.objects)
      generated.push(...sub.generated)
    } else {
      objects.push(...parseObjects(readFileSync(path, 'utf8')))
    }
  }

  // 2. generators.
  for (const gen of asArray<Record<string, unknown>>(k['secretGenerator'])) {
    const name = gen['name']
    if (typeof name !== 'string') throw new Error(`${file}: secretGenerator without a name`)
    for (const key of Object.keys(gen)) {
      if (!['name', 'type', 'files', 'literals', 'behavior', 'namespace'].includes(key)) {
        throw new Error(`${file}: secretGenerator field '${key}' is not supported`)
      }
    }
    const data: Record<string, string> = {}
    for (const lit of asArray<string>(gen['literals'])) {
      const i = lit.indexOf('=')
      data[lit.slice(0, i)] = Buffer.from(lit.slice(i + 1)).toString('base64')
    }
    for (const f of asArray<string>(gen['files'])) {
      const i = f.indexOf('=')
      const [key, path] = i >= 0 ? [f.slice(0, i), f.slice(i + 1)] : [f.split('/').pop() ?? f, f]
      data[key] = readFileSync(join(dir, path)).toString('base64')
    }
    const behavior = (gen['behavior'] as string | undefined) ?? 'create'
    const type = (gen['type'] as string | undefined) ?? 'Opaque'
    if (behavior === 'create') {
      const obj: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name }, type, data }
      if (typeof gen['namespace'] === 'string') obj.metadata.namespace = gen['namespace']
      objects.push(obj)
      generated.push({ baseName: name, obj })
    } else if (behavior === 'replace' || behavior === 'merge') {
      const existing = generated.find((g) => g.baseName === name)
      if (!existing)
        throw new Error(`${file}: secretGenerator ${name} (${behavior}) has no base to ${behavior}`)
      existing.obj['data'] =
        behavior === 'replace' ? data : { ...(existing.obj['data'] as object), ...data }
      existing.obj['type'] = type
    } else {
      throw new Error(`${file}: secretGenerator behavior '${behavior}' is not supported`)
    }
  }

  // 3. patches (strategic merge, one or more documents per file, targeted by kind + name).
  for (const p of asArray<Record<string, unknown>>(k['patches'])) {
    if (Object.keys(p).some((key) => key !== 'path') || typeof p['path'] !== 'string') {
      throw new Error(`${file}: only 'patches: - path: <file>' (strategic merge) is supported`)
    }
    for (const patch of parseObjects(readFileSync(join(dir, p['path']), 'utf8'))) {
      const target = objects.find(
        (o) =>
          o.kind === patch.kind &&
          o.metadata.name === patch.metadata.name &&
          (patch.metadata.namespace === undefined ||
            (o.metadata.namespace ?? '') === patch.metadata.namespace)
      )
      if (!target)
        throw new Error(`${file}: patch target ${patch.kind}/${patch.metadata.name} not found`)
      const merged = strategicMerge(target, patch) as K8sObject
      Object.assign(target, merged)
    }
  }

  // 4. transformers: namespace, labels, images.
  if (k['namespace'] !== undefined) {
    const ns = k['namespace'] as string
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = ns
    for (const o of objects) {
      if (o.kind !== 'ClusterRoleBinding' && o.kind !== 'RoleBinding') continue
      for (const s of asArray<Record<string, unknown>>(o['subjects'])) {
        if (
          s['kind'] === 'ServiceAccount' &&
          objects.some((x) => x.kind === 'ServiceAccount' && x.metadata.name === s['name'])
        ) {
          s['namespace'] = ns
        }
      }
    }
  }
  for (const l of asArray<Record<string, unknown>>(k['labels'])) {
    if (l['includeSelectors'] === true || l['includeTemplates'] === true) {
      throw new Error(`${file}: labels with includeSelectors/includeTemplates are not supported`)
    }
    const pairs = (l['pairs'] ?? {}) as Record<string, string>
    for (const o of objects) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...pairs }
  }
  for (const img of asArray<Record<string, string>>(k['images'])) {
    for (const o of objects) {
      for (const c of podContainers(o)) {
        const ref = parseImage(String(c['image']))
        if (ref.name !== img['name']) continue
        const name = img['newName'] ?? ref.name
        const tag = img['newTag'] ?? ref.tag
        const digest = img['digest'] ?? ref.digest
        c['image'] = `${name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`
      }
    }
  }

  return { objects, generated }
}

/** name[:tag][@digest], where a registry host may carry a port (registry:5000/x). */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
  }
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), ...(digest ? { digest } : {}) }
  }
  return { name: rest, ...(digest ? { digest } : {}) }
}

/** Containers and init containers of any pod-templated object (live references). */
export function podContainers(o: K8sObject): Record<string, unknown>[] {
  const spec = podSpec(o)
  if (!spec) return []
  return [
    ...asArray<Record<string, unknown>>(spec['initContainers']),
    ...asArray<Record<string, unknown>>(spec['containers']),
  ]
}

export function podSpec(o: K8sObject): Record<string, unknown> | undefined {
  if (o.kind === 'Pod') return o['spec'] as Record<string, unknown> | undefined
  if (o.kind === 'CronJob') {
    const job = ((o['spec'] as Record<string, unknown> | undefined)?.['jobTemplate'] ??
      {}) as Record<string, unknown>
    return (
      (job['spec'] as Record<string, unknown> | undefined)?.['template'] as
        Record<string, unknown> | undefined
    )?.['spec'] as Record<string, unknown> | undefined
  }
  if (!POD_TEMPLATE_KINDS.has(o.kind)) return undefined
  const template = (o['spec'] as Record<string, unknown> | undefined)?.['template'] as
    Record<string, unknown> | undefined
  return template?.['spec'] as Record<string, unknown> | undefined
}

function renameSecretReferences(o: K8sObject, renames: Map<string, string>): void {
  const spec = podSpec(o)
  if (!spec) return
  const ns = o.metadata.namespace ?? ''
  const renamed = (name: unknown): string | undefined =>
    typeof name === 'string' ? renames.get(`${ns}/${name}`) : undefined
  for (const c of podContainers(o)) {
    for (const e of asArray<Record<string, unknown>>(c['env'])) {
      const ref = (e['valueFrom'] as Record<string, Record<string, unknown>> | undefined)?.[
        'secretKeyRef'
      ]
      const n = ref && renamed(ref['name'])
      if (ref && n) ref['name'] = n
    }
    for (const e of asArray<Record<string, Record<string, unknown>>>(c['envFrom'])) {
      const ref = e['secretRef']
      const n = ref && renamed(ref['name'])
      if (ref && n) ref['name'] = n
    }
  }
  for (const v of asArray<Record<string, Record<string, unknown>>>(spec['volumes'])) {
    const ref = v['secret']
    const n = ref && renamed(ref['secretName'])
    if (ref && n) ref['secretName'] = n
  }
}

/**
 * kustomize's hash suffix for a Secret (api/hasher): sha256 over the JSON of
 * {data, kind, name, type} (keys sorted, Go's HTML-safe escaping), first 10 hex digits with
 * 0→g 1→h 3→k a→m e→t so the suffix can never look like a number. kustomize v5 looks the name up
 * as a single field called "metadata/name", finds none and hashes "" in its place: reproduced
 * here, since the point is to match its output (the test pins a value kustomize v5.5.0 printed).
 */
export function secretHash(secret: K8sObject): string {
  const m: Record<string, unknown> = {
    data: secret['data'] ?? {},
    kind: 'Secret',
    name: '',
    type: secret['type'] ?? '',
  }
  if (secret['stringData'] !== undefined) m['stringData'] = secret['stringData']
  const json = goJson(m)
  const hex = createHash('sha256').update(json).digest('hex')
  const map: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' }
  return [...hex.slice(0, 10)].map((ch) => map[ch] ?? ch).join('')
}

/** encoding/json.Marshal: map keys sorted, <, > and & escaped. */
function goJson(value: unknown): string {
  if (isRecord(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((key) => `${goJson(key)}:${goJson(value[key])}`).join(',')}}`
  }
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
}

/** patchMergeKey of the list fields deploy/ patches; every other list is replaced whole. */
function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'env':
    case 'volumes':
    case 'imagePullSecrets':
      return 'name'
    case 'volumeMounts':
      return 'mountPath'
    case 'ports':
      // Container ports merge on containerPort, Service ports on port.
      return items.some((i) => isRecord(i) && 'containerPort' in i) ? 'containerPort' : 'port'
    default:
      return undefined
  }
}

/** Strategic merge for the simple cases: maps merge, keyed lists merge by key, null deletes. */
export function strategicMerge(base: unknown, patch: unknown, field = ''): unknown {
  if (isRecord(base) && isRecord(patch)) {
    const out: Record<string, unknown> = { ...base }
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key]
      else out[key] = key in base ? strategicMerge(base[key], value, key) : value
    }
    return out
  }
  if (Array.isArray(base) && Array.isArray(patch)) {
    const baseItems: unknown[] = base
    const patchItems: unknown[] = patch
    const key = mergeKeyFor(field, [...baseItems, ...patchItems])
    if (!key) return patch
    const out = [...baseItems]
    const added: unknown[] = []
    for (const item of patchItems) {
      const i = isRecord(item) ? out.findIndex((b) => isRecord(b) && b[key] === item[key]) : -1
      if (i >= 0) out[i] = strategicMerge(out[i], item, '')
      else added.push(item)
    }
    return [...out, ...added]
  }
  return patch
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function asArray<T>(v: unknown): T[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new Error(`expected a list, got ${JSON.stringify(v)}`)
  return v as T[]
}
