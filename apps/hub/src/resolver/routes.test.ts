import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../errors.js'
import { IpHistory } from './ip-history.js'
import type { RecordSpec } from './ip-history.js'
import type { Resolver } from './resolver.js'
import { mountResolve } from './routes.js'

const spec = (over: Partial<RecordSpec>): RecordSpec => ({
  ip: '10.1.0.5',
  kind: 'pod',
  name: 'p',
  namespace: 'default',
  node: 'n1',
  labels: {},
  ports: [],
  uid: '',
  target: '',
  ...over,
})

let t = 1000
const history = new IpHistory({ now: () => t })
history.set('pods/shop/cart-1', [
  spec({ name: 'cart-1', namespace: 'shop', labels: { app: 'cart', version: 'v1' } }),
])
history.set('pods/shop/checkout-1', [
  spec({
    ip: '10.1.0.6',
    name: 'checkout-1',
    namespace: 'shop',
    labels: { app: 'checkout', version: 'v2' },
  }),
])
history.set('pods/billing/pay-1', [
  spec({ ip: '10.1.0.7', name: 'pay-1', namespace: 'billing', labels: { app: 'pay' } }),
])
history.set('services/shop/cart', [
  spec({
    ip: '10.96.0.30',
    kind: 'service',
    name: 'cart',
    namespace: 'shop',
    node: '',
    ports: [80],
    labels: { app: 'cart' },
  }),
])
history.set('endpointslices/shop/cart-x', [
  spec({ kind: 'endpoint', name: 'cart', namespace: 'shop' }),
])
t = 2000
history.remove('pods/shop/cart-1')
t = 3000
history.set('pods/billing/ledger-1', [
  spec({ name: 'ledger-1', namespace: 'billing', labels: { app: 'ledger' } }),
])

const resolver = { kind: 'static', ready: true, history } as unknown as Resolver
const app = new Hono()
app.onError((err, c) =>
  err instanceof ApiError ? c.json(err.toJSON(), err.status) : c.json({ error: String(err) }, 500)
)
mountResolve(app, { resolver, now: () => 5000 })

const get = async (path: string): Promise<{ status: number; body: any }> => {
  const res = await app.request(path)
  return { status: res.status, body: await res.json() }
}

describe('GET /mcp/resolve/workloads', () => {
  it('lists current pods and services with their IPs', async () => {
    const { status, body } = await get('/mcp/resolve/workloads')
    expect(status).toBe(200)
    expect(body.total).toBe(4)
    expect(body.workloads.map((w: any) => `${w.kind}:${w.namespace}/${w.name}`)).toEqual([
      'pod:billing/ledger-1',
      'pod:billing/pay-1',
      'service:shop/cart',
      'pod:shop/checkout-1',
    ])
    expect(body.workloads[0]).toEqual({
      name: 'ledger-1',
      namespace: 'billing',
      kind: 'pod',
      labels: { app: 'ledger' },
      ips: [{ ip: '10.1.0.5', timestamp: 3000 }],
    })
  })

  it('answers as of a timestamp and filters by name, namespaces, regex, labels and type', async () => {
    const past = await get('/mcp/resolve/workloads?timestamp=1500&name=cart-1&namespace=shop')
    expect(past.body.workloads).toEqual([
      {
        name: 'cart-1',
        namespace: 'shop',
        kind: 'pod',
        labels: { app: 'cart', version: 'v1' },
        ips: [{ ip: '10.1.0.5', timestamp: 1000 }],
      },
    ])
    expect((await get('/mcp/resolve/workloads?name=cart-1&namespace=shop')).body.total).toBe(0)
    expect((await get('/mcp/resolve/workloads?namespaces=shop,billing&type=pod')).body.total).toBe(
      3
    )
    expect(
      (await get('/mcp/resolve/workloads?name_regex=^pay')).body.workloads.map((w: any) => w.name)
    ).toEqual(['pay-1'])
    expect(
      (await get('/mcp/resolve/workloads?labels=app=checkout,version=v2')).body.workloads.map(
        (w: any) => w.name
      )
    ).toEqual(['checkout-1'])
    expect(
      (await get('/mcp/resolve/workloads?type=service')).body.workloads.map((w: any) => w.name)
    ).toEqual(['cart'])
  })

  it('rejects bad parameters with stable codes', async () => {
    const cases: [string, number, string][] = [
      ['/mcp/resolve/workloads?name=cart-1', 400, 'MISSING_PARAMETER'],
      ['/mcp/resolve/workloads?type=deployment', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/workloads?labels=app', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/workloads?name_regex=(', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/workloads?timestamp=yesterday', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/workloads?pod=x', 400, 'UNKNOWN_PARAMETER'],
      ['/mcp/resolve/workloads?snapshot_id=incident-1', 404, 'SNAPSHOT_NOT_FOUND'],
      ['/mcp/resolve/ips?ip=10.1.0', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/ips?timestamp=-1', 400, 'INVALID_PARAMETER'],
      ['/mcp/resolve/ips?snapshot_id=x', 404, 'SNAPSHOT_NOT_FOUND'],
    ]
    for (const [path, status, code] of cases) {
      const r = await get(path)
      expect([path, r.status, r.body.error?.code]).toEqual([path, status, code])
    }
  })
})

describe('GET /mcp/resolve/ips', () => {
  it('lists an IP with every workload that held it, newest first', async () => {
    const { body } = await get('/mcp/resolve/ips?ip=10.1.0.5')
    expect(body).toEqual({
      ips: [
        {
          ip: '10.1.0.5',
          records: [
            { name: 'ledger-1', namespace: 'billing', kind: 'pod', timestamp: 3000, end: null },
            { name: 'cart-1', namespace: 'shop', kind: 'pod', timestamp: 1000, end: 2000 },
          ],
        },
      ],
      total: 1,
    })
  })

  it('answers as of a timestamp, with filters', async () => {
    expect(
      (await get('/mcp/resolve/ips?ip=10.1.0.5&timestamp=1500')).body.ips[0].records.map(
        (r: any) => r.name
      )
    ).toEqual(['cart-1'])
    expect((await get('/mcp/resolve/ips?ip=10.1.0.5&timestamp=2500')).body).toEqual({
      ips: [],
      total: 0,
    })
    const shop = await get('/mcp/resolve/ips?namespaces=shop&timestamp=4000')
    expect(shop.body.ips.map((i: any) => i.ip)).toEqual(['10.1.0.6', '10.96.0.30'])
    expect((await get('/mcp/resolve/ips?labels=app=pay')).body.ips.map((i: any) => i.ip)).toEqual([
      '10.1.0.7',
    ])
    expect((await get('/mcp/resolve/ips?name_regex=^ledger')).body.total).toBe(1)
  })

  it('is empty without a resolver', async () => {
    const bare = new Hono()
    mountResolve(bare, {})
    const res = await bare.request('/mcp/resolve/ips')
    expect(await res.json()).toEqual({ ips: [], total: 0 })
  })
})
