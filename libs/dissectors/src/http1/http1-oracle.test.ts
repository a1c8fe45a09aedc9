import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, recordLoopback, tempDir, tsharkFields } from '@tapwire/testing'
import type { AnalyzeResult } from '@tapwire/testing'

// Real traffic (Node's http client and server on loopback) recorded by tcpdump; tshark's HTTP
// dissector is the oracle for every call we report.
describe('HTTP/1.1 against tshark', () => {
  const dir = tempDir()
  const file = join(dir.path, 'http1.pcap')
  let result: AnalyzeResult
  let port = 0

  beforeAll(async () => {
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (d: Buffer) => (body += d.toString()))
      req.on('end', () => {
        const status = req.url?.startsWith('/missing') ? 404 : req.url?.startsWith('/boom') ? 500 : 200
        if (req.url?.startsWith('/chunked')) {
          res.writeHead(200, { 'content-type': 'text/plain' })
          res.write('part one,')
          res.end('part two')
          return
        }
        res.writeHead(status, { 'content-type': 'application/json', 'x-echo-len': String(body.length) })
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ path: req.url, got: body.length }))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    await recordLoopback(file, `tcp port ${port}`, async () => {
      const base = `http://127.0.0.1:${port}`
      for (let i = 0; i < 5; i++) await fetch(`${base}/api/items/${i}?q=${i}`).then((r) => r.text())
      await fetch(`${base}/api/orders`, { method: 'POST', body: JSON.stringify({ item: 'widget', qty: 3 }), headers: { 'content-type': 'application/json' } }).then((r) => r.text())
      await fetch(`${base}/missing`).then((r) => r.text())
      await fetch(`${base}/boom`, { method: 'DELETE' }).then((r) => r.text())
      await fetch(`${base}/chunked`).then((r) => r.text())
      await fetch(`${base}/head`, { method: 'HEAD' }).then((r) => r.text())
      await fetch(`${base}/put`, { method: 'PUT', body: 'x'.repeat(70_000) }).then((r) => r.text())
    })
    await new Promise<void>((r) => server.close(() => r()))
    result = await analyzeFile(file)
  }, 60_000)

  afterAll(() => dir.dispose())

  it('finds exactly the calls tshark finds, with the same method, path and status', async () => {
    // tshark decodes HTTP on an ephemeral port only when told to.
    const decodeAs = ['-d', `tcp.port==${port},http`]
    const reqs = await tsharkFields(file, 'http.request', ['tcp.stream', 'http.request.method', 'http.request.uri'], decodeAs)
    const resps = await tsharkFields(file, 'http.response', ['tcp.stream', 'http.response.code', 'http.request_in'], decodeAs)
    expect(reqs.length).toBe(11)
    expect(resps.length).toBe(11)
    const ours = result.entries.map((e) => `${e.method} ${e.url} ${e.status}`).sort()
    // tshark pairs by request frame; pair in order per stream like HTTP/1.1 does.
    const theirs = reqs.map((r, i) => `${r[1]} ${r[2]} ${resps[i]![1]}`).sort()
    expect(ours).toEqual(theirs)
  })

  it('reports bodies, sizes and headers as sent', () => {
    const post = result.entries.find((e) => e.method === 'POST')!
    expect(post.reqBody).toBe('{"item":"widget","qty":3}')
    expect(post.reqBodySize).toBe(25)
    expect(post.reqHeaders!.find((h) => h.name?.toLowerCase() === 'content-type')?.value).toBe('application/json')
    const chunked = result.entries.find((e) => e.path === '/chunked')!
    expect(chunked.respBody).toBe('part one,part two')
    const head = result.entries.find((e) => e.method === 'HEAD')!
    expect(head.status).toBe(200)
    expect(head.respBodySize).toBe(0)
    const put = result.entries.find((e) => e.method === 'PUT')!
    expect(put.reqBodySize).toBe(70_000)
    expect(put.reqBodyTruncated).toBe(true)
    for (const e of result.entries) {
      expect(e.elapsedUs).toBeGreaterThan(0)
      expect(e.dst!.port).toBe(port)
      expect(e.id).toMatch(/^test\/\d+\/\d+$/)
    }
    expect(result.stats.flows.tcpGaps).toBe(0)
    expect(result.stats.engine.dissectorErrors).toBe(0)
  })
})
