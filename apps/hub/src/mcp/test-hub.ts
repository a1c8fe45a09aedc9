import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import type { Entry } from '@tapwire/wire'
import { createApp } from '../app.js'
import { compileKflFilter } from '../kfl-filter.js'
import type { DissectionControl } from '../control/dissection-control.js'
import { NodeRegistry } from '../nodes/node-registry.js'
import { EntryStore } from '../store/entry-store.js'

/**
 * A real hub HTTP surface (store, KFL, REST routes, MCP) on a loopback port, for the MCP and CLI
 * tests. It is not a test file so the CLI project's tests can start the same hub.
 */

/** Twelve calls over two nodes and three namespaces; every fifth fails, every third is slow. */
export function sampleEntries(n = 12): Entry[] {
  const out: Entry[] = []
  for (let i = 0; i < n; i++) {
    out.push({
      id: `node-${i % 2}/${100 + i}/0`,
      node: `node-${i % 2}`,
      worker: `w${i % 2}`,
      ts: 1_700_000_000_000 + i * 1000,
      proto: 'http',
      method: i % 4 === 0 ? 'POST' : 'GET',
      path: `/api/${i % 3 === 0 ? 'orders' : 'users'}/${i}`,
      status: i % 5 === 0 ? 500 : 200,
      elapsedUs: i % 3 === 0 ? 2_500_000 : 1500,
      src: { ip: '10.0.0.1', port: 40000 + i, ns: 'frontend', pod: `web-${i % 2}` },
      dst: {
        ip: '10.0.0.2',
        port: 8080,
        ns: i % 2 ? 'backend' : 'payments',
        svc: i % 2 ? 'api' : 'pay',
      },
    })
  }
  return out
}

export interface TestHub {
  url: string
  /** The app as served: MCP mounted in front of the hub's REST app. */
  app: Hono
  store: EntryStore
  /** The dissection switch the REST routes flip (in memory: no NATS in these tests). */
  dissection: { enabled: boolean }
  close(): Promise<void>
}

export async function startTestHub(
  opts: { entries?: Entry[]; authToken?: string } = {}
): Promise<TestHub> {
  const store = new EntryStore({ segmentSize: 4 })
  for (const e of opts.entries ?? sampleEntries()) store.add(e)
  const dissection = { enabled: true }
  const control: DissectionControl = {
    enabled: () => Promise.resolve(dissection.enabled),
    set: (on) => {
      dissection.enabled = on
      return Promise.resolve()
    },
  }
  const app = createApp({
    store,
    compileFilter: compileKflFilter,
    ready: () => true,
    metrics: () => '',
    authToken: opts.authToken,
    registry: new NodeRegistry(),
    control,
  })
  // The production app as it is: createApp mounts the origin guard, MCP and discovery itself.
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    store,
    dissection,
    close: () =>
      new Promise<void>((resolve) => {
        // Keep-alive sockets of the clients would hold close() open.
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}
