/**
 * The spec documents' (KFL v1) names and the KFL2 variables they stand for. `response.latency`
 * is not a plain rename (milliseconds vs `elapsed_time` microseconds): the checker expands it.
 */
export const ALIASES: Readonly<Record<string, string>> = {
  'response.status': 'status_code',
  status: 'status_code',
  'request.method': 'method',
  'request.path': 'path',
  'request.url': 'url',
  'src.ns': 'src.namespace',
  'dst.ns': 'dst.namespace',
  'src.pod': 'src.pod.name',
  'dst.pod': 'dst.pod.name',
  'src.svc': 'src.service.name',
  'dst.svc': 'dst.service.name',
}

export const LATENCY_ALIAS = 'response.latency'
