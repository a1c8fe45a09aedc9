import { amqpMethodName } from '@tapwire/dissectors'

/**
 * How tshark is told to decode each protocol on the peer's (random) port, and how its calls are
 * counted from `-T fields` output, as close as tshark allows to our notion of a call. `note` says
 * what tshark counts where that is not exactly our call.
 */
export interface TsharkCount {
  args: string[]
  count: (stdout: string) => number
  note: string
}

const lines = (stdout: string): string[] => stdout.split('\n').filter((l) => l.trim() !== '')

/** One call per output row (one frame holds at most one call of this kind). */
export const countRows = (stdout: string): number => lines(stdout).length

/**
 * Counts the values of the first column: tshark joins a field's occurrences in one frame with
 * the aggregator (`,` by default, `-E aggregator=…`), so a frame carrying 16 pipelined requests
 * yields 16 values. `keep` selects which values are calls.
 */
export function countValues(stdout: string, sep = ',', keep: (v: string) => boolean = (v) => v !== ''): number {
  let n = 0
  for (const l of lines(stdout)) n += (l.split('\t')[0] ?? '').split(sep).filter(keep).length
  return n
}

/**
 * MySQL rows of `frame.number`, `mysql.command`: a row without a command is a frame whose match
 * was the login request (the frame number keeps that row from being an empty line).
 */
export function countMysql(stdout: string): number {
  let n = 0
  for (const l of lines(stdout)) {
    const cmds = (l.split('\t')[1] ?? '').split('|').filter((c) => c !== '')
    n += cmds.length === 0 ? 1 : cmds.length
  }
  return n
}

/**
 * AMQP rows of `amqp.method.class`, `amqp.method.method`: every method frame except replies
 * (`*-ok`, basic.get-empty), which we fold into their request's call (AMQP 0-9-1 §1.1: synchronous
 * requests and their replies; publish, deliver and ack are one-way).
 */
export function countAmqp(stdout: string): number {
  let n = 0
  for (const l of lines(stdout)) {
    const [cls = '', met = ''] = l.split('\t')
    const ms = met.split(',')
    cls.split(',').forEach((c, i) => {
      const name = amqpMethodName(Number(c), Number(ms[i]))
      if (!name.endsWith('-ok') && name !== 'basic.get-empty') n++
    })
  }
  return n
}

const fields = (filter: string, ...f: string[]): string[] => ['-Y', filter, '-T', 'fields', ...f.flatMap((x) => ['-e', x])]

export const TSHARK: Record<string, (port: number) => TsharkCount> = {
  dns: (port) => ({
    args: ['-d', `udp.port==${port},dns`, ...fields('dns.flags.response == 0', 'dns.id')],
    count: countRows,
    note: 'queries (`dns.flags.response == 0`)',
  }),
  redis: (port) => ({
    args: ['-d', `tcp.port==${port},resp`, ...fields(`tcp.dstport == ${port} && resp.array`, 'resp.array.length')],
    count: (s) => countValues(s),
    note: 'client RESP arrays (`resp.array.length`), one per command',
  }),
  postgresql: (port) => ({
    args: ['-d', `tcp.port==${port},pgsql`, '-E', 'aggregator=|', ...fields(`tcp.dstport == ${port} && pgsql`, 'pgsql.type')],
    count: (s) => countValues(s, '|', (t) => t === 'Simple query' || t === 'Execute' || t === 'Startup message'),
    note: 'Simple query + Execute + Startup messages (`pgsql.type`)',
  }),
  mysql: (port) => ({
    args: ['-d', `tcp.port==${port},mysql`, '-E', 'aggregator=|', ...fields(`tcp.dstport == ${port} && (mysql.command || mysql.login_request)`, 'frame.number', 'mysql.command')],
    count: countMysql,
    note: '`mysql.command` + login requests',
  }),
  mongodb: (port) => ({
    args: ['-d', `tcp.port==${port},mongo`, ...fields(`tcp.dstport == ${port} && mongo`, 'mongo.opcode')],
    count: (s) => countValues(s),
    note: 'client messages (`mongo.opcode`)',
  }),
  kafka: (port) => ({
    args: ['-d', `tcp.port==${port},kafka`, ...fields(`tcp.dstport == ${port} && kafka`, 'kafka.api_key')],
    count: (s) => countValues(s),
    note: 'requests (`kafka.api_key` to the broker)',
  }),
  amqp: (port) => ({
    args: ['-d', `tcp.port==${port},amqp`, ...fields('amqp.method.class', 'amqp.method.class', 'amqp.method.method')],
    count: countAmqp,
    note: 'method frames except replies (`*-ok`, get-empty)',
  }),
  tls: (port) => ({
    args: ['-d', `tcp.port==${port},tls`, ...fields('tls.handshake.type == 1', 'frame.number')],
    count: countRows,
    note: 'ClientHellos (`tls.handshake.type == 1`)',
  }),
}
