import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { analyzeFile, tempDir } from '@tapwire/testing'
import { countAmqp, countMysql, countRows, countValues, TSHARK } from './protocol-tshark.js'
import { recordDns } from './protocol-traffic-net.js'

const run = promisify(execFile)

describe('tshark call counting', () => {
  it('counts every aggregated occurrence, and only the kept ones', () => {
    // Two frames: one with 16 pipelined requests, one with a single request; a trailing newline.
    expect(countValues(`${Array(16).fill('3').join(',')}\n2\n`)).toBe(17)
    expect(countValues('Parse|Bind|Execute|Sync\tx\nSimple query\n\n', '|', (t) => t === 'Execute' || t === 'Simple query')).toBe(2)
    expect(countRows('1\n2\n\n3\n')).toBe(3)
  })

  it('MySQL: a row without a command is a login request', () => {
    expect(countMysql('9\t\n16\t3\n18\t3|3\n42\t1\n')).toBe(5)
  })

  it('AMQP: replies are folded into their requests', () => {
    // connection.start / start-ok, basic.publish ×2 in one frame, basic.get-empty, queue.declare-ok.
    expect(countAmqp('10\t10\n10\t11\n60,60\t40,40\n60\t72\n50\t11\n')).toBe(3)
  })
})

// The bench's DNS generator against a real dnsmasq, recorded by tcpdump: tshark's count (with the
// bench's own arguments) and our analyzer's agree with the number of queries the client made.
describe('DNS generator', () => {
  const dir = tempDir('tapwire-bench-test-')
  afterAll(() => dir.dispose())

  it('records exactly the queries it made, and both readers count them', async () => {
    const file = join(dir.path, 'dns.pcap')
    const rec = await recordDns(file, 40, Date.now() + 20_000)
    expect(rec.made).toBe(40)
    const t = TSHARK.dns!(rec.port)
    const { stdout } = await run('tshark', ['-n', '-r', file, ...t.args], { maxBuffer: 16 << 20 })
    expect(t.count(stdout)).toBe(40)
    const ours = await analyzeFile(file)
    expect(ours.entries.filter((e) => e.proto === 'dns').length).toBe(40)
    expect(ours.entries.filter((e) => e.errorType === 'timeout').length).toBe(0)
    // The questions rotate over the names dnsmasq knows, and one it answers NXDOMAIN.
    expect(new Set(ours.entries.map((e) => e.path)).size).toBe(7)
    expect(ours.entries.some((e) => e.status === 3)).toBe(true)
  }, 30_000)
})
