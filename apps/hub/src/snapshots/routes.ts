import { ServerResponse } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { Context, Hono } from 'hono'
import { PCAP_MIME, PCAPNG_MIME } from '@tapwire/pcap'
import { ApiError, ErrorCode } from '../errors.js'
import type { CallFilter } from '../routes/calls.js'
import { validateBody, validateQuery } from '../routes/params.js'
import { CREATE_SNAPSHOT_PARAMS, EXPORT_PCAP_QUERY_PARAMS } from '../routes/route-defs.js'
import type { EntryStore } from '../store/entry-store.js'
import { resolveRange } from './byte-range.js'
import { connectionKeyOfEntry, exportLength, planExport, runExport } from './export.js'
import type { ExportWindow } from './export.js'
import type { SnapshotManager } from './snapshot-manager.js'
import { snapshotDetails, snapshotSummary } from './snapshot-manager.js'
import { checkName } from './validate.js'

export interface SnapshotRoutesDeps {
  snapshots?: SnapshotManager | undefined
  store: EntryStore
  compileFilter: (kfl: string) => CallFilter | undefined
  /** The newest completed dissection DB of a snapshot, if any (preferred over the live store for kfl). */
  snapshotDb?: ((snapshot: string) => Promise<EntryStore | undefined>) | undefined
  log?: ((msg: string) => void) | undefined
}

type Audit = (c: Context, action: string) => void

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch {
    throw new ApiError(400, ErrorCode.INVALID_BODY, 'the request body must be a JSON object')
  }
}

function manager(deps: SnapshotRoutesDeps): SnapshotManager {
  if (!deps.snapshots)
    throw new ApiError(503, ErrorCode.NOT_CONFIGURED, 'snapshots are not available on this hub')
  return deps.snapshots
}

const splitNodes = (v: string | string[] | undefined): string[] | undefined => {
  if (v === undefined) return undefined
  const list = (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== '')
  return list.length > 0 ? list : undefined
}

/** Raw capture status, data boundaries, and the snapshot lifecycle with the merged PCAP export. */
export function mountSnapshots(app: Hono, deps: SnapshotRoutesDeps, audit: Audit): void {
  app.get('/mcp/raw-capture', (c) => {
    validateQuery([], c.req.queries())
    return c.json(manager(deps).rawCapture())
  })

  app.get('/mcp/data-boundaries', (c) => {
    validateQuery([], c.req.queries())
    return c.json(manager(deps).boundaries())
  })

  app.get('/mcp/snapshots', (c) => {
    validateQuery([], c.req.queries())
    return c.json({ snapshots: manager(deps).list().map(snapshotSummary) })
  })

  app.post('/mcp/snapshots', async (c) => {
    const b = validateBody(CREATE_SNAPSHOT_PARAMS, await jsonBody(c))
    const mgr = manager(deps)
    const m = await mgr.create({
      name: b.name ?? '',
      duration: b.duration,
      start: b.start,
      end: b.end,
      nodes: splitNodes(b.nodes),
    })
    audit(
      c,
      `snapshot create ${m.name} window ${m.start_ts}..${m.end_ts} nodes ${m.nodes.map((n) => n.name).join(',')}`
    )
    return c.json({ success: true, name: m.name, status: m.status }, 201)
  })

  app.get('/mcp/snapshots/:name', (c) => {
    validateQuery([], c.req.queries())
    return c.json(snapshotDetails(manager(deps).get(c.req.param('name'))))
  })

  app.delete('/mcp/snapshots/:name', async (c) => {
    validateQuery([], c.req.queries())
    const name = checkName('snapshot', c.req.param('name'))
    await manager(deps).delete(name)
    audit(c, `snapshot delete ${name}`)
    return c.json({ success: true, name })
  })

  app.get('/mcp/snapshots/:name/pcap', async (c) => {
    const q = validateQuery(EXPORT_PCAP_QUERY_PARAMS, c.req.queries())
    const mgr = manager(deps)
    const m = mgr.get(c.req.param('name'))
    if (q.start_time !== undefined && q.end_time !== undefined && q.start_time > q.end_time) {
      throw new ApiError(
        400,
        ErrorCode.INVALID_TIME_RANGE,
        `start_time (${q.start_time}) is after end_time (${q.end_time})`,
        {
          start_time: q.start_time,
          end_time: q.end_time,
        }
      )
    }
    const format = q.format ?? 'pcap'
    let connections: Set<string> | undefined
    if (q.kfl !== undefined && q.kfl.trim() !== '') {
      // KFL selects calls; the export keeps every packet of the connections those calls used.
      const filter = deps.compileFilter(q.kfl)
      const db = (await deps.snapshotDb?.(m.name)) ?? deps.store
      const lo = Math.max(m.start_ts, q.start_time ?? -Infinity)
      const hi = Math.min(m.end_ts, q.end_time ?? Infinity)
      const { items } = db.query({
        start: db === deps.store ? Math.floor(lo) : undefined,
        end: db === deps.store ? Math.ceil(hi) : undefined,
        predicate: filter?.predicate,
        protocols: filter?.protocols,
        limit: Number.MAX_SAFE_INTEGER,
      })
      connections = new Set()
      for (const e of items) {
        const k = connectionKeyOfEntry(e)
        if (k !== undefined) connections.add(k)
      }
    }
    const nodes = splitNodes(q.nodes)
    const plan = await planExport(m, mgr.snapshotDir(m.name), {
      nodes,
      startMs: q.start_time,
      endMs: q.end_time,
      bpf: q.bpf_filter !== undefined && q.bpf_filter.trim() !== '' ? q.bpf_filter : undefined,
      connections,
      format,
    })
    const filters = [
      nodes ? `nodes=${nodes.join(',')}` : '',
      q.start_time !== undefined ? `start_time=${q.start_time}` : '',
      q.end_time !== undefined ? `end_time=${q.end_time}` : '',
      q.bpf_filter ? `bpf_filter=${JSON.stringify(q.bpf_filter)}` : '',
      q.kfl ? `kfl=${JSON.stringify(q.kfl)}` : '',
    ].filter((s) => s !== '')
    audit(
      c,
      `snapshot export ${m.name} format=${format}${filters.length ? ` ${filters.join(' ')}` : ''}`
    )
    const ext = format === 'pcapng' ? 'pcapng' : 'pcap'
    const headers: Record<string, string> = {
      'content-type': format === 'pcapng' ? PCAPNG_MIME : PCAP_MIME,
      'content-disposition': `attachment; filename="${m.name}.${ext}"`,
      'cache-control': 'no-store',
    }
    if (plan.missing.length > 0) headers['x-tapwire-missing-nodes'] = plan.missing.join(',')
    // Ranges (resuming a download, RFC 9110 §14) where the size is known before the merge: whole
    // node files, classic pcap. A completed snapshot never changes, and a deleted one recreated
    // under the same name has another created_at: that pair is the entity tag.
    const length = exportLength(plan)
    let status = 200
    let window: ExportWindow | undefined
    if (length !== undefined) {
      const etag = `"${Date.parse(m.created_at) || 0}-${length}"`
      headers['accept-ranges'] = 'bytes'
      headers['etag'] = etag
      const range = resolveRange(c.req.header('range'), length, etag, c.req.header('if-range'))
      if (range.kind === 'unsatisfiable') {
        const err = new ApiError(
          416,
          ErrorCode.RANGE_NOT_SATISFIABLE,
          `the range ${c.req.header('range') ?? ''} is outside the export (${length} bytes)`,
          { size: length }
        )
        return c.json(err.toJSON(), 416, { 'content-range': `bytes */${length}` })
      }
      if (range.kind === 'partial') {
        status = 206
        window = { start: range.start, end: range.end + 1 }
        headers['content-range'] = `bytes ${range.start}-${range.end}/${length}`
      }
    }
    const started = Date.now()
    // Nothing is read until the body is asked for (writeTo or stream).
    const run = runExport(plan, (msg) => deps.log?.(msg), window)
    const sized =
      run.sendLength === undefined
        ? headers
        : { ...headers, 'content-length': String(run.sendLength) }
    // HEAD: the headers alone, without a merge for a body nobody reads.
    if (c.req.method === 'HEAD') return c.body(null, status as 200, sized)
    run.done.then(
      (r) => {
        const ms = Date.now() - started
        deps.log?.(
          `export ${m.name}: ${r.packets} packets, ${r.bytes} bytes in ${ms} ms (${(r.bytes / 1e3 / Math.max(1, ms)).toFixed(0)} MB/s)`
        )
      },
      () => undefined
    )
    // Served by @hono/node-server: write to the socket directly, reusing the output pieces.
    // In-process callers (MCP's app.request, tests) get a web stream.
    const outgoing: unknown = (c.env as { outgoing?: unknown } | undefined)?.outgoing
    if (outgoing instanceof ServerResponse) {
      void run.writeTo(outgoing as ServerResponse<IncomingMessage>, headers, status)
      return RESPONSE_ALREADY_SENT
    }
    return new Response(run.stream(), { status, headers: sized })
  })
}
