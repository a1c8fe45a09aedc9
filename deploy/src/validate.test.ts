import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { K8sObject } from './render.js'
import { deployDir, pickRenderer, podContainers } from './render.js'
import { checkFields, validateAll, validateSchemas } from './validate.js'

const dirs = ['base', 'overlays/dev', 'overlays/production'] as const
const rendered = new Map<string, K8sObject[]>()

beforeAll(() => {
  const renderer = pickRenderer()
  for (const dir of dirs) rendered.set(dir, renderer.render(join(deployDir, dir)))
})

function hub(): K8sObject {
  const o = rendered.get('base')!.find((x) => x.kind === 'Deployment')
  return structuredClone(o!)
}

describe('every rendered object validates against the Kubernetes OpenAPI schemas', () => {
  for (const dir of dirs) {
    it(dir, () => {
      const objects = rendered.get(dir)!
      expect(validateAll(objects)).toEqual([])
    })
  }
})

describe('the validator rejects broken objects', () => {
  it('an unknown top-level field', () => {
    const o = hub() as K8sObject & { spex?: unknown }
    o['spex'] = o['spec']
    const issues = checkFields([o])
    expect(issues.map((i) => i.message).join('\n')).toMatch(/spex/)
  })

  it('an unknown field deep in a container', () => {
    const o = hub()
    podContainers(o)[0]!['imagePullPolicee'] = 'Always'
    const issues = validateAll([o])
    expect(issues).toHaveLength(1)
    expect(issues[0]!.message).toMatch(/imagePullPolicee/)
    expect(issues[0]!.object).toBe('Deployment/tapwire/tapwire-hub')
  })

  it('a misspelt securityContext field', () => {
    const o = hub()
    const sc = podContainers(o)[0]!['securityContext'] as Record<string, unknown>
    sc['readOnlyRootFileSystem'] = true
    expect(
      checkFields([o])
        .map((i) => i.message)
        .join('\n')
    ).toMatch(/readOnlyRootFileSystem/)
  })

  it('a wrong type (string port)', () => {
    const o = hub()
    ;(podContainers(o)[0]!['ports'] as Record<string, unknown>[])[0]!['containerPort'] = '8898'
    expect(
      validateSchemas([o])
        .map((i) => i.message)
        .join('\n')
    ).toMatch(/containerPort must be integer/)
    expect(checkFields([o])).not.toEqual([])
  })

  it('a value outside an enum', () => {
    const o = hub()
    podContainers(o)[0]!['imagePullPolicy'] = 'Sometimes'
    expect(validateAll([o])).not.toEqual([])
  })

  it('a missing required field', () => {
    const o = hub()
    delete podContainers(o)[0]!['name']
    expect(
      validateSchemas([o])
        .map((i) => i.message)
        .join('\n')
    ).toMatch(/name/)
  })

  it('a kind it has no schema for', () => {
    const o: K8sObject = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }
    expect(validateSchemas([o])).toHaveLength(1)
    expect(checkFields([o])).toHaveLength(1)
  })
})
