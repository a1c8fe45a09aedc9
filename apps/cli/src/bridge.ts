import { createInterface } from 'node:readline'
import type { HubOptions } from './hub-client.js'
import { authHeaders, hubUrl } from './hub-client.js'

/**
 * `tapwire mcp`: a stdio ↔ Streamable HTTP bridge for MCP clients that only launch local
 * processes. Each newline-delimited JSON-RPC message from stdin becomes one POST to the hub's
 * /mcp; every JSON-RPC message in the answer (a JSON body or an SSE stream) becomes one line on
 * stdout. The bridge is protocol-agnostic: it forwards both eras unchanged and only derives the
 * HTTP headers each era requires from the message itself. Logs go to stderr; stdout is the
 * protocol channel only.
 */

const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion'

interface Message {
  jsonrpc?: unknown
  id?: string | number | null
  method?: unknown
  params?: { name?: unknown; uri?: unknown; _meta?: Record<string, unknown> } & Record<
    string,
    unknown
  >
  result?: { protocolVersion?: unknown } & Record<string, unknown>
}

/** Header-safe header value: non-ASCII names go base64-wrapped, as the 2026 transport defines. */
const headerValue = (v: string): string =>
  /^[\x20-\x7e]*$/.test(v) && v.trim() === v
    ? v
    : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`

export interface BridgeIo {
  stdin: NodeJS.ReadableStream
  stdout: { write(s: string): unknown }
  log: (msg: string) => void
}

/** Parses an SSE body into its `data` payloads. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buf = ''
  let data: string[] = []
  const reader = body.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    buf += done ? decoder.decode() : decoder.decode(value, { stream: true })
    let nl: number
    while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(buf[nl] === '\r' && buf[nl + 1] === '\n' ? nl + 2 : nl + 1)
      if (line === '') {
        if (data.length) yield data.join('\n')
        data = []
      } else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5))
    }
    if (done) {
      if (data.length) yield data.join('\n')
      return
    }
  }
}

export async function runBridge(hub: HubOptions, io: BridgeIo): Promise<number> {
  const endpoint = hubUrl(hub, '/mcp')
  let sessionId: string | undefined
  let legacyVersion: string | undefined
  const initializeIds = new Set<string | number>()
  const pending = new Set<Promise<void>>()

  const emit = (m: unknown) => {
    io.stdout.write(`${JSON.stringify(m)}\n`)
  }
  const fail = (msg: Message, code: number, message: string, data?: unknown) => {
    // Only requests get an answer; a failed notification can only be logged.
    if (msg.id === undefined || msg.method === undefined) return io.log(message)
    emit({
      jsonrpc: '2.0',
      id: msg.id,
      error: { code, message, ...(data !== undefined ? { data } : {}) },
    })
  }
  const deliver = (m: unknown) => {
    const r = m as Message
    if (
      r.id !== undefined &&
      r.id !== null &&
      initializeIds.delete(r.id) &&
      typeof r.result?.protocolVersion === 'string'
    ) {
      legacyVersion = r.result.protocolVersion
    }
    emit(m)
  }

  async function forward(msg: Message): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...authHeaders(hub),
    }
    if (sessionId) headers['mcp-session-id'] = sessionId
    const modern = msg.params?._meta?.[PROTOCOL_VERSION_META]
    if (typeof modern === 'string' && typeof msg.method === 'string') {
      // 2026-07-28: the HTTP headers must mirror the envelope and the method.
      headers['mcp-protocol-version'] = modern
      headers['mcp-method'] = msg.method
      const name = msg.method === 'resources/read' ? msg.params?.uri : msg.params?.name
      if (
        typeof name === 'string' &&
        ['tools/call', 'prompts/get', 'resources/read'].includes(msg.method)
      )
        headers['mcp-name'] = headerValue(name)
    } else if (legacyVersion) headers['mcp-protocol-version'] = legacyVersion
    if (msg.method === 'initialize' && msg.id !== undefined && msg.id !== null)
      initializeIds.add(msg.id)

    let res: Response
    try {
      res = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(msg) })
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message
      return fail(msg, -32000, `cannot reach the Tapwire hub at ${endpoint.href}: ${cause}`)
    }
    sessionId = res.headers.get('mcp-session-id') ?? sessionId
    if (res.status === 202 || res.status === 204) return
    const type = res.headers.get('content-type') ?? ''
    if (type.includes('text/event-stream') && res.body) {
      for await (const data of sseData(res.body)) {
        try {
          deliver(JSON.parse(data))
        } catch {
          io.log(`ignored a non-JSON SSE event: ${data.slice(0, 200)}`)
        }
      }
      return
    }
    const text = await res.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      return fail(msg, -32000, `the hub answered HTTP ${res.status}: ${text.slice(0, 300)}`)
    }
    const messages = Array.isArray(body) ? body : [body]
    if (messages.every((m) => typeof m === 'object' && m !== null && 'jsonrpc' in m)) {
      for (const m of messages) deliver(m)
      return
    }
    // A hub error (401 bad token, 403 origin, ...) is not JSON-RPC: tell the client in its terms.
    const err = (body as { error?: { message?: unknown } }).error
    const detail = typeof err?.message === 'string' ? err.message : text.slice(0, 300)
    fail(msg, -32000, `the hub answered HTTP ${res.status}: ${detail}`, body)
  }

  const rl = createInterface({ input: io.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    if (line.trim() === '') continue
    let msg: Message
    try {
      msg = JSON.parse(line) as Message
    } catch {
      emit({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32700, message: 'Parse error: a line on stdin is not JSON' },
      })
      continue
    }
    // Requests run concurrently (one may be slow); each answer is written as one whole line.
    const p = forward(msg).catch((e: unknown) =>
      fail(msg, -32603, `bridge error: ${(e as Error).message}`)
    )
    pending.add(p)
    void p.finally(() => pending.delete(p))
  }
  await Promise.all(pending)
  return 0
}
