import { execFile } from 'node:child_process'
import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, requireTool, tempDir } from '@tapwire/testing'
import type { Entry } from '@tapwire/wire'

const run = promisify(execFile)

interface Conversation {
  /** `ip:port` of each side as tshark prints them; A is the left column. */
  a: string
  b: string
  /** Frames and bytes A → B ("->") and B → A ("<-"). */
  aToB: { frames: number; bytes: number }
  bToA: { frames: number; bytes: number }
}

/**
 * tshark's TCP conversation table (`-q -z conv,tcp`): per conversation, the frames and bytes each
 * way, counted over whole frames as our L4 counters are.
 */
async function tcpConversations(file: string): Promise<Conversation[]> {
  const { stdout } = await run(requireTool('tshark', 'tshark'), ['-n', '-q', '-r', file, '-z', 'conv,tcp'])
  const out: Conversation[] = []
  // "127.0.0.1:41234  <-> 127.0.0.1:8080  6 452 bytes  7 1034 bytes  13 1486 bytes  0.0001 0.0123"
  const row = /^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+) (\S+)\s+(\d+)\s+([\d,]+) (\S+)/
  for (const line of stdout.split('\n')) {
    const m = row.exec(line.trim())
    if (!m) continue
    // Small exchanges keep tshark printing exact byte counts (it switches to kB for large ones).
    if (m[5] !== 'bytes' || m[8] !== 'bytes') throw new Error(`tshark printed a rounded size: ${line}`)
    const num = (s: string): number => Number(s.replace(/,/g, ''))
    // Columns: "<-" (B → A) first, then "->" (A → B).
    out.push({ a: m[1]!, b: m[2]!, bToA: { frames: num(m[3]!), bytes: num(m[4]!) }, aToB: { frames: num(m[6]!), bytes: num(m[7]!) } })
  }
  return out
}

const attr = (e: Entry, name: string): unknown => {
  const a = e.attrs?.find((x) => x.name === name)
  return a?.str ?? a?.num ?? a?.list?.values ?? undefined
}

function get(port: number, path: string, agent: Agent | false, body?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, method: body ? 'POST' : 'GET' }, (res) => {
      res.resume()
      res.on('end', () => resolve())
    })
    req.on('error', reject)
    req.end(body)
  })
}

// A recorded HTTP/1.1 capture through the Analyzer with L4 entries on: every connection's closed
// entry carries exactly the frames and bytes tshark's conversation statistics count for it.
describe('tcp_conn entries against tshark -z conv,tcp', () => {
  const dir = tempDir()
  const file = join(dir.path, 'l4-http.pcap')
  let entries: Entry[] = []
  let conversations: Conversation[] = []
  let port = 0

  beforeAll(async () => {
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.end(req.url === '/big' ? 'y'.repeat(3000) : 'ok'))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    try {
      await recordLoopback(file, `tcp port ${port}`, async () => {
        // One keep-alive connection with three calls, closed by the client...
        const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
        for (const p of ['/one', '/two', '/big']) await get(port, p, keepAlive)
        keepAlive.destroy()
        // ...and two one-call connections, one of them uploading a body.
        await get(port, '/solo', false)
        await get(port, '/upload', false, 'x'.repeat(2000))
      })
    } finally {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
    entries = (await analyzeFile(file, { l4Entries: true })).entries
    conversations = await tcpConversations(file)
  }, 60_000)

  afterAll(() => dir.dispose())

  it('makes one closed tcp_conn entry per conversation, with its counters', () => {
    expect(conversations.length).toBe(3)
    const conns = entries.filter((e) => e.proto === 'tcp_conn')
    expect(conns.map((e) => attr(e, 'conn_state'))).toEqual(['closed', 'closed', 'closed'])
    for (const conv of conversations) {
      const client = conv.a.endsWith(`:${port}`) ? conv.b : conv.a
      const e = conns.find((x) => `${x.src?.ip}:${x.src?.port}` === client)
      expect(e, client).toBeDefined()
      // Local is the client: tshark's A → B when the client is A.
      const [out, back] = conv.a === client ? [conv.aToB, conv.bToA] : [conv.bToA, conv.aToB]
      expect({
        localPkts: attr(e!, 'conn_local_pkts'),
        localBytes: attr(e!, 'conn_local_bytes'),
        remotePkts: attr(e!, 'conn_remote_pkts'),
        remoteBytes: attr(e!, 'conn_remote_bytes'),
      }).toEqual({ localPkts: out.frames, localBytes: out.bytes, remotePkts: back.frames, remoteBytes: back.bytes })
      expect(e!.dst).toEqual({ ip: '127.0.0.1', port })
      expect(attr(e!, 'conn_l7_detected')).toEqual(['HTTP'])
    }
  })

  it('sums the three connections in the peer flow and keeps the calls as they were', () => {
    const flows = entries.filter((e) => e.proto === 'tcp_flow')
    expect(flows.length).toBe(1)
    const sum = (f: (c: Conversation) => number): number => conversations.reduce((n, c) => n + f(c), 0)
    const total = sum((c) => c.aToB.frames + c.bToA.frames)
    const totalBytes = sum((c) => c.aToB.bytes + c.bToA.bytes)
    const f = flows[0]!
    expect((attr(f, 'flow_local_pkts') as number) + (attr(f, 'flow_remote_pkts') as number)).toBe(total)
    expect((attr(f, 'flow_local_bytes') as number) + (attr(f, 'flow_remote_bytes') as number)).toBe(totalBytes)
    expect(attr(f, 'flow_state')).toBe('closed')
    expect(
      entries
        .filter((e) => e.proto === 'http')
        .map((e) => e.path)
        .sort()
    ).toEqual(['/big', '/one', '/solo', '/two', '/upload'])
    expect(entries.length).toBe(5 + 3 + 1)
  })
})
