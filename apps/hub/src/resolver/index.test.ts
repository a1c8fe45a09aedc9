import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { until } from '@tapwire/testing'
import { startK8sApiServer } from '@tapwire/testing'
import { StaticMappingError, createResolver } from './index.js'

const dir = mkdtempSync(join(tmpdir(), 'tapwire-resolver-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('createResolver', () => {
  it('reads a static mapping file and rejects a malformed one with a clear message', () => {
    const file = join(dir, 'map.json')
    writeFileSync(
      file,
      JSON.stringify([
        { ip: '10.0.0.1', pod: 'a', ns: 'x', labels: { app: 'a' } },
        { ip: 'fd00::1', port: 443, svc: 'edge', ns: 'gw' },
      ])
    )
    const r = createResolver({ staticFile: file, log: () => {} })
    expect(r.kind).toBe('static')
    expect(r.resolve('10.0.0.1', 1, 0)).toMatchObject({
      pod: 'a',
      ns: 'x',
      labels: { app: 'a' },
      status: '',
    })
    expect(r.resolve('fd00::1', 443, Date.now())).toMatchObject({ svc: 'edge', status: '' })
    for (const bad of [
      '{}',
      '[{"ip":"nope"}]',
      '[{"ip":"10.0.0.1","port":70000}]',
      '[{"ip":"10.0.0.1","labels":{"a":1}}]',
      'not json',
    ]) {
      writeFileSync(file, bad)
      expect(() => createResolver({ staticFile: file, log: () => {} })).toThrow(StaticMappingError)
    }
  })

  it('is the null resolver without Kubernetes or a mapping', () => {
    const r = createResolver({ log: () => {} })
    expect(r.kind).toBe('none')
    expect(r.resolve('10.0.0.1', 80, 0).status).toBe('no_resolver')
  })

  it('watches the cluster of a kubeconfig file', async () => {
    const server = await startK8sApiServer()
    const file = join(dir, 'kubeconfig')
    server.writeKubeconfig(file)
    server.add('pods', {
      metadata: { name: 'a', namespace: 'ns1' },
      spec: {},
      status: { phase: 'Running', podIP: '10.9.0.1' },
    })
    const logs: string[] = []
    const r = createResolver({ kubeconfig: file, log: (m) => logs.push(m) })
    try {
      await r.start()
      await until('synced', () => r.ready, 3000).catch((e) => {
        throw new Error(`${(e as Error).message}: ${logs.join('; ')}`)
      })
      expect(r.kind).toBe('kubernetes')
      expect(r.resolve('10.9.0.1', 0, Date.now())).toMatchObject({ pod: 'a', ns: 'ns1' })
    } finally {
      await r.stop()
      await server.close()
    }
  })
})
