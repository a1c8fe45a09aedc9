/**
 * Text renderings of tool answers. structuredContent carries the exact JSON; the text block is
 * what many clients show the model, so it is compact: one line per call instead of ~300 bytes of
 * JSON, which lets a model read a hundred calls without drowning in braces.
 */

type Json = Record<string, unknown>

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : ''

function peer(e: unknown): string {
  if (!isObj(e)) return '?'
  const name = str(e['svc']) || str(e['pod'])
  const ns = str(e['ns'])
  if (name) return ns ? `${ns}/${name}` : name
  const ip = str(e['ip'])
  return ip ? `${ip}:${str(e['port'])}` : '?'
}

function time(ts: unknown): string {
  return typeof ts === 'number' && Number.isFinite(ts)
    ? new Date(ts).toISOString().replace('T', ' ').replace('Z', '')
    : '-'
}

/** One line per call: time, protocol, method, status, latency, src -> dst, path, id. */
export function callLine(c: unknown): string {
  if (!isObj(c)) return JSON.stringify(c)
  const latency =
    typeof c['latency_ms'] === 'number' ? `${Math.round(c['latency_ms'] * 100) / 100}ms` : '-'
  const err = isObj(c['error']) ? ` error=${str(c['error']['type'])}` : ''
  return [
    time(c['ts']),
    str(c['proto']) || '-',
    str(c['method']) || '-',
    str(c['status']) || '-',
    latency,
    `${peer(c['src'])} -> ${peer(c['dst'])}`,
    str(c['path']) || '-',
    `id=${str(c['id'])}${err}`,
  ].join('  ')
}

const CALL_HEADER = 'time (UTC)  proto  method  status  latency  src -> dst  path  id'

function renderCalls(body: Json): string {
  const total = str(body['total'])
  const truncated = body['truncated'] === true
  if (Array.isArray(body['groups'])) {
    const lines = [
      `${total} calls match, grouped by ${str(body['group_by'])}${truncated ? ' (each group shows its newest calls)' : ''}`,
    ]
    for (const g of body['groups']) {
      if (!isObj(g)) continue
      lines.push('', `## ${str(g['key']) || '(none)'}: ${str(g['total'])} calls`)
      if (Array.isArray(g['calls'])) lines.push(...g['calls'].map(callLine))
    }
    return lines.join('\n')
  }
  const calls = Array.isArray(body['calls']) ? body['calls'] : []
  if (calls.length === 0) return `No calls match (total ${total || 0}).`
  // The raw format is the worker's own entry shape: show it as JSON lines, not a broken table.
  const raw = calls.some((c) => !isObj(c) || !('latency_ms' in c))
  const head = `${total} calls match; showing ${calls.length}${truncated ? ' (truncated: raise limit or narrow the filter)' : ''}`
  return raw
    ? [head, ...calls.map((c) => JSON.stringify(c))].join('\n')
    : [head, CALL_HEADER, ...calls.map(callLine)].join('\n')
}

function renderSnapshots(body: Json): string {
  const list = Array.isArray(body['snapshots']) ? body['snapshots'] : []
  if (list.length === 0) return 'No snapshots.'
  return [
    'name  status  size_bytes  created_at  duration',
    ...list.map((s) =>
      isObj(s)
        ? [s['name'], s['status'], s['size_bytes'], s['created_at'], s['duration']]
            .map((v) => str(v) || '-')
            .join('  ')
        : JSON.stringify(s)
    ),
  ].join('\n')
}

/** The text block for a successful tool answer. */
export function renderResult(tool: string, body: unknown): string {
  if (isObj(body)) {
    if (tool === 'list_api_calls') return renderCalls(body)
    if (tool === 'list_snapshots') return renderSnapshots(body)
  }
  return JSON.stringify(body, null, 2)
}

/** The text block for an error answer: the message first (what the model acts on), then the object. */
export function renderError(status: number, body: unknown): string {
  const err = isObj(body) && isObj(body['error']) ? body['error'] : undefined
  if (!err) return `HTTP ${status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`
  return `Error ${str(err['code'])} (HTTP ${status}): ${str(err['message'])}\n${JSON.stringify(body)}`
}
