import { describe, it, expect } from 'vitest'
import type { Entry } from '@tapwire/wire'
import { pb } from '@tapwire/wire'
import { compile, KflEvalError } from './index.js'
import { FIXTURES, NOW, T0, nameOf } from './test-fixtures.js'

const byName = (name: string): Entry => FIXTURES.find((e) => nameOf(e) === name)!
const GET200 = byName('get-200')
const select = (filter: string): string[] =>
  FIXTURES.filter(compile(filter, { clock: () => NOW }).predicate).map(nameOf)
const holds = (filter: string, entry: Entry = GET200): boolean =>
  compile(filter, { clock: () => NOW }).predicate(entry)

describe('literals and operators', () => {
  it.each([
    ['1 + 2 * 3 == 7', true],
    ['(1 + 2) * 3 == 9', true],
    ['7 / 2 == 3', true],
    ['-7 / 2 == -3', true],
    ['7 % 3 == 1', true],
    ['7.0 / 2.0 == 3.5', true],
    ['1 == 1.0', true],
    ['2 > 1.5', true],
    ['0x10 == 16', true],
    ['1e3 == 1000.0', true],
    ['"a" + "b" == "ab"', true],
    ['"abc" < "abd"', true],
    ['[1, 2] + [3] == [1, 2, 3]', true],
    ['{"a": 1} == {"a": 1}', true],
    ['{"a": 1} != {"a": 2}', true],
    ['[1, 2] != [2, 1]', true],
    ['true != false', true],
    ['null == null', true],
    ['!false', true],
    ['!!true', true],
    ['--3 == 3', true],
    ['2 in [1, 2, 3]', true],
    ['4 in [1, 2, 3]', false],
    ['"a" in {"a": 1}', true],
    ['true ? 1 == 1 : false', true],
    ['false ? true : 1 > 2', false],
    ['1 < 2 ? "x" == "x" : "y" == "z"', true],
    ['[1, 2, 3][1] == 2', true],
    ['{"k": "v"}["k"] == "v"', true],
    ['{"k": "v"}.k == "v"', true],
    ['r"a\\d" == "a\\\\d"', true],
    ['\'single\' == "single"', true],
    ['"\\x41\\u00e9\\101" == "Aé" + "A"', true],
    ['"""tri"ple""" == "tri\\"ple"', true],
    ['b"abc" == b"abc"', true],
    ['1u == 1', true],
  ])('%s → %s', (filter, expected) => {
    expect(holds(filter)).toBe(expected)
  })

  it('short-circuits: the right side of && / || is not evaluated', () => {
    let errors = 0
    const onEvalError = (): void => void errors++
    const e = GET200
    // `1 / (status_code - 200)` divides by zero on get-200.
    expect(compile('false && 1 / (status_code - 200) == 0', { onEvalError }).predicate(e)).toBe(
      false
    )
    expect(compile('true || 1 / (status_code - 200) == 0', { onEvalError }).predicate(e)).toBe(true)
    expect(errors).toBe(0)
    expect(compile('true && 1 / (status_code - 200) == 0', { onEvalError }).predicate(e)).toBe(
      false
    )
    expect(errors).toBe(1)
  })

  it('run-time errors make the entry not match and are reported as KflEvalError', () => {
    const seen: unknown[] = []
    const f = compile('[1, 2][status_code] == 1 || 10 % (status_code - 200) == 0', {
      onEvalError: (err) => seen.push(err),
    })
    expect(f.predicate(GET200)).toBe(false)
    expect(seen[0]).toBeInstanceOf(KflEvalError)
  })

  it('folds constant subexpressions but keeps run-time errors', () => {
    expect(compile('1 / 0 == 1').predicate(GET200)).toBe(false)
    expect(compile('size("héllo") == 5').predicate(GET200)).toBe(true)
  })
})

describe('spec sugar', () => {
  it.each([
    [
      'http and status_code == 200',
      ['get-200', 'slow-report', 'health', 'grpc-ok', 'grpc-unavailable'],
    ],
    ['grpc or gql', ['grpc-ok', 'grpc-unavailable', 'gql-query']],
    ['http and not status_code == 200', ['get-404', 'post-500', 'db-query', 'gql-query']],
    ['not not grpc', ['grpc-ok', 'grpc-unavailable']],
    ['path startsWith "/api/v"', ['get-200', 'get-404', 'slow-report']],
    ['path endsWith "/health"', ['health']],
    ['url matches "year=20[0-9]+$"', ['slow-report']],
    ['redis_key contains ":" and redis_type == "SET"', ['redis-cache']],
  ])('%s', (filter, expected) => {
    expect(select(filter)).toEqual(expected)
  })

  it('`and` binds tighter than `or`, and mixes with && / ||', () => {
    expect(select('grpc or http and status_code == 500')).toEqual([
      'post-500',
      'grpc-ok',
      'grpc-unavailable',
    ])
    expect(select('(grpc || http) and status_code == 500')).toEqual(['post-500'])
  })
})

describe('aliases', () => {
  it.each([
    ['response.status == 404', 'status_code == 404'],
    ['status == 404', 'status_code == 404'],
    ['request.method == "POST"', 'method == "POST"'],
    ['request.path == "/health"', 'path == "/health"'],
    ['request.url.contains("page=")', 'url.contains("page=")'],
    ['src.ns == "production"', 'src.namespace == "production"'],
    ['dst.ns == "kube-system"', 'dst.namespace == "kube-system"'],
    ['src.pod == "web-1"', 'src.pod.name == "web-1"'],
    ['dst.svc == "orders"', 'dst.service.name == "orders"'],
    ['src.svc.startsWith("pay")', 'src.service.name.startsWith("pay")'],
    ['src.node == "node-3"', 'local_node_name == "node-3"'],
    ['dst.node == "node-2"', 'remote_node_name == "node-2"'],
    ['proto == "grpc"', 'protocol == "GRPC"'],
    ['response.latency >= 800', 'elapsed_time >= 800000'],
    ['response.latency > 0.5', 'elapsed_time > 500'],
  ])('%s ≡ %s', (alias, canonical) => {
    const a = select(alias)
    expect(a.length).toBeGreaterThan(0)
    expect(a).toEqual(select(canonical))
  })

  it('resolves aliases in usedVariables', () => {
    expect(compile('response.latency > 1 && src.pod == "x" && status == 1').usedVariables).toEqual([
      'elapsed_time',
      'src.pod.name',
      'status_code',
    ])
  })
})

describe('entry variables', () => {
  const e = GET200
  it.each([
    'id == "node-1/1/get-200"',
    'index == 0 && flow_id == 1 && conn_id == 0',
    'node_name == "node-1" && node_id == "node-1" && node["name"] == "node-1"',
    'protocol == "HTTP" && proto == "http"',
    'http_version == "HTTP/1.1"',
    'timestamp == timestamp("2026-03-14T22:00:00Z")',
    'timestamp < timestamp("2026-03-14T23:00:00+01:00") + duration("1ms")',
    'elapsed_time == 12000',
    'request_body_size == 0 && response_body_size == 512',
    'request_headers_size == 180 && response_headers_size == 120',
    'src.ip == "10.1.0.5" && src.port == 41000 && dst.ip == "10.2.0.7" && dst.port == 8080',
    'src.pod.name == "web-1" && src.service.name == "web" && src.name == "web-1"',
    'dst.pod.namespace == "backend" && dst.service.namespace == "backend" && dst.namespace == "backend"',
    'namespaces == ["frontend", "backend"] && pods == ["web-1", "api-1"] && services == ["web", "api"]',
    'local_labels == {"app": "web", "tier": "edge"} && remote_labels["app"] == "api"',
    '"tier" in local_labels && !("tier" in remote_labels)',
    'query_string["page"] == "2" && query_string.sort == "asc" && size(query_string) == 2',
    'request.cookies["session"] == "abc" && request.cookies["THEME"] == "dark"',
    'response.cookies["seen"] == "1" && !("Path" in response.cookies)',
    'request.headers["host"] == "api" && request.headers.HOST == "api"',
    'response.headers["CONTENT-TYPE"] == "application/json"',
  ])('%s', (filter) => {
    expect(holds(filter, e)).toBe(true)
  })

  it('joins repeated header lines with ", "', () => {
    expect(
      holds('request.headers["x-forwarded-for"] == "1.1.1.1, 2.2.2.2"', byName('db-query'))
    ).toBe(true)
  })

  it('reads protocol attrs with their catalogue type', () => {
    const dns = byName('dns-example')
    expect(
      holds(
        'dns_questions == ["example.com"] && "A" in dns_question_types && dns_response && dns_request',
        dns
      )
    ).toBe(true)
    expect(
      holds('size(dns_answers) == 0 && !dns_request && status_code == 3', byName('dns-nxdomain'))
    ).toBe(true)
    expect(holds('kafka_api_key == 1 && kafka_client_id == ""', byName('kafka-fetch'))).toBe(true)
    expect(holds('postgresql_error_code == "42P01"', byName('pg-select-fail'))).toBe(true)
  })

  it('ignores an attr whose value has the wrong type (reads the default)', () => {
    const odd: Entry = {
      proto: 'redis',
      attrs: [
        { name: 'redis_key', num: 5 },
        { name: 'redis_type', str: 'GET' },
      ],
    }
    expect(holds('redis_key == "" && redis_type == "GET"', odd)).toBe(true)
  })

  it('reads decoded protobuf entries (prototype defaults, oneof discriminator) like plain ones', () => {
    const decoded = FIXTURES.map((e) => pb.Entry.decode(pb.Entry.encode(e).finish()))
    const filters = [
      'grpc_status == 14',
      'grpc && grpc_status == 0',
      'dns && "A" in dns_question_types && size(dns_answers) > 0',
      'postgresql && !postgresql_success',
      'request.headers["Authorization"] == "" && map_get(local_labels, "app", "") != ""',
      'src.pod == "" || dst.port == 9000',
      'flow_id > 10 && elapsed_time < 5000',
    ]
    for (const f of filters) {
      const p = compile(f).predicate
      const plain = FIXTURES.filter(p).map(nameOf)
      expect(plain.length, f).toBeGreaterThan(0)
      expect(decoded.filter(p).map(nameOf), f).toEqual(plain)
    }
  })
})

describe('defaults of absent values', () => {
  const empty: Entry = {}
  it.each([
    'method == "" && status_code == 0 && elapsed_time == 0 && timestamp == timestamp(0)',
    'src.ip == "" && src.port == 0 && dst.pod.name == "" && src.namespace == ""',
    'request.headers["Authorization"] == "" && size(request.headers) == 0',
    'namespaces == [] && size(pods) == 0 && local_labels == {}',
    'grpc_status == 0 && redis_key == "" && !postgresql_success && dns_questions == []',
    'map_get(local_labels, "app", "none") == "none"',
    'query_string["x"] == "" && !("x" in query_string)',
    '!http && !grpc && !tcp && proto == "" && protocol == ""',
    'flow_local_bps == 0.0 && local_annotations == {} && capture["source"] == ""',
  ])('%s', (filter) => {
    expect(holds(filter, empty)).toBe(true)
  })

  it('grpc_status is 0 for gRPC calls without the attr', () => {
    expect(holds('grpc && grpc_status == 0', { proto: 'grpc' })).toBe(true)
  })
})

describe('protocol flags', () => {
  it.each([
    ['http', ['http', 'grpc', 'gql', 'gqlv1', 'gqlv2']],
    ['grpc', ['grpc']],
    ['gql', ['gql', 'gqlv1', 'gqlv2']],
    ['ws', ['ws']],
    ['dns', ['dns']],
    ['tcp', ['tcp']],
    ['udp', ['udp']],
    ['icmp', ['icmp']],
    ['tls', ['tls']],
    ['mongodb', ['mongodb']],
    ['conn', ['conn', 'tcp_conn', 'udp_conn']],
    ['flow', ['flow', 'tcp_flow', 'udp_flow']],
    ['tcp_conn', ['tcp_conn']],
    ['udp_flow', ['udp_flow']],
  ])('%s is true for %j', (flag, protos) => {
    const all = [
      'http',
      'grpc',
      'gql',
      'gqlv1',
      'gqlv2',
      'ws',
      'dns',
      'tcp',
      'udp',
      'icmp',
      'tls',
      'redis',
      'mongodb',
      'conn',
      'flow',
      'tcp_conn',
      'udp_conn',
      'tcp_flow',
      'udp_flow',
    ]
    const p = compile(flag).predicate
    expect(all.filter((proto) => p({ proto }))).toEqual(protos)
  })

  it('computes the protocol hint', () => {
    const hint = (f: string): string[] | undefined => {
      const h = compile(f).protocolHint
      return h === undefined ? undefined : [...h].sort()
    }
    expect(hint('http && status_code >= 500')).toEqual(['gql', 'gqlv1', 'gqlv2', 'grpc', 'http'])
    expect(hint('grpc && http')).toEqual(['grpc'])
    expect(hint('redis || kafka')).toEqual(['kafka', 'redis'])
    expect(hint('status_code == 200 && dns')).toEqual(['dns'])
    expect(hint('proto == "mysql"')).toEqual(['mysql'])
    expect(hint('protocol == "AMQP"')).toEqual(['amqp'])
    expect(hint('redis || status_code == 1')).toBeUndefined()
    expect(hint('!http')).toBeUndefined()
    expect(hint('status_code == 200')).toBeUndefined()
    expect(hint('')).toBeUndefined()
  })
})

describe('macros', () => {
  it.each([
    ['namespaces.exists(n, n.startsWith("kube"))', ['health', 'dns-example', 'dns-nxdomain']],
    [
      'pods.all(p, p.endsWith("-1")) && size(pods) == 2',
      ['get-200', 'get-404', 'post-500', 'grpc-ok', 'gql-query', 'dns-example', 'dns-nxdomain'],
    ],
    ['dns_questions.exists_one(q, q.endsWith(".org"))', ['dns-nxdomain']],
    [
      'size(namespaces.filter(n, n == "backend")) == 1 && namespaces != ["backend"]',
      [
        'get-200',
        'get-404',
        'post-500',
        'health',
        'db-query',
        'grpc-ok',
        'grpc-unavailable',
        'gql-query',
        'dns-nxdomain',
        'kafka-fetch',
        'amqp-publish',
        'tcp-reset',
      ],
    ],
    [
      'namespaces.map(n, upper(n)) == ["PAYMENTS", "DATA"] || "PRODUCTION" in namespaces.map(n, n.upper())',
      ['slow-report', 'db-query', 'grpc-unavailable', 'kafka-produce'],
    ],
    [
      'local_labels.exists(k, k == "tier")',
      ['get-200', 'get-404', 'post-500', 'grpc-ok', 'gql-query', 'dns-example'],
    ],
    ['has(request.headers.authorization)', ['get-200', 'post-500']],
    ['has(query_string.year)', ['slow-report']],
    ['has(src.pod.name) && !has(dst.pod.name)', ['tcp-reset']],
    ['[1, 2, 3].all(x, x > 0) && [1, 2].exists(x, [3, 4].exists(y, x + y == 7))', []],
  ])('%s', (filter, expected) => {
    expect(select(filter)).toEqual(expected)
  })

  it('nested comprehensions see their own variables', () => {
    expect(
      holds('[1, 2].exists(x, [3, 4].exists(y, x + y == 5)) && [1].all(x, [x].all(x, x == 1))')
    ).toBe(true)
  })
})

describe('functions', () => {
  it.each([
    'size("abc") == 3 && size([1, 2]) == 2 && size({"a": 1}) == 1 && "abc".size() == 3',
    'lower("AbC") == "abc" && upper("AbC") == "ABC" && "Ab".lower() == "ab"',
    'duration("1h30m") == duration("90m") && duration("250ms") < duration("1s")',
    'duration("1.5h") == duration("5400s") && duration("-1m") < duration("0") && duration("1us") > duration("999ns")',
    'timestamp("2026-03-14T22:00:00.500Z") - timestamp("2026-03-14T22:00:00Z") == duration("500ms")',
    'now() == timestamp("2026-03-14T22:10:00Z")',
    'now() - duration("10m") == timestamp("2026-03-14T22:00:00Z")',
    'map_get({"a": "x"}, "a", "d") == "x" && map_get({"a": "x"}, "b", "d") == "d"',
    'int("42") == 42 && int(3.9) == 3 && double("1.5") == 1.5 && string(7) == "7"',
    'matches("abc", "^a") && "abc".matches("(?i)B")',
    '"abc".contains("") && "".startsWith("")',
  ])('%s', (filter) => {
    expect(holds(filter)).toBe(true)
  })

  it('freezes now() at compile time with the injected clock', () => {
    let t = T0
    const f = compile('timestamp > now() - duration("1m")', { clock: () => t })
    t += 3_600_000
    expect(f.predicate({ ts: T0 + 1 })).toBe(true)
  })

  it('evaluates regexes built at run time, and fails closed on bad ones', () => {
    const errors: unknown[] = []
    expect(compile('path.matches(method + "$")').predicate({ path: '/x/GET', method: 'GET' })).toBe(
      true
    )
    expect(
      compile('path.matches(method)', { onEvalError: (e) => errors.push(e) }).predicate({
        path: 'x',
        method: '(',
      })
    ).toBe(false)
    expect(errors[0]).toBeInstanceOf(KflEvalError)
  })
})

describe('empty filter', () => {
  it.each(['', '   ', '// just a comment\n'])('%j matches everything', (f) => {
    const c = compile(f)
    expect(FIXTURES.every(c.predicate)).toBe(true)
    expect(c.ast).toBeNull()
    expect(c.usedVariables).toEqual([])
  })
})

describe('per-entry derived data', () => {
  it('is computed once per entry, lazily', () => {
    let reads = 0
    const headers = [{ name: 'A', value: '1' }]
    const entry: Entry = { proto: 'http' }
    Object.defineProperty(entry, 'reqHeaders', { get: () => (reads++, headers) })
    // Whole-map uses build the entry's header map once; literal-key lookups scan the lines.
    const f = compile('http && size(request.headers) == 1 && request.headers.exists(k, k == "a")')
    const g = compile('request.headers == {"a": "1"}')
    expect(f.predicate(entry) && g.predicate(entry) && f.predicate(entry)).toBe(true)
    expect(reads).toBe(1)
    expect(compile('http && status_code == 0').predicate(entry)).toBe(true)
    expect(reads).toBe(1)
  })
})
