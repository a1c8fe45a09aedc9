import { describe, it, expect } from 'vitest'
import { compile } from './index.js'
import { ALL_NAMES, FIXTURES, NOW, nameOf } from './test-fixtures.js'

const select = (filter: string): string[] =>
  FIXTURES.filter(compile(filter, { clock: () => NOW }).predicate).map(nameOf)
const except = (...names: string[]): string[] => ALL_NAMES.filter((n) => !names.includes(n))

const HTTP_CARRIED = [
  'get-200',
  'get-404',
  'post-500',
  'slow-report',
  'health',
  'db-query',
  'grpc-ok',
  'grpc-unavailable',
  'gql-query',
]

// Every example of docs/spec kfl.md, with exactly the fixture entries it must select.
const SPEC_DOCUMENT_EXAMPLES: [string, string[]][] = [
  ['http', HTTP_CARRIED],
  ['http and response.status == 500', ['post-500']],
  ['http and response.status >= 400', ['get-404', 'post-500', 'gql-query']],
  ['grpc', ['grpc-ok', 'grpc-unavailable']],
  ['request.path contains "/api/orders"', ['post-500']],
  ['request.path contains "/api/v1"', ['get-200', 'get-404']],
  [
    'src.ns == "frontend" and dst.ns == "backend"',
    ['get-200', 'get-404', 'post-500', 'grpc-ok', 'gql-query', 'tcp-reset'],
  ],
  ['dst.pod == "database"', ['db-query']],
  ['request.headers["Authorization"] == ""', except('get-200', 'post-500')],
  ['response.latency > 1000', ['slow-report', 'grpc-unavailable']],
]

const KFL2_EXAMPLES: [string, string[]][] = [
  ['http && method == "GET" && status_code >= 400', ['get-404']],
  ['dst.pod.namespace == "production"', ['slow-report', 'grpc-unavailable']],
  ['dns && "example.com" in dns_questions', ['dns-example']],
  ['http && response_body_size > 10000', ['post-500', 'slow-report']],
  ['grpc && grpc_status != 0', ['grpc-unavailable']],
  ['http && elapsed_time > 5000000', ['slow-report', 'grpc-unavailable']],
  [
    'timestamp > now() - duration("5m")',
    [
      'redis-session',
      'redis-cache',
      'kafka-produce',
      'kafka-fetch',
      'amqp-publish',
      'pg-select-fail',
      'pg-insert-ok',
      'mysql-query',
      'tcp-reset',
      'tcp-ok',
    ],
  ],
  [
    'src.ip.startsWith("10.1.")',
    ['get-200', 'get-404', 'post-500', 'grpc-ok', 'gql-query', 'dns-example', 'tcp-reset'],
  ],
  [
    'dst.port >= 8000 && dst.port <= 9000',
    [
      'get-200',
      'get-404',
      'post-500',
      'slow-report',
      'health',
      'db-query',
      'grpc-ok',
      'gql-query',
      'tcp-reset',
      'tcp-ok',
    ],
  ],
  ['http && "authorization" in request.headers', ['get-200', 'post-500']],
  ['http && request.headers["content-type"] == "application/json"', ['post-500', 'db-query']],
  ['http && url.matches(".*/api/v[0-9]+/.*")', ['get-200', 'get-404', 'slow-report']],
  ['redis && redis_key.startsWith("session:")', ['redis-session']],
  ['kafka && kafka_api_key_name == "PRODUCE"', ['kafka-produce']],
  ['amqp && amqp_method == "basic.publish"', ['amqp-publish']],
  ['postgresql && postgresql_query.contains("SELECT") && !postgresql_success', ['pg-select-fail']],
  ['mysql && mysql_command == "COM_QUERY"', ['mysql-query']],
  ['!(src.pod.namespace == "kube-system")', except('health')],
  ['http && status_code >= 500 || (tcp && tcp_error_type != "")', ['post-500', 'tcp-reset']],
  [
    'src.service.namespace != dst.service.namespace',
    except(
      'slow-report',
      'redis-session',
      'redis-cache',
      'pg-select-fail',
      'pg-insert-ok',
      'mysql-query',
      'tcp-ok'
    ),
  ],
  ['map_get(local_labels, "app", "") == "payments"', ['slow-report', 'db-query', 'kafka-produce']],
]

describe('kfl.md examples', () => {
  describe('from the spec documents (sugar and aliases)', () => {
    it.each(SPEC_DOCUMENT_EXAMPLES)('%s', (filter, expected) => {
      expect(select(filter)).toEqual(expected)
    })
  })
  describe('KFL2', () => {
    it.each(KFL2_EXAMPLES)('%s', (filter, expected) => {
      expect(select(filter)).toEqual(expected)
    })
  })
  it('every example selects something and not everything (the table is discriminating)', () => {
    for (const [filter] of [...SPEC_DOCUMENT_EXAMPLES, ...KFL2_EXAMPLES]) {
      const n = select(filter).length
      expect(n, filter).toBeGreaterThan(0)
      expect(n, filter).toBeLessThan(FIXTURES.length)
    }
  })
})
