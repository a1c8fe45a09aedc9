import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { detectGraphql, parseDocument } from './graphql.js'

const enc = new TextEncoder()
const post = (body: unknown, ct = 'application/json') =>
  detectGraphql(
    'POST',
    '/graphql',
    ct,
    enc.encode(typeof body === 'string' ? body : JSON.stringify(body))
  )

describe('detectGraphql', () => {
  it('names operations from the document and operationName', () => {
    expect(post({ query: 'query GetUser($id: ID!) { user(id: $id) { name } }' })).toEqual({
      operationName: 'GetUser',
      operationType: 'query',
    })
    expect(post({ query: '{ users { id } }' })).toEqual({
      operationName: '',
      operationType: 'query',
    })
    expect(post({ query: 'subscription OnMsg { msg }' })).toEqual({
      operationName: 'OnMsg',
      operationType: 'subscription',
    })
    const doc =
      '# comment { not this }\nfragment F on User { id }\nquery A { a { ...F } }\nmutation B { b(s: "}{") }'
    expect(post({ query: doc, operationName: 'B' })).toEqual({
      operationName: 'B',
      operationType: 'mutation',
    })
    expect(post({ query: doc })).toEqual({ operationName: 'A', operationType: 'query' })
    expect(post([{ query: 'mutation M { x }' }, { query: 'query Q { y }' }])).toEqual({
      operationName: 'M',
      operationType: 'mutation',
    })
  })

  it('handles application/graphql, persisted queries and truncated previews', () => {
    expect(post('query Raw { x }', 'application/graphql')).toEqual({
      operationName: 'Raw',
      operationType: 'query',
    })
    expect(
      post({
        operationName: 'Persisted',
        extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } },
      })
    ).toEqual({
      operationName: 'Persisted',
      operationType: 'query',
    })
    const full = JSON.stringify({
      operationName: 'Big',
      query: 'query Big { ' + 'field '.repeat(100) + '}',
    })
    expect(post(full.slice(0, 80))).toEqual({ operationName: 'Big', operationType: 'query' })
  })

  it('rejects what is not GraphQL', () => {
    expect(post({ query: 'SELECT 1' })).toBeUndefined()
    expect(post({ q: '{ a }' })).toBeUndefined()
    expect(post({ query: '{ a }' }, 'text/html')).toBeUndefined()
    expect(
      detectGraphql('PUT', '/graphql', 'application/json', enc.encode('{"query":"{ a }"}'))
    ).toBeUndefined()
    expect(detectGraphql('GET', '/graphql', undefined, undefined)).toBeUndefined()
    expect(detectGraphql('GET', '/graphql?query=%E0%A4%A', undefined, undefined)).toBeUndefined()
    expect(parseDocument('', undefined)).toBeUndefined()
  })

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.uint8Array({ maxLength: 300 }),
        (doc, target, body) => {
          parseDocument(doc, undefined)
          detectGraphql('GET', `/g?${target}`, undefined, undefined)
          detectGraphql('POST', '/g', 'application/json', body)
          detectGraphql(
            'POST',
            '/g',
            'application/json',
            enc.encode(JSON.stringify({ query: doc }))
          )
        }
      ),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 300) }
    )
  })
})
