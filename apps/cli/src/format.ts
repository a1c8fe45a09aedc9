type Json = Record<string, unknown>

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : ''

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

function peer(e: unknown): string {
  if (!isObj(e)) return '-'
  const name = str(e['svc']) || str(e['pod'])
  const ns = str(e['ns'])
  if (name) return ns ? `${ns}/${name}` : name
  return str(e['ip']) ? `${str(e['ip'])}:${str(e['port'])}` : '-'
}

const time = (ts: unknown): string =>
  typeof ts === 'number' && Number.isFinite(ts)
    ? new Date(ts).toISOString().replace('T', ' ').replace('Z', '')
    : '-'

function callRows(calls: unknown[]): string[][] {
  return calls.map((c) => {
    if (!isObj(c)) return ['-', '-', '-', '-', '-', '-', '-', '-', JSON.stringify(c)]
    const lat =
      typeof c['latency_ms'] === 'number' ? `${Math.round(c['latency_ms'] * 100) / 100}ms` : '-'
    return [
      time(c['ts']),
      str(c['proto']) || '-',
      str(c['method']) || '-',
      str(c['status']) || '-',
      lat,
      peer(c['src']),
      peer(c['dst']),
      str(c['id']),
      str(c['path']),
    ]
  })
}

const CALL_HEADER = [
  'TIME (UTC)',
  'PROTO',
  'METHOD',
  'STATUS',
  'LATENCY',
  'SRC',
  'DST',
  'ID',
  'PATH',
]

/** `tapwire calls` as a table (grouped answers get one table per group). */
export function renderCalls(body: unknown): string {
  if (!isObj(body)) return JSON.stringify(body, null, 2)
  const total = str(body['total']) || '0'
  const truncated = body['truncated'] === true
  if (Array.isArray(body['groups'])) {
    const parts = [`${total} calls, grouped by ${str(body['group_by'])}`]
    for (const g of body['groups']) {
      if (!isObj(g)) continue
      parts.push(
        '',
        `${str(g['key']) || '(none)'}: ${str(g['total'])} calls`,
        table(CALL_HEADER, callRows(Array.isArray(g['calls']) ? g['calls'] : []))
      )
    }
    return parts.join('\n')
  }
  const calls = Array.isArray(body['calls']) ? body['calls'] : []
  if (calls.some((c) => !isObj(c) || !('latency_ms' in c)))
    return calls.map((c) => JSON.stringify(c)).join('\n')
  return `${table(CALL_HEADER, callRows(calls))}\n${calls.length} of ${total} calls${truncated ? ' (truncated; raise --limit or narrow --kfl)' : ''}`
}

export function renderSnapshots(body: unknown): string {
  const list = isObj(body) && Array.isArray(body['snapshots']) ? body['snapshots'] : []
  if (list.length === 0) return 'no snapshots'
  return table(
    ['NAME', 'STATUS', 'SIZE', 'CREATED', 'DURATION'],
    list.map((s) =>
      isObj(s)
        ? [
            str(s['name']),
            str(s['status']),
            humanBytes(s['size_bytes']),
            str(s['created_at']),
            str(s['duration']),
          ]
        : [JSON.stringify(s), '', '', '', '']
    )
  )
}

export function humanBytes(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}
