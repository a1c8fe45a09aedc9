import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// The CLI is tested against the hub's real HTTP surface (store, KFL, routes, MCP) on a loopback
// port; only tests import it, the CLI itself talks HTTP.
import { sampleEntries, startTestHub } from '../../hub/src/mcp/test-hub.js'
import type { CliIo } from './cli.js'
import { run } from './cli.js'

type Hub = Awaited<ReturnType<typeof startTestHub>>

function capture(env: Record<string, string | undefined> = {}, stdin = new PassThrough()) {
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin,
    env,
  }
  return { io, out: () => stdout, err: () => stderr }
}

let hub: Hub
beforeAll(async () => {
  hub = await startTestHub()
})
afterAll(async () => {
  await hub.close()
})

const cli = async (...argv: string[]) => {
  const c = capture()
  const code = await run(['--hub', hub.url, ...argv], c.io)
  return { code, out: c.out(), err: c.err() }
}

const failingIds = sampleEntries()
  .map((e, i) => ({ id: e.id, i }))
  .filter(({ i }) => i % 5 === 0)
  .reverse()
  .map(({ id }) => id)

describe('tapwire calls', () => {
  it('--kfl --json returns exactly the matching calls', async () => {
    const r = await cli('calls', '--kfl', 'http && status_code >= 500', '--json')
    expect(r.code).toBe(0)
    const body = JSON.parse(r.out)
    expect(body.calls.map((c: any) => c.id)).toEqual(failingIds)
    expect(body.total).toBe(3)
  })

  it('prints a table with one row per call', async () => {
    const r = await cli('calls', '--kfl', 'http and response.status == 500', '--limit', '2')
    expect(r.code).toBe(0)
    const lines = r.out.trim().split('\n')
    expect(lines[0]).toMatch(/^TIME \(UTC\)\s+PROTO\s+METHOD\s+STATUS/)
    expect(lines).toHaveLength(4)
    expect(lines[1]).toContain(failingIds[0])
    expect(lines[1]).toContain('500')
    expect(lines[1]).toContain('frontend/web-0')
    expect(lines[3]).toBe('2 of 3 calls (truncated; raise --limit or narrow --kfl)')
  })

  it('reads the hub from TAPWIRE_HUB', async () => {
    const c = capture({ TAPWIRE_HUB: hub.url })
    expect(await run(['calls', '--limit', '1', '--json'], c.io)).toBe(0)
    expect(JSON.parse(c.out()).calls).toHaveLength(1)
  })

  it('a bad filter is the hub error, exit 1', async () => {
    const r = await cli('calls', '--kfl', 'status_code == "500"')
    expect(r.code).toBe(1)
    expect(r.err).toContain('INVALID_KFL (HTTP 400)')
  })
})

describe('usage errors exit 2', () => {
  it.each([
    [[]],
    [['nope']],
    [['calls', '--limit', 'ten']],
    [['calls', '--format', 'xml']],
    [['calls', '--bogus']],
    [['calls', '--out', 'x']],
    [['details']],
    [['snapshot']],
    [['snapshot', 'create']],
    [['snapshot', 'get', 'a', 'b']],
    [['dissection', 'toggle']],
    [['--hub', 'not a url', 'calls']],
  ])('%j', async (argv) => {
    const c = capture()
    expect(await run(argv, c.io)).toBe(2)
    expect(c.err()).toContain('usage: tapwire')
    expect(c.out()).toBe('')
  })

  it('--help exits 0', async () => {
    const c = capture()
    expect(await run(['--help'], c.io)).toBe(0)
    expect(c.out()).toContain('snapshot download NAME')
  })
})

describe('hub errors exit 1 with the hub message', () => {
  it('prints the hub error (code, status, message) for a snapshot request and exits 1', async () => {
    // This test hub has no snapshot store: whatever the hub answers, the CLI prints it as it is.
    const r = await cli('snapshot', 'get', 'no-such-snapshot')
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^tapwire: [A-Z_]+ \(HTTP [45]\d\d\): \S/)
  })

  it('a call id that does not exist', async () => {
    const r = await cli('details', 'node-9/1/0')
    expect(r.code).toBe(1)
    expect(r.err).toContain('HTTP 404')
  })

  it('an unreachable hub', async () => {
    const c = capture()
    expect(await run(['--hub', 'http://127.0.0.1:1', 'calls'], c.io)).toBe(1)
    expect(c.err()).toContain('UNREACHABLE')
  })

  it('a missing token', async () => {
    const secured = await startTestHub({ authToken: 'tok' })
    try {
      const c = capture()
      expect(await run(['--hub', secured.url, 'calls'], c.io)).toBe(1)
      expect(c.err()).toContain('UNAUTHORIZED (HTTP 401)')
      const ok = capture({ TAPWIRE_TOKEN: 'tok' })
      expect(await run(['--hub', secured.url, 'calls', '--json'], ok.io)).toBe(0)
    } finally {
      await secured.close()
    }
  })
})

describe('tapwire dissection', () => {
  it('status, disable, enable', async () => {
    expect((await cli('dissection', 'status')).out).toBe('dissection: enabled\n')
    expect((await cli('dissection', 'disable')).out).toBe('dissection: disabled\n')
    expect(hub.dissection.enabled).toBe(false)
    expect(JSON.parse((await cli('dissection', 'enable', '--json')).out)).toEqual({
      success: true,
      enabled: true,
    })
    expect(hub.dissection.enabled).toBe(true)
  })
})
