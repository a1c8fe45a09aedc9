/**
 * Offline validation of rendered objects against the Kubernetes OpenAPI schemas, in two passes,
 * both driven by the `kubernetes-models` package (models generated from the Kubernetes OpenAPI
 * spec; no cluster, no network):
 *
 * 1. `validateSchemas`: each object through its model's `validate()` (ajv validators compiled from
 *    the OpenAPI schemas): types, required fields, formats, int-or-string, quantities.
 * 2. `checkFields`: the generated schemas are open (no additionalProperties: false), so an unknown
 *    or misspelt field passes pass 1. Pass 2 type-checks every object as an object literal against
 *    the model's TypeScript interface (generated from the same OpenAPI spec) with the TypeScript
 *    compiler: excess-property checks reject unknown fields at any depth, and enum fields are
 *    literal unions. A kind without a model is itself an error.
 */
import { join } from 'node:path'
import ts from 'typescript'
import {
  Namespace,
  ConfigMap,
  Secret,
  Service,
  ServiceAccount,
  PersistentVolumeClaim,
} from 'kubernetes-models/v1'
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1'
import type { K8sObject } from './render.js'
import { deployDir } from './render.js'

export interface ValidationIssue {
  /** kind/namespace/name */
  object: string
  pass: 'schema' | 'fields'
  message: string
}

interface ModelClass {
  new (data: never): { validate(): void }
}

interface ModelEntry {
  model: ModelClass
  /** Module and interface name for the TypeScript pass. */
  module: string
  iface: string
}

function entry(model: unknown, group: string, kind: string): ModelEntry {
  return {
    model: model as ModelClass,
    module: `kubernetes-models/${group}/${kind}`,
    iface: `I${kind}`,
  }
}

/** apiVersion/kind → model. Extend when deploy/ starts using a new kind. */
export const models: ReadonlyMap<string, ModelEntry> = new Map([
  ['v1/Namespace', entry(Namespace, 'v1', 'Namespace')],
  ['v1/ConfigMap', entry(ConfigMap, 'v1', 'ConfigMap')],
  ['v1/Secret', entry(Secret, 'v1', 'Secret')],
  ['v1/Service', entry(Service, 'v1', 'Service')],
  ['v1/ServiceAccount', entry(ServiceAccount, 'v1', 'ServiceAccount')],
  ['v1/PersistentVolumeClaim', entry(PersistentVolumeClaim, 'v1', 'PersistentVolumeClaim')],
  ['apps/v1/Deployment', entry(Deployment, 'apps/v1', 'Deployment')],
  ['apps/v1/StatefulSet', entry(StatefulSet, 'apps/v1', 'StatefulSet')],
  ['apps/v1/DaemonSet', entry(DaemonSet, 'apps/v1', 'DaemonSet')],
  ['networking.k8s.io/v1/Ingress', entry(Ingress, 'networking.k8s.io/v1', 'Ingress')],
  [
    'networking.k8s.io/v1/NetworkPolicy',
    entry(NetworkPolicy, 'networking.k8s.io/v1', 'NetworkPolicy'),
  ],
  [
    'rbac.authorization.k8s.io/v1/ClusterRole',
    entry(ClusterRole, 'rbac.authorization.k8s.io/v1', 'ClusterRole'),
  ],
  [
    'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    entry(ClusterRoleBinding, 'rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
  ],
  ['rbac.authorization.k8s.io/v1/Role', entry(Role, 'rbac.authorization.k8s.io/v1', 'Role')],
  [
    'rbac.authorization.k8s.io/v1/RoleBinding',
    entry(RoleBinding, 'rbac.authorization.k8s.io/v1', 'RoleBinding'),
  ],
  ['policy/v1/PodDisruptionBudget', entry(PodDisruptionBudget, 'policy/v1', 'PodDisruptionBudget')],
  [
    'scheduling.k8s.io/v1/PriorityClass',
    entry(PriorityClass, 'scheduling.k8s.io/v1', 'PriorityClass'),
  ],
])

export function describeObject(o: K8sObject): string {
  return `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? '?'}`
}

/** Pass 1: every object through its model's OpenAPI validator. */
export function validateSchemas(objects: readonly K8sObject[]): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  for (const o of objects) {
    const m = models.get(`${o.apiVersion}/${o.kind}`)
    if (!m) {
      issues.push({
        object: describeObject(o),
        pass: 'schema',
        message: `no schema for ${o.apiVersion} ${o.kind}`,
      })
      continue
    }
    try {
      new m.model(structuredClone(o) as never).validate()
    } catch (err) {
      issues.push({
        object: describeObject(o),
        pass: 'schema',
        message: err instanceof Error ? err.message : String(err),
      })
    }
  }
  return issues
}

/** Pass 2: unknown fields and wrong types, via the TypeScript compiler and the model interfaces. */
export function checkFields(objects: readonly K8sObject[]): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const fileName = join(deployDir, 'src', '__rendered_objects__.ts')
  const imports = new Map<string, string>()
  const lines: string[] = []
  /** first line (0-based) of each object's literal, for mapping diagnostics back. */
  const starts: { line: number; index: number }[] = []
  const body: string[] = []
  objects.forEach((o, index) => {
    const m = models.get(`${o.apiVersion}/${o.kind}`)
    if (!m) {
      issues.push({
        object: describeObject(o),
        pass: 'fields',
        message: `no schema for ${o.apiVersion} ${o.kind}`,
      })
      return
    }
    const alias = `T${imports.size}`
    if (!imports.has(m.module)) imports.set(m.module, alias)
    const typeName = imports.get(m.module) ?? alias
    starts.push({ line: body.length, index })
    body.push(...`export const o${index}: ${typeName} = ${JSON.stringify(o, null, 2)}`.split('\n'))
  })
  for (const [module, alias] of imports) {
    const m = [...models.values()].find((x) => x.module === module)
    lines.push(`import type { ${m?.iface ?? ''} as ${alias} } from '${module}'`)
  }
  const header = lines.length
  const source = [...lines, ...body].join('\n')

  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === fileName
      ? ts.createSourceFile(name, source, languageVersion, true)
      : getSourceFile(name, languageVersion, onError, shouldCreate)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === fileName || fileExists(name)
  const program = ts.createProgram([fileName], options, host)
  const file = program.getSourceFile(fileName)
  const diagnostics = [
    ...program.getSyntacticDiagnostics(file),
    ...program.getSemanticDiagnostics(file),
  ]
  for (const d of diagnostics) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file?.fileName !== fileName || d.start === undefined) {
      issues.push({ object: '(schema check)', pass: 'fields', message })
      continue
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start)
    const bodyLine = line - header
    const owner = [...starts].reverse().find((s) => s.line <= bodyLine)
    const o = owner ? objects[owner.index] : undefined
    issues.push({
      object: o ? describeObject(o) : '(imports)',
      pass: 'fields',
      message: `${message} (line ${owner ? bodyLine - owner.line + 1 : line + 1} of the object's JSON)`,
    })
  }
  return issues
}

export function validateAll(objects: readonly K8sObject[]): ValidationIssue[] {
  return [...validateSchemas(objects), ...checkFields(objects)]
}
