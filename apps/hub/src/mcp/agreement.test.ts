import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import type { ParamDef } from '../routes/params.js'
import type { RouteDef } from '../routes/route-defs.js'
import { ROUTES } from '../routes/route-defs.js'
import type { TestHub } from './test-hub.js'
import { startTestHub } from './test-hub.js'
import { bodyInput, toolShape } from './tool-schema.js'

/**
 * REST and MCP must never disagree: every tool is called with arguments generated from its
 * route's ParamDefs (boundaries, wrong types, unknown names), the same arguments go to the REST
 * route, and the verdicts (2xx vs error), error codes and answers must match.
 */

// Values a required parameter starts from, so the other parameters' cases reach the route.
const BASE: Record<string, Record<string, unknown>> = {
  get_api_call_details: { id: 'node-0/100/0', node_id: 'node-0' },
}
const PATH_VALUE = 'agreement-test'


/** Cases for one parameter, from its JSON Schema (the same zod schema REST validates with). */
function valuesFor(def: ParamDef, json: Record<string, any>, query: boolean): unknown[] {
  const out: unknown[] = []
  if (Array.isArray(json['enum'])) out.push(...json['enum'], 'zz-not-a-value', 5)
  else if (json['type'] === 'integer') {
    const min = typeof json['minimum'] === 'number' ? json['minimum'] : 0
    const max = typeof json['maximum'] === 'number' ? json['maximum'] : min + 100
    out.push(min, max, min - 1, max + 1, min + 0.5, 'x', true)
    if (def.default !== undefined) out.push(def.default)
  } else if (json['type'] === 'boolean') out.push(true, false, 'yes', 1)
  else if (json['type'] === 'string') {
    const maxLen = typeof json['maxLength'] === 'number' ? json['maxLength'] : 64
    out.push('', 'a', 'x'.repeat(maxLen + 1))
    if (def.name === 'kfl')
      out.push('http', 'http && status_code >= 500', 'status_code == "500"', '((')
    // A number is a wrong type in JSON but its text is a fine string in a query: only bodies can say it.
    if (!query) out.push(123)
  }
  out.push(null, { nested: 1 }, [1])
  return out
}

function casesFor(route: RouteDef): Record<string, unknown>[] {
  const shape = toolShape(route)
  const base: Record<string, unknown> = { ...BASE[route.tool] }
  for (const p of shape.pathParams) base[p.name] = PATH_VALUE
  const props = shape.inputSchema['properties'] as Record<string, Record<string, any>>
  const cases: Record<string, unknown>[] = [base, { ...base, zz_unknown: 1 }]
  for (const def of shape.params) {
    for (const v of valuesFor(def, props[def.name] ?? {}, !bodyInput(route)))
      cases.push({ ...base, [def.name]: v })
    if (def.required) {
      const without = { ...base }
      delete without[def.name]
      cases.push(without)
    }
  }
  // Query strings cannot carry null, objects or arrays distinctly: keep those for bodies.
  return bodyInput(route)
    ? cases
    : cases.filter((c) => Object.values(c).every((v) => v === undefined || typeof v !== 'object'))
}

async function rest(
  hub: TestHub,
  route: RouteDef,
  args: Record<string, unknown>
): Promise<{ status: number; body: any }> {
  const shape = toolShape(route)
  let path = route.path
  const rest: Record<string, unknown> = { ...args }
  for (const p of shape.pathParams) {
    path = path.replace(`:${p.name}`, encodeURIComponent(String(rest[p.name])))
    delete rest[p.name]
  }
  const res = bodyInput(route)
    ? await fetch(hub.url + path, {
        method: route.method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(rest),
      })
    : await fetch(
        `${hub.url}${path}?${new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, String(v)] as [string, string])).toString()}`,
        { method: route.method }
      )
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // binary (PCAP) or text answers compare by status only
  }
  return { status: res.status, body }
}

let hub: TestHub
let client: Client
beforeAll(async () => {
  hub = await startTestHub()
  client = new Client({ name: 'agreement', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${hub.url}/mcp`)))
})
afterAll(async () => {
  await client.close()
  await hub.close()
})

describe('REST and MCP agree on every route', () => {
  it.each(ROUTES.map((r) => [r.tool, r] as const))('%s', async (_tool, route) => {
    let valid = 0
    let invalid = 0
    for (const args of casesFor(route)) {
      const r = await rest(hub, route, args)
      const m = (await client.callTool({ name: route.tool, arguments: args })) as any
      const restOk = r.status >= 200 && r.status < 300
      const label = `${route.tool} ${JSON.stringify(args)} → REST ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`
      expect(m.isError === true, label).toBe(!restOk)
      if (restOk) {
        valid++
        if (route.tool !== 'export_snapshot_pcap' && typeof r.body === 'object')
          expect(m.structuredContent, label).toEqual(r.body)
      } else {
        invalid++
        if (r.body?.error?.code)
          expect(m.structuredContent?.error?.code, label).toBe(r.body.error.code)
      }
    }
    expect(valid + invalid).toBeGreaterThan(0)
    if (route.params.length > 0) expect(invalid).toBeGreaterThan(0)
  })

  it('covers list_api_calls with both verdicts', async () => {
    const route = ROUTES.find((r) => r.tool === 'list_api_calls')!
    const verdicts = await Promise.all(
      casesFor(route).map(async (a) => (await rest(hub, route, a)).status)
    )
    expect(verdicts.filter((s) => s === 200).length).toBeGreaterThan(5)
    expect(verdicts.filter((s) => s === 400).length).toBeGreaterThan(5)
  })
})
