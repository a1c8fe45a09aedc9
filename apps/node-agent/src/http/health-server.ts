import { createServer } from 'node:http'
import type { Server, ServerResponse } from 'node:http'

export interface HealthProbe {
  ready(): boolean
  /** Prometheus text exposition (version 0.0.4). */
  metrics(): string
}

/** `/healthz`, `/readyz` and `/metrics` for the kubelet and Prometheus. */
export function startHealthServer(port: number, host: string, probe: HealthProbe): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz') return json(res, 200, { status: 'ok' })
    if (path === '/readyz') return probe.ready() ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not ready' })
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      return res.end(probe.metrics())
    }
    json(res, 404, { error: { code: 'NOT_FOUND', message: `no route for ${path}` } })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}
