/**
 * GraphQL over HTTP detection (GraphQL over HTTP draft spec, graphql.github.io/graphql-over-http):
 * a POST whose JSON body has a `query` string, a POST with `Content-Type: application/graphql`, or
 * a GET with a `query` URL parameter. Pure and transport-agnostic: HTTP/1 and HTTP/2 both call it
 * with what they parsed.
 */
import { decodeUtf8 } from '../util/bytes.js'

export type GraphqlOperationType = 'query' | 'mutation' | 'subscription'

export interface GraphqlOperation {
  /** The operation's name; '' for an anonymous operation. */
  operationName: string
  operationType: GraphqlOperationType
}

/** Bytes of the body looked at (a query document larger than this is still named by a regex). */
const MAX_SCAN = 64 * 1024

/**
 * Whether an HTTP request is a GraphQL operation, and which. `target` is the request target with
 * its query string (`/graphql?query=...`), `body` the (possibly truncated, already
 * content-decoded) request body preview. Never throws.
 */
export function detectGraphql(
  method: string,
  target: string,
  contentType: string | undefined,
  body: Uint8Array | undefined
): GraphqlOperation | undefined {
  try {
    const m = method.toUpperCase()
    if (m === 'GET') return fromGet(target)
    if (m !== 'POST' || body === undefined || body.length === 0) return undefined
    const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
    const text = decodeUtf8(body.subarray(0, MAX_SCAN))
    if (ct === 'application/graphql') return parseDocument(text, undefined)
    // application/json, application/graphql-response+json, or a client that sent no type.
    if (ct !== '' && !ct.endsWith('json') && ct !== 'text/plain') return undefined
    return fromJson(text)
  } catch {
    return undefined
  }
}

function fromGet(target: string): GraphqlOperation | undefined {
  const q = target.indexOf('?')
  if (q < 0) return undefined
  const params = parseQuery(target.slice(q + 1))
  const query = params.get('query')
  if (query === undefined) return undefined
  return parseDocument(query, params.get('operationName'))
}

function parseQuery(s: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of s.split('#')[0]!.split('&')) {
    const eq = part.indexOf('=')
    const k = decodeComponent(eq < 0 ? part : part.slice(0, eq))
    if (!out.has(k)) out.set(k, decodeComponent(eq < 0 ? '' : part.slice(eq + 1)))
  }
  return out
}

function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ')
  try {
    return decodeURIComponent(plus)
  } catch {
    return plus
  }
}

function fromJson(text: string): GraphqlOperation | undefined {
  const trimmed = text.trimStart()
  if (trimmed[0] !== '{' && trimmed[0] !== '[') return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(trimmed)
  } catch {
    // A truncated preview: pull the two fields out by hand.
    return fromPartialJson(trimmed)
  }
  // Batched operations (an array, as Apollo sends them): the first one names the entry.
  const first: unknown = Array.isArray(parsed) ? parsed[0] : parsed
  if (typeof first !== 'object' || first === null) return undefined
  const rec = first as Record<string, unknown>
  const query = rec['query']
  if (typeof query !== 'string') {
    // Automatic persisted queries send only a hash and the operation name.
    const ext = rec['extensions']
    if (
      typeof rec['operationName'] === 'string' &&
      typeof ext === 'object' &&
      ext !== null &&
      'persistedQuery' in ext
    ) {
      return { operationName: rec['operationName'], operationType: 'query' }
    }
    return undefined
  }
  const name = rec['operationName']
  return parseDocument(query, typeof name === 'string' ? name : undefined)
}

const JSON_STRING = '"((?:[^"\\\\]|\\\\.)*)'

function fromPartialJson(text: string): GraphqlOperation | undefined {
  const q = new RegExp(`"query"\\s*:\\s*${JSON_STRING}`).exec(text)
  if (!q) return undefined
  const n = new RegExp(`"operationName"\\s*:\\s*${JSON_STRING}"`).exec(text)
  return parseDocument(unescapeJson(q[1]!), n ? unescapeJson(n[1]!) : undefined)
}

function unescapeJson(s: string): string {
  try {
    return JSON.parse(`"${s.replace(/\\$/, '')}"`) as string
  } catch {
    return s
  }
}

const OPERATION = /^(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/

/**
 * Finds the operation in a GraphQL document (GraphQL spec §2.3): with `operationName`, the
 * definition of that name; otherwise the first operation. Fragments are skipped; `{ ... }`
 * alone is an anonymous query. Undefined when the text is not GraphQL at all.
 */
export function parseDocument(
  doc: string,
  operationName: string | undefined
): GraphqlOperation | undefined {
  const ops: GraphqlOperation[] = []
  let i = 0
  let depth = 0
  let sawDefinition = false
  const n = Math.min(doc.length, MAX_SCAN)
  while (i < n && ops.length < 64) {
    const c = doc[i]!
    if (c === '#') {
      // Comments run to the end of the line (§2.1.4).
      while (i < n && doc[i] !== '\n') i++
      continue
    }
    if (c === '"') {
      // Strings and block strings may hold braces: skip them.
      if (doc.startsWith('"""', i)) {
        const end = doc.indexOf('"""', i + 3)
        i = end < 0 ? n : end + 3
      } else {
        i++
        while (i < n && doc[i] !== '"' && doc[i] !== '\n') i += doc[i] === '\\' ? 2 : 1
        i++
      }
      continue
    }
    if (c === '{' || c === '(' || c === '[') {
      if (depth === 0 && c === '{') {
        // Anonymous query shorthand (§2.3) when no keyword came before.
        if (!sawDefinition) ops.push({ operationName: '', operationType: 'query' })
        sawDefinition = false
      }
      depth++
      i++
      continue
    }
    if (c === '}' || c === ')' || c === ']') {
      depth = Math.max(0, depth - 1)
      i++
      continue
    }
    if (depth === 0 && /[_A-Za-z]/.test(c) && (i === 0 || !/[_0-9A-Za-z]/.test(doc[i - 1]!))) {
      const rest = doc.slice(i, i + 300)
      const m = OPERATION.exec(rest)
      if (m) {
        ops.push({ operationName: m[2] ?? '', operationType: m[1] as GraphqlOperationType })
        sawDefinition = true
        i += m[0].length
        continue
      }
      if (/^fragment\b/.test(rest)) {
        sawDefinition = true
        i += 8
        continue
      }
      if (!sawDefinition) return undefined
      const w = /^[_0-9A-Za-z]+/.exec(rest)
      i += w ? w[0].length : 1
      continue
    }
    if (depth === 0 && !sawDefinition && !/[\s,\ufeff]/.test(c)) return undefined
    i++
  }
  if (ops.length === 0) return undefined
  if (operationName)
    return (
      ops.find((o) => o.operationName === operationName) ?? {
        operationName,
        operationType: ops[0]!.operationType,
      }
    )
  return ops[0]
}
