import { describe, expect, it } from 'vitest'
import { compile } from '@tapwire/kfl'
import type { Entry } from '@tapwire/wire'
import { Analyzer } from '../analyzer.js'
import type { AnalyzerOptions } from '../analyzer.js'
import { TcpConn, UdpFlow } from './test-packets.js'
import type { Tally } from './test-packets.js'

/** A whole second, so report windows start at T. */
const T = 1_700_000_000_000

function analyzer(opts: Partial<AnalyzerOptions> = {}): { a: Analyzer; entries: Entry[] } {
  const entries: Entry[] = []
  let id = 1
  const a = new Analyzer({ node: 'n1', nextId: () => id++, l4Entries: true, l4IntervalMs: 1000, ...opts, onEntry: (e) => entries.push(e) })
  return { a, entries }
}

const attr = (e: Entry, name: string): unknown => {
  const a = e.attrs?.find((x) => x.name === name)
  return a?.str ?? a?.num ?? a?.list?.values ?? undefined
}
const of = (entries: Entry[], proto: string): Entry[] => entries.filter((e) => e.proto === proto)
const copy = (t: Tally): Tally => ({ pkts: [...t.pkts], bytes: [...t.bytes] })
const counters = (e: Entry, kind: 'conn' | 'flow') => ({
  pkts: [attr(e, `${kind}_local_pkts`), attr(e, `${kind}_remote_pkts`)],
  bytes: [attr(e, `${kind}_local_bytes`), attr(e, `${kind}_remote_bytes`)],
})

/** An HTTP/1.1 keep-alive connection: a call in window 0, one in window 1, closed in window 2. */
function keepAlive(a: Analyzer) {
  const c = new TcpConn(a, ['10.0.0.1', 40000], ['10.0.0.2', 80])
  c.handshake(T)
  c.send(T + 10, 0, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n')
  c.send(T + 20, 1, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  const w0 = copy(c.tally)
  c.send(T + 1500, 0, 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n')
  c.send(T + 1510, 1, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
  const w1 = copy(c.tally)
  c.close(T + 2500)
  const conn = [...a.connections()].find((x) => x.server.port === 80)!
  return { c, w0, w1, conn }
}

describe('L4 connection entries (tcp_conn)', () => {
  it('reports an open connection per window it moved in, then closed; counters equal the Connection', () => {
    const { a, entries } = analyzer()
    const { c, w0, w1, conn } = keepAlive(a)
    a.finish()
    const conns = of(entries, 'tcp_conn')
    expect(conns.map((e) => [attr(e, 'conn_state'), e.ts])).toEqual([
      ['open', T + 1000],
      ['open', T + 2000],
      ['closed', T + 2500.3],
    ])
    // Point-in-time reports with cumulative counters: what was on the wire before each window ended.
    expect(counters(conns[0]!, 'conn')).toEqual(w0)
    expect(counters(conns[1]!, 'conn')).toEqual(w1)
    expect(counters(conns[2]!, 'conn')).toEqual(c.tally)
    expect(counters(conns[2]!, 'conn')).toEqual({
      pkts: [conn.stats[0].pkts, conn.stats[1].pkts],
      bytes: [conn.stats[0].bytes, conn.stats[1].bytes],
    })
    // Local is the client (the SYN's sender), remote the server.
    for (const e of conns) {
      expect(e.src).toEqual({ ip: '10.0.0.1', port: 40000 })
      expect(e.dst).toEqual({ ip: '10.0.0.2', port: 80 })
      expect(attr(e, 'conn_l7_detected')).toEqual(['HTTP'])
      expect(e.transport).toBe('tcp')
    }
  })

  it('shares flow and connection ids with the calls and never repeats an entry id', () => {
    const { a, entries } = analyzer()
    keepAlive(a)
    a.finish()
    const calls = of(entries, 'http')
    expect(calls.map((e) => e.path)).toEqual(['/a', '/b'])
    const l4 = entries.filter((e) => e.proto !== 'http')
    expect(l4.length).toBe(6)
    for (const e of l4) expect(e.flowId).toBe(calls[0]!.flowId)
    for (const e of of(entries, 'tcp_conn')) {
      expect(e.connId).toBe(calls[0]!.connId)
      expect(attr(e, 'conn_group_id')).toBe(calls[0]!.flowId)
    }
    expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length)
    for (const e of entries) expect(e.id).toBe(`n1/${e.flowId}/${e.index}`)
    expect(a.stats.entries).toBe(entries.length)
    // Drill-down on an L4 entry finds its connection and flow like a call's does.
    const closed = of(entries, 'tcp_conn').at(-1)!
    const l4Stats = a.l4(closed.connId as number, closed.flowId as number)
    expect(l4Stats.conn).toMatchObject({ localPkts: attr(closed, 'conn_local_pkts'), remoteBytes: attr(closed, 'conn_remote_bytes') })
    expect(l4Stats.flow?.id).toBe(closed.flowId)
  })

  it('is off by default and while dissection is off, leaving the L7 entries as they were', () => {
    const off = analyzer({ l4Entries: undefined })
    keepAlive(off.a)
    off.a.finish()
    expect(off.entries.map((e) => `${e.proto} ${e.path}`)).toEqual(['http /a', 'http /b'])

    const on = analyzer()
    keepAlive(on.a)
    on.a.finish()
    expect(of(on.entries, 'http').map((e) => e.path)).toEqual(['/a', '/b'])

    const quiet = analyzer({ dissectionEnabled: false })
    keepAlive(quiet.a)
    quiet.a.finish()
    expect(quiet.entries).toEqual([])
    expect(quiet.a.stats.entries).toBe(0)
  })
})

describe('L4 flow entries (tcp_flow, udp_flow)', () => {
  it('carries cumulative counters and the rates of what moved in each window', () => {
    const { a, entries } = analyzer()
    const { c, w0, w1 } = keepAlive(a)
    a.finish()
    const flows = of(entries, 'tcp_flow')
    expect(flows.map((e) => [attr(e, 'flow_state'), e.ts])).toEqual([
      ['open', T + 1000],
      ['open', T + 2000],
      ['closed', T + 2500.3],
    ])
    // The last window is cut short by the end of input (its last packet, T+2500.3).
    const windows: [Tally, Tally, number][] = [
      [{ pkts: [0, 0], bytes: [0, 0] }, w0, T],
      [w0, w1, T + 1000],
      [w1, c.tally, T + 2000],
    ]
    for (const [i, [before, after, start]] of windows.entries()) {
      const e = flows[i]!
      const secs = (e.ts! - start) / 1000
      expect(counters(e, 'flow')).toEqual(after)
      expect(attr(e, 'flow_local_pps')).toBeCloseTo((after.pkts[0] - before.pkts[0]) / secs, 6)
      expect(attr(e, 'flow_remote_pps')).toBeCloseTo((after.pkts[1] - before.pkts[1]) / secs, 6)
      expect(attr(e, 'flow_local_bps')).toBeCloseTo(((after.bytes[0] - before.bytes[0]) * 8) / secs, 6)
      expect(attr(e, 'flow_remote_bps')).toBeCloseTo(((after.bytes[1] - before.bytes[1]) * 8) / secs, 6)
      expect(attr(e, 'flow_l7_detected')).toEqual(['HTTP'])
      expect(e.src).toEqual({ ip: '10.0.0.1', port: 0 })
      expect(e.dst).toEqual({ ip: '10.0.0.2', port: 80 })
      expect(e.connId).toBe(0)
    }
  })

  it('counts the first window from the first packet, later windows whole', () => {
    const { a, entries } = analyzer()
    const udp = new UdpFlow(a, ['10.0.0.1', 5000], ['10.0.0.3', 9999])
    // Capture starts at T+400: six datagrams observed over 0.6 s of the first window.
    for (let i = 0; i < 6; i++) udp.send(T + 400 + i, 0, new Uint8Array(10))
    // Then six in [T+1000, T+2000), after a quiet start: that window counts whole.
    for (let i = 0; i < 6; i++) udp.send(T + 1900 + i, 0, new Uint8Array(10))
    a.tick(T + 2000)
    expect(of(entries, 'udp_flow').map((e) => attr(e, 'flow_local_pps') as number)).toEqual([
      expect.closeTo(10, 6),
      expect.closeTo(6, 6),
    ])
  })

  it('aggregates the connections of one peer pair', () => {
    const { a, entries } = analyzer()
    const one = new TcpConn(a, ['10.0.0.1', 40001], ['10.0.0.2', 8080])
    const two = new TcpConn(a, ['10.0.0.1', 40002], ['10.0.0.2', 8080])
    for (const [i, c] of [one, two].entries()) {
      c.handshake(T + i)
      c.send(T + 10 + i, 0, 'PING')
      c.close(T + 20 + i)
    }
    a.finish()
    expect(of(entries, 'tcp_conn').map((e) => attr(e, 'conn_state'))).toEqual(['closed', 'closed'])
    const [flow] = of(entries, 'tcp_flow')
    expect(of(entries, 'tcp_flow').length).toBe(1)
    expect(counters(flow!, 'flow')).toEqual({
      pkts: [one.tally.pkts[0] + two.tally.pkts[0], one.tally.pkts[1] + two.tally.pkts[1]],
      bytes: [one.tally.bytes[0] + two.tally.bytes[0], one.tally.bytes[1] + two.tally.bytes[1]],
    })
    // An unknown binary protocol is no L7 detection.
    expect(attr(flow!, 'flow_l7_detected')).toEqual([])
  })

  it('reports in_progress handshakes, UDP flows, idle timeouts and flows whose last connection went', () => {
    const { a, entries } = analyzer({ flowLimits: { tcpIdleMs: 3000, udpIdleMs: 2000 } })
    const syn = new TcpConn(a, ['10.0.0.1', 40003], ['10.0.0.9', 5432])
    syn.packet(T, 0, 0x02)
    const udp = new UdpFlow(a, ['10.0.0.1', 5000], ['10.0.0.3', 9999])
    udp.send(T + 100, 0, new Uint8Array([1, 2, 3, 4]))
    udp.send(T + 101, 1, new Uint8Array([5, 6]))
    a.tick(T + 1200)
    const first = entries.length
    expect(entries.map((e) => `${e.proto} ${String(attr(e, 'conn_state') ?? attr(e, 'flow_state'))}`).sort()).toEqual([
      'tcp_conn in_progress',
      'tcp_flow open',
      'udp_conn open',
      'udp_flow open',
    ])
    expect(counters(of(entries, 'udp_conn')[0]!, 'conn')).toEqual(udp.tally)
    // Nothing moved in [T+1000, T+2000): no report; then both time out.
    a.tick(T + 5000)
    const closedConns = entries.slice(first).filter((e) => e.proto === 'tcp_conn' || e.proto === 'udp_conn')
    expect(closedConns.map((e) => `${e.proto} ${String(attr(e, 'conn_state'))}`).sort()).toEqual(['tcp_conn closed', 'udp_conn closed'])
    expect(counters(closedConns.find((e) => e.proto === 'udp_conn')!, 'conn')).toEqual(udp.tally)
    // The next report says each flow is over, though nothing moved.
    a.tick(T + 6000)
    const ended = entries.filter((e) => e.proto === 'udp_flow' || e.proto === 'tcp_flow').slice(2)
    expect(ended.map((e) => `${e.proto} ${String(attr(e, 'flow_state'))} ${String(attr(e, 'flow_local_pps'))}`).sort()).toEqual([
      'tcp_flow closed 0',
      'udp_flow closed 0',
    ])
    a.finish()
    expect(entries.filter((e) => e.proto!.endsWith('_flow') || e.proto!.endsWith('_conn')).length).toBe(8)
  })
})

describe('KFL over the L4 entries the Analyzer made', () => {
  const { a, entries } = analyzer()
  keepAlive(a)
  const udp = new UdpFlow(a, ['10.0.0.1', 5000], ['10.0.0.3', 9999])
  for (let i = 0; i < 20; i++) udp.send(T + 2600 + i, 0, new Uint8Array(1000))
  a.tick(T + 3000)
  a.finish()
  const select = (kfl: string): string[] => entries.filter(compile(kfl).predicate).map((e) => `${e.proto} ${Math.round(e.ts! - T)}`)

  it('flags select L4 entries only, and the reference examples work', () => {
    expect(select('conn').length).toBe(of(entries, 'tcp_conn').length + of(entries, 'udp_conn').length)
    expect(select('flow && !tcp_flow')).toEqual(of(entries, 'udp_flow').map((e) => `udp_flow ${Math.round(e.ts! - T)}`))
    expect(select('http')).toEqual(['http 10', 'http 1500'])
    expect(select('tcp_conn && "HTTP" in conn_l7_detected')).toEqual(['tcp_conn 1000', 'tcp_conn 2000', 'tcp_conn 3000'])
    expect(select('conn && conn_state == "open" && conn_local_bytes > 200')).toEqual(['tcp_conn 2000', 'udp_conn 3000'])
    // 20 datagrams of 1028 bytes in the window [T+2000, T+3000): 20 pkt/s, 164480 bit/s.
    expect(select('flow && flow_local_pps > 10')).toEqual(['udp_flow 3000'])
    expect(select('udp_flow && flow_local_bps > 164000 && flow_local_bps < 165000')).toEqual(['udp_flow 3000'])
    expect(select('tcp_flow && flow_local_bps > 5000000')).toEqual([])
  })
})
