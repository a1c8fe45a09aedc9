import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { K8sObject } from './render.js'
import {
  deployDir,
  findRealRenderer,
  minimalRenderer,
  parseImage,
  pickRenderer,
  renderMinimal,
  secretHash,
  strategicMerge,
} from './render.js'

const overlays = ['base', 'overlays/dev', 'overlays/production'] as const
const real = findRealRenderer()

/** Order-insensitive view: objects keyed by kind/namespace/name, named lists sorted by name. */
function canonical(objects: K8sObject[]): Record<string, unknown> {
  const sortNamed = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      const items = v.map(sortNamed)
      const named = items.every(
        (i) =>
          typeof i === 'object' && i !== null && typeof (i as { name?: unknown }).name === 'string'
      )
      return named && items.length > 1
        ? [...items].sort((a, b) =>
            String((a as { name: string }).name).localeCompare((b as { name: string }).name)
          )
        : items
    }
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sortNamed(x)]))
    }
    return v
  }
  return Object.fromEntries(
    objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, sortNamed(o)])
  )
}

describe('renderer', () => {
  it('reports which renderer the suite uses', () => {
    const r = pickRenderer()
    console.info(`deploy: rendering with ${r.name}`)
    expect(r.name).toBeTruthy()
  })

  for (const dir of overlays) {
    it(`renders ${dir}`, () => {
      const objects = pickRenderer().render(join(deployDir, dir))
      expect(objects.length).toBeGreaterThan(15)
      const kinds = new Set(objects.map((o) => o.kind))
      for (const kind of [
        'Namespace',
        'StatefulSet',
        'Deployment',
        'DaemonSet',
        'Ingress',
        'NetworkPolicy',
        'Secret',
      ]) {
        expect(kinds, kind).toContain(kind)
      }
    })
  }

  it.skipIf(!real)('the minimal renderer matches the real kustomize on every overlay', () => {
    for (const dir of overlays) {
      const expected = canonical(real!.render(join(deployDir, dir)))
      const actual = canonical(minimalRenderer.render(join(deployDir, dir)))
      expect(Object.keys(actual).sort(), dir).toEqual(Object.keys(expected).sort())
      expect(actual, dir).toEqual(expected)
    }
  })

  it('computes kustomize secret hash suffixes', () => {
    // Value printed by kustomize v5.5.0 for the base placeholder.
    const secret: K8sObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tapwire-hub-auth' },
      type: 'Opaque',
      data: {
        token: Buffer.from('REPLACE_ME-generate-with-openssl-rand-hex-32').toString('base64'),
      },
    }
    expect(secretHash(secret)).toBe('fhfctd7h5h')
  })

  it('rewrites references to generated secrets', () => {
    const objects = renderMinimal(join(deployDir, 'base'))
    const secret = objects.find((o) => o.kind === 'Secret')!
    expect(secret.metadata.name).toMatch(/^tapwire-hub-auth-[a-z0-9]{10}$/)
    expect(JSON.stringify(objects.find((o) => o.kind === 'Deployment'))).toContain(
      `"name":"${secret.metadata.name}"`
    )
  })

  it('strategic merge merges keyed lists and replaces the rest', () => {
    const base = {
      containers: [
        {
          name: 'a',
          env: [
            { name: 'X', value: '1' },
            { name: 'Y', value: '2' },
          ],
          args: ['--a'],
        },
      ],
    }
    const patch = {
      containers: [{ name: 'a', env: [{ name: 'Y', value: '3' }], args: ['--b'] }, { name: 'b' }],
    }
    expect(strategicMerge(base, patch)).toEqual({
      containers: [
        {
          name: 'a',
          env: [
            { name: 'X', value: '1' },
            { name: 'Y', value: '3' },
          ],
          args: ['--b'],
        },
        { name: 'b' },
      ],
    })
    expect(strategicMerge({ a: 1, b: 2 }, { b: null })).toEqual({ a: 1 })
  })

  it('parses image references', () => {
    expect(parseImage('nats:2.10.24-alpine')).toEqual({ name: 'nats', tag: '2.10.24-alpine' })
    expect(parseImage('registry:5000/x/y')).toEqual({ name: 'registry:5000/x/y' })
    expect(parseImage('ghcr.io/a/b:1.0@sha256:abc')).toEqual({
      name: 'ghcr.io/a/b',
      tag: '1.0',
      digest: 'sha256:abc',
    })
  })
})
