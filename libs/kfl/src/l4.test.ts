import { describe, expect, it } from 'vitest'
import type { Attr, Entry } from '@tapwire/wire'
import { compile } from './index.js'

// The reference's L4 examples (kubeshark-notes §1.1 "L4 connection", "L4 flow") over hand-built
// L4 entries shaped as the Analyzer makes them (libs/dissectors/src/l4/l4-entries.ts), plus an
// HTTP call and a fallback TCP entry that no L4 filter may select.
const s = (name: string, str: string): Attr => ({ name, str })
const n = (name: string, num: number): Attr => ({ name, num })
const l = (name: string, values: string[]): Attr => ({ name, list: { values } })

const conn = (name: string, proto: string, state: string, localBytes: number, l7: string[]): Entry => ({
  id: `n/1/${name}`,
  proto,
  transport: proto.slice(0, 3),
  attrs: [
    s('conn_state', state),
    n('conn_local_pkts', 10),
    n('conn_local_bytes', localBytes),
    n('conn_remote_pkts', 8),
    n('conn_remote_bytes', 4000),
    l('conn_l7_detected', l7),
    n('conn_group_id', 1),
  ],
})

const flow = (name: string, proto: string, pps: number, bps: number): Entry => ({
  id: `n/1/${name}`,
  proto,
  transport: proto.slice(0, 3),
  attrs: [
    s('flow_state', 'open'),
    n('flow_local_pkts', 100_000),
    n('flow_local_bytes', 90_000_000),
    n('flow_local_pps', pps),
    n('flow_local_bps', bps),
    n('flow_remote_pps', 5000),
    n('flow_remote_bps', 9_000_000),
    l('flow_l7_detected', ['HTTP']),
    n('flow_group_id', 1),
  ],
})

const ENTRIES: Entry[] = [
  conn('big-open', 'tcp_conn', 'open', 2_000_000, ['HTTP']),
  conn('big-closed', 'tcp_conn', 'closed', 3_000_000, ['HTTP']),
  conn('small-open', 'tcp_conn', 'open', 500, ['REDIS']),
  conn('udp-big-open', 'udp_conn', 'open', 1_500_000, ['DNS']),
  conn('grpc-closed', 'tcp_conn', 'closed', 700, ['HTTP', 'GRPC']),
  flow('busy-tcp', 'tcp_flow', 2500, 8_000_000),
  flow('slow-tcp', 'tcp_flow', 20, 6_000_000),
  flow('busy-udp', 'udp_flow', 1200, 1_000_000),
  flow('quiet-udp', 'udp_flow', 3, 2000),
  {
    id: 'n/2/http-call',
    proto: 'http',
    method: 'GET',
    // Same numbers in unrelated places: the flags must keep these out.
    attrs: [s('conn_state', 'open'), n('conn_local_bytes', 5_000_000), n('flow_local_pps', 9999)],
  },
  { id: 'n/3/tcp-fallback', proto: 'tcp', transport: 'tcp', attrs: [s('tcp_error_type', 'reset')] },
]

const select = (filter: string): string[] =>
  ENTRIES.filter(compile(filter).predicate).map((e) => (e.id ?? '').split('/')[2] ?? '')

describe('L4 variables (conn / flow)', () => {
  it.each([
    ['conn && conn_state == "open" && conn_local_bytes > 1000000', ['big-open', 'udp-big-open']],
    ['tcp_conn && "HTTP" in conn_l7_detected', ['big-open', 'big-closed', 'grpc-closed']],
    ['flow && flow_local_pps > 1000', ['busy-tcp', 'busy-udp']],
    ['tcp_flow && flow_local_bps > 5000000', ['busy-tcp', 'slow-tcp']],
  ])('%s', (filter, expected) => {
    expect(select(filter)).toEqual(expected)
  })

  it('sets each flag on its own entries only', () => {
    expect(select('conn')).toEqual(['big-open', 'big-closed', 'small-open', 'udp-big-open', 'grpc-closed'])
    expect(select('udp_conn')).toEqual(['udp-big-open'])
    expect(select('flow')).toEqual(['busy-tcp', 'slow-tcp', 'busy-udp', 'quiet-udp'])
    expect(select('udp_flow')).toEqual(['busy-udp', 'quiet-udp'])
    // `tcp` is the fallback's raw TCP entry, not every TCP-carried entry.
    expect(select('tcp')).toEqual(['tcp-fallback'])
    expect(select('http')).toEqual(['http-call'])
  })

  it('lets the store skip segments without L4 entries', () => {
    expect([...(compile('conn && conn_local_bytes > 1').protocolHint ?? [])].sort()).toEqual(['conn', 'tcp_conn', 'udp_conn'])
    expect([...(compile('tcp_flow && flow_local_bps > 5000000').protocolHint ?? [])]).toEqual(['tcp_flow'])
  })

  it('type-checks the L4 variables', () => {
    expect(() => compile('conn_local_bytes == "1"')).toThrow()
    expect(() => compile('flow_local_pps > 1.5 && "HTTP" in flow_l7_detected')).not.toThrow()
  })
})
