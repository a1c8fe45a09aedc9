// Entries for the store tests (not used at run time): random calls over a small vocabulary, so
// filters match some and not others, sent through the wire codec as the hub receives them.
import fc from 'fast-check'
import type { Entry } from '@tapwire/wire'
import { decodeEntryBatch, encodeEntryBatch } from '@tapwire/wire'

const endpoint = fc.record({
  ip: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.1.0.7'),
  port: fc.constantFrom(80, 8080, 41000),
  pod: fc.constantFrom('', 'web-1', 'api-1'),
  ns: fc.constantFrom('', 'frontend', 'backend'),
  svc: fc.constantFrom('', 'api'),
  node: fc.constantFrom('', 'node-1'),
  labels: fc.constantFrom<Record<string, string>>({}, { app: 'web' }, { app: 'api', tier: 'edge' }),
  resolutionStatus: fc.constantFrom('', 'unresolved'),
})

const header = fc.record({
  name: fc.constantFrom('Content-Type', 'content-type', 'Cookie', 'Authorization', 'X-Long'),
  value: fc.constantFrom('application/json', 'text/plain', 'session=abc; theme=dark', 'Bearer t', 'x'.repeat(200)),
})

const attr = fc.oneof(
  fc.record({ name: fc.constant('redis_key'), str: fc.constantFrom('session:1', 'cache:2', 'a-rather-long-session-key:3') }),
  fc.record({ name: fc.constant('grpc_status'), num: fc.constantFrom(0, 14) }),
  fc.record({ name: fc.constant('dns_questions'), list: fc.constant<{ values: string[] }>({ values: ['example.com'] }) })
)

/** A call as an agent would publish it; `i` makes id and time unique-ish and ordered. */
export const arbitraryEntry = (i: number): fc.Arbitrary<Entry> =>
  fc.record({
    id: fc.constant(`node-${i % 2}/${i}/0`),
    node: fc.constantFrom('node-0', 'node-1', ''),
    flowId: fc.constantFrom(0, i, 2 ** 40),
    index: fc.constantFrom(0, 3),
    connId: fc.constantFrom(0, 7),
    ts: fc.constantFrom(1_773_525_600_000 + i * 10.25, 1_773_525_600_000 + (i % 5)),
    elapsedUs: fc.constantFrom(0, 1500, 2_500_000.5),
    proto: fc.constantFrom('http', 'grpc', 'dns', 'redis', 'tcp', ''),
    transport: fc.constantFrom('tcp', 'udp', ''),
    src: fc.option(endpoint, { nil: undefined }),
    dst: fc.option(endpoint, { nil: undefined }),
    method: fc.constantFrom('', 'GET', 'POST', 'DELETE'),
    path: fc.constantFrom('', '/api/v1/users', '/api/v2/orders/9', '/health'),
    url: fc.constantFrom('', '/api/v1/users?page=2', '/api/v2/orders/9', '/health?x=1&y=%20z'),
    status: fc.constantFrom(0, 200, 404, 500, 503),
    version: fc.constantFrom('', 'HTTP/1.1'),
    reqHeaders: fc.array(header, { maxLength: 3 }),
    respHeaders: fc.array(header, { maxLength: 2 }),
    reqBody: fc.constantFrom('', '{"a":1}', 'a body of some forty characters, roughly'),
    respBodySize: fc.constantFrom(0, 10, 20_000),
    errorType: fc.constantFrom('', 'timeout'),
    worker: fc.constantFrom('', 'agent-a', 'agent-b'),
    attrs: fc.array(attr, { maxLength: 2 }),
    gaps: fc.constantFrom(0, 1),
  })

export const arbitraryEntries = (maxLength: number): fc.Arbitrary<Entry[]> =>
  fc.integer({ min: 0, max: maxLength }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => arbitraryEntry(i))))

/** Through the protobuf codec, as the hub's ingest sees entries. */
export const viaWire = (entries: Entry[]): Entry[] =>
  decodeEntryBatch(encodeEntryBatch({ node: 'n', seq: 1, entries })).entries ?? []
