// Hand-built entries for the KFL tests (not used at run time). Each entry's id ends in its name,
// so a failing assertion reads as a list of names.
import type { Attr, Endpoint, Entry, Header } from '@tapwire/wire'

/** 2026-03-14T22:00:00Z; entry i happens at T0 + 30 s × i. */
export const T0 = Date.parse('2026-03-14T22:00:00Z')
/** The frozen clock of the tests: ten minutes after T0. */
export const NOW = T0 + 10 * 60_000

const s = (name: string, str: string): Attr => ({ name, str })
const n = (name: string, num: number): Attr => ({ name, num })
const b = (name: string, flag: boolean): Attr => ({ name, flag })
const l = (name: string, values: string[]): Attr => ({ name, list: { values } })
const h = (pairs: [string, string][]): Header[] => pairs.map(([name, value]) => ({ name, value }))

const FRONTEND: Endpoint = {
  ip: '10.1.0.5',
  port: 41000,
  pod: 'web-1',
  ns: 'frontend',
  svc: 'web',
  node: 'node-1',
  labels: { app: 'web', tier: 'edge' },
}
const BACKEND: Endpoint = {
  ip: '10.2.0.7',
  port: 8080,
  pod: 'api-1',
  ns: 'backend',
  svc: 'api',
  node: 'node-2',
  labels: { app: 'api' },
}
const ORDERS: Endpoint = {
  ip: '10.2.0.8',
  port: 8080,
  pod: 'orders-1',
  ns: 'backend',
  svc: 'orders',
  node: 'node-2',
}
const PAYMENTS: Endpoint = {
  ip: '10.3.0.4',
  port: 52000,
  pod: 'payments-7',
  ns: 'production',
  svc: 'payments',
  node: 'node-3',
  labels: { app: 'payments' },
}
const REPORTS: Endpoint = {
  ip: '10.3.0.9',
  port: 8000,
  pod: 'reports',
  ns: 'production',
  svc: 'reports',
  node: 'node-3',
}
const PROBE: Endpoint = {
  ip: '10.0.0.2',
  port: 39000,
  pod: 'kubelet-probe',
  ns: 'kube-system',
  node: 'node-1',
}
const COREDNS: Endpoint = {
  ip: '10.0.0.10',
  port: 53,
  pod: 'coredns-1',
  ns: 'kube-system',
  svc: 'kube-dns',
  node: 'node-1',
}
const DATABASE: Endpoint = {
  ip: '10.2.0.20',
  port: 8081,
  pod: 'database',
  ns: 'backend',
  svc: 'db',
  node: 'node-2',
}
const port = (ep: Endpoint, p: number): Endpoint => ({ ...ep, port: p })

type Spec = Omit<Entry, 'id' | 'node' | 'flowId' | 'index' | 'ts'>

const specs: [string, Spec][] = [
  [
    'get-200',
    {
      proto: 'http',
      method: 'GET',
      path: '/api/v1/users',
      url: '/api/v1/users?page=2&sort=asc',
      status: 200,
      version: 'HTTP/1.1',
      src: FRONTEND,
      dst: BACKEND,
      elapsedUs: 12_000,
      reqBodySize: 0,
      respBodySize: 512,
      reqHeaderSize: 180,
      respHeaderSize: 120,
      reqHeaders: h([
        ['Host', 'api'],
        ['Authorization', 'Bearer abc'],
        ['Cookie', 'session=abc; Theme=dark'],
      ]),
      respHeaders: h([
        ['Content-Type', 'application/json'],
        ['Set-Cookie', 'seen=1; Path=/; HttpOnly'],
      ]),
    },
  ],
  [
    'get-404',
    {
      proto: 'http',
      method: 'GET',
      path: '/api/v1/items/9',
      url: '/api/v1/items/9',
      status: 404,
      version: 'HTTP/1.1',
      src: FRONTEND,
      dst: BACKEND,
      elapsedUs: 3_000,
      respBodySize: 90,
      reqHeaders: h([
        ['Host', 'api'],
        ['Accept', '*/*'],
      ]),
      respHeaders: h([['content-type', 'text/html']]),
    },
  ],
  [
    'post-500',
    {
      proto: 'http',
      method: 'POST',
      path: '/api/orders',
      url: '/api/orders',
      status: 500,
      version: 'HTTP/2',
      src: FRONTEND,
      dst: ORDERS,
      elapsedUs: 800_000,
      reqBodySize: 230,
      respBodySize: 20_000,
      reqHeaders: h([
        ['authorization', 'Basic eHk='],
        ['Content-Type', 'application/json'],
      ]),
      respHeaders: h([['Content-Type', 'application/json']]),
    },
  ],
  [
    'slow-report',
    {
      proto: 'http',
      method: 'GET',
      path: '/api/v2/reports',
      url: '/api/v2/reports?year=2025',
      status: 200,
      version: 'HTTP/1.1',
      src: PAYMENTS,
      dst: REPORTS,
      elapsedUs: 7_000_000,
      respBodySize: 15_000,
      reqHeaders: h([['Host', 'reports']]),
      respHeaders: h([['Content-Type', 'application/json; charset=utf-8']]),
    },
  ],
  [
    'health',
    {
      proto: 'http',
      method: 'GET',
      path: '/health',
      url: '/health',
      status: 200,
      version: 'HTTP/1.1',
      src: PROBE,
      dst: BACKEND,
      elapsedUs: 500,
      reqHeaders: h([['User-Agent', 'kube-probe/1.30']]),
    },
  ],
  [
    'db-query',
    {
      proto: 'http',
      method: 'PUT',
      path: '/v1/query',
      url: '/v1/query',
      status: 201,
      version: 'HTTP/1.1',
      src: PAYMENTS,
      dst: DATABASE,
      elapsedUs: 40_000,
      reqHeaders: h([
        ['X-Forwarded-For', '1.1.1.1'],
        ['x-forwarded-for', '2.2.2.2'],
        ['Content-Type', 'application/json'],
      ]),
    },
  ],
  [
    'grpc-ok',
    {
      proto: 'grpc',
      method: 'POST',
      path: '/helloworld.Greeter/SayHello',
      url: '/helloworld.Greeter/SayHello',
      status: 200,
      version: 'HTTP/2',
      src: FRONTEND,
      dst: BACKEND,
      elapsedUs: 2_000,
      attrs: [s('grpc_method', 'SayHello'), n('grpc_status', 0)],
      respHeaders: h([['content-type', 'application/grpc']]),
    },
  ],
  [
    'grpc-unavailable',
    {
      proto: 'grpc',
      method: 'POST',
      path: '/users.Users/GetUser',
      url: '/users.Users/GetUser',
      status: 200,
      version: 'HTTP/2',
      src: BACKEND,
      dst: PAYMENTS,
      elapsedUs: 5_500_000,
      attrs: [s('grpc_method', 'GetUser'), n('grpc_status', 14)],
    },
  ],
  [
    'gql-query',
    {
      proto: 'gql',
      method: 'POST',
      path: '/graphql',
      url: '/graphql',
      status: 400,
      version: 'HTTP/1.1',
      src: FRONTEND,
      dst: BACKEND,
      elapsedUs: 9_000,
    },
  ],
  [
    'dns-example',
    {
      proto: 'dns',
      transport: 'udp',
      status: 0,
      src: port(FRONTEND, 40000),
      dst: COREDNS,
      elapsedUs: 800,
      attrs: [
        l('dns_questions', ['example.com']),
        l('dns_question_types', ['A']),
        l('dns_answers', ['93.184.216.34']),
        b('dns_request', true),
        b('dns_response', true),
      ],
    },
  ],
  [
    'dns-nxdomain',
    {
      proto: 'dns',
      transport: 'udp',
      status: 3,
      src: port(BACKEND, 40001),
      dst: COREDNS,
      elapsedUs: 900,
      attrs: [
        l('dns_questions', ['missing.example.org']),
        l('dns_question_types', ['AAAA']),
        l('dns_answers', []),
        b('dns_response', true),
      ],
    },
  ],
  [
    'redis-session',
    {
      proto: 'redis',
      src: BACKEND,
      dst: { ip: '10.2.0.30', port: 6379, pod: 'redis-0', ns: 'backend', svc: 'redis' },
      elapsedUs: 300,
      attrs: [
        s('redis_type', 'GET'),
        s('redis_key', 'session:42'),
        s('redis_command', 'GET session:42'),
      ],
    },
  ],
  [
    'redis-cache',
    {
      proto: 'redis',
      src: BACKEND,
      dst: { ip: '10.2.0.30', port: 6379, pod: 'redis-0', ns: 'backend', svc: 'redis' },
      elapsedUs: 250,
      attrs: [
        s('redis_type', 'SET'),
        s('redis_key', 'cache:users'),
        s('redis_command', 'SET cache:users'),
      ],
    },
  ],
  [
    'kafka-produce',
    {
      proto: 'kafka',
      src: PAYMENTS,
      dst: { ip: '10.4.0.2', port: 9092, pod: 'kafka-0', ns: 'data' },
      elapsedUs: 1_500,
      attrs: [
        n('kafka_api_key', 0),
        s('kafka_api_key_name', 'PRODUCE'),
        s('kafka_client_id', 'payments'),
        s('kafka_request_summary', 'orders'),
      ],
    },
  ],
  [
    'kafka-fetch',
    {
      proto: 'kafka',
      src: BACKEND,
      dst: { ip: '10.4.0.2', port: 9092, pod: 'kafka-0', ns: 'data' },
      elapsedUs: 100_000,
      attrs: [n('kafka_api_key', 1), s('kafka_api_key_name', 'FETCH')],
    },
  ],
  [
    'amqp-publish',
    {
      proto: 'amqp',
      src: ORDERS,
      dst: { ip: '10.4.0.5', port: 5672, pod: 'rabbit-0', ns: 'data' },
      elapsedUs: 700,
      attrs: [s('amqp_method', 'basic.publish'), s('amqp_summary', 'orders.created')],
    },
  ],
  [
    'pg-select-fail',
    {
      proto: 'postgresql',
      src: BACKEND,
      dst: { ip: '10.2.0.40', port: 5432, pod: 'pg-0', ns: 'backend', svc: 'pg' },
      elapsedUs: 4_000,
      attrs: [
        s('postgresql_command', 'SELECT'),
        s('postgresql_query', 'SELECT * FROM users WHERE id = $1'),
        b('postgresql_success', false),
        s('postgresql_error_code', '42P01'),
      ],
    },
  ],
  [
    'pg-insert-ok',
    {
      proto: 'postgresql',
      src: BACKEND,
      dst: { ip: '10.2.0.40', port: 5432, pod: 'pg-0', ns: 'backend', svc: 'pg' },
      elapsedUs: 3_000,
      attrs: [
        s('postgresql_command', 'INSERT'),
        s('postgresql_query', 'INSERT INTO orders VALUES ($1)'),
        b('postgresql_success', true),
      ],
    },
  ],
  [
    'mysql-query',
    {
      proto: 'mysql',
      src: ORDERS,
      dst: { ip: '10.2.0.50', port: 3306, pod: 'mysql-0', ns: 'backend' },
      elapsedUs: 2_500,
      attrs: [
        s('mysql_command', 'COM_QUERY'),
        s('mysql_query', 'SELECT 1'),
        b('mysql_success', true),
      ],
    },
  ],
  [
    'tcp-reset',
    {
      proto: 'tcp',
      transport: 'tcp',
      src: { ip: '10.1.0.9', port: 50500, ns: 'frontend', pod: 'web-2' },
      dst: { ip: '10.2.0.60', port: 8443, ns: 'backend', svc: 'legacy' },
      attrs: [s('tcp_error_type', 'reset'), s('tcp_error_message', 'connection reset by peer')],
    },
  ],
  [
    'tcp-ok',
    {
      proto: 'tcp',
      transport: 'tcp',
      src: { ip: '192.168.1.4', port: 50501 },
      dst: { ip: '10.2.0.61', port: 9000 },
      attrs: [s('tcp_error_type', '')],
    },
  ],
]

export const FIXTURES: readonly Entry[] = specs.map(([name, spec], i) => ({
  ...spec,
  id: `node-1/${i + 1}/${name}`,
  node: 'node-1',
  flowId: i + 1,
  index: 0,
  ts: T0 + i * 30_000,
}))

/** The fixture name of an entry. */
export const nameOf = (e: Entry): string => (e.id ?? '').split('/')[2] ?? ''

export const ALL_NAMES: readonly string[] = FIXTURES.map(nameOf)
