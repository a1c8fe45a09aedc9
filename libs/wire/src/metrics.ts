/** Prometheus text exposition (format 0.0.4) for the counters hub and agents expose on /metrics. */
export type MetricSet = Record<string, [help: string, value: number]>

export function renderMetrics(prefix: string, metrics: MetricSet): string {
  let out = ''
  for (const [name, [help, value]] of Object.entries(metrics)) {
    const full = `${prefix}_${name}`
    const type = name.endsWith('_total') ? 'counter' : 'gauge'
    out += `# HELP ${full} ${help}\n# TYPE ${full} ${type}\n${full} ${Number.isFinite(value) ? value : 0}\n`
  }
  return out
}
