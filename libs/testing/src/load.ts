// Shared parts of the fault and load suites and the load benches: a paced HTTP/1.1 load generator on raw keep-alive
// sockets, the agent's /metrics counters, /proc sampling of RSS and CPU, and tcpdump as the
// reference packet count. Every loop here is bounded in count and in time.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { requireTool, sleep, TestProcess } from './processes.js'

/** A Node HTTP/1.1 server on 127.0.0.1 that answers every request with `body` once it is read. */
export async function startEchoServer(
  body: Buffer | string = 'ok'
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end(body))
  })
  server.keepAliveTimeout = 120_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

export interface LoadOptions {
  port: number
  /** Requests per second offered. */
  rate: number
  seconds: number
  /** Keep-alive connections (one request outstanding on each, like wrk). */
  connections: number
  /** Request paths are `${prefix}${n}`, n from `firstIndex`. */
  prefix: string
  firstIndex?: number
  /** POST this body when set (GET otherwise). */
  body?: Buffer
  /** Stops issuing early when it returns true (checked every tick). */
  stop?: () => boolean
}

export interface LoadResult {
  /** Requests written. */
  sent: number
  /** Complete responses read. */
  completed: number
  errors: number
  /** Wall time of the issuing phase (s). */
  seconds: number
  /** Requests still owed when the issuing phase ended (the generator fell behind the rate). */
  owed: number
}

interface Conn {
  socket: Socket
  busy: boolean
  buf: Buffer
}


/**
 * The open-loop schedule both load generators follow: every 2 ms, `onDue` learns how many more
 * requests the rate owes since the last tick, until `seconds` pass or `stop()` says so. Resolves
 * with the seconds it ran.
 */
export async function pace(
  opts: Pick<LoadOptions, 'rate' | 'seconds' | 'stop'>,
  onDue: (n: number) => void
): Promise<number> {
  const t0 = performance.now()
  const limitMs = opts.seconds * 1000
  let issued = 0
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0
      if (elapsed >= limitMs || opts.stop?.()) {
        clearInterval(timer)
        resolve()
        return
      }
      const due = Math.floor((opts.rate * elapsed) / 1000)
      onDue(due - issued)
      issued = due
    }, 2)
  })
  return (performance.now() - t0) / 1000
}

/**
 * Offers `rate` requests/s for `seconds` over `connections` keep-alive sockets, then waits (at
 * most 15 s) for the outstanding responses. Open-loop pacing with catch-up: a request owed while
 * every connection is busy is sent as soon as one frees up; what is still owed at the end is
 * reported, not hidden.
 */
export async function http1Load(opts: LoadOptions): Promise<LoadResult> {
  const res: LoadResult = { sent: 0, completed: 0, errors: 0, seconds: 0, owed: 0 }
  const host = `127.0.0.1:${opts.port}`
  let next = opts.firstIndex ?? 0
  let issuing = true
  let owed = 0
  const conns: Conn[] = []
  const idle: Conn[] = []
  const request = (n: number): Buffer => {
    const path = `${opts.prefix}${n}`
    return opts.body
      ? Buffer.concat([
          Buffer.from(
            `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${opts.body.length}\r\n\r\n`
          ),
          opts.body,
        ])
      : Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
  }
  const pump = (): void => {
    while (owed > 0 && idle.length > 0) {
      const c = idle.pop()!
      owed--
      c.busy = true
      res.sent++
      c.socket.write(request(next++))
    }
  }
  const onData = (c: Conn, d: Buffer): void => {
    c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d
    for (let guard = 0; guard < 1000; guard++) {
      const end = c.buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = c.buf.subarray(0, end).toString('latin1')
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      const total = end + 4 + Number(m?.[1] ?? 0)
      if (c.buf.length < total) return
      c.buf = c.buf.subarray(total)
      res.completed++
      c.busy = false
      idle.push(c)
    }
  }
  await Promise.all(
    Array.from(
      { length: opts.connections },
      () =>
        new Promise<void>((resolve, reject) => {
          const socket = connect({ host: '127.0.0.1', port: opts.port, noDelay: true }, () =>
            resolve()
          )
          const c: Conn = { socket, busy: false, buf: Buffer.alloc(0) }
          socket.on('data', (d: Buffer) => {
            onData(c, d)
            if (issuing) pump()
          })
          socket.on('error', (e) => {
            res.errors++
            reject(e)
          })
          conns.push(c)
          idle.push(c)
        })
    )
  )
  res.seconds = await pace(opts, (n) => {
    owed += n
    pump()
  })
  issuing = false
  res.owed = owed
  const deadline = Date.now() + 15_000
  while (res.completed + res.errors < res.sent && Date.now() < deadline) await sleep(20)
  for (const c of conns) c.socket.destroy()
  return res
}

/** The agent's (or hub's) Prometheus counters as numbers, prefix stripped. */
export async function scrapeMetrics(
  url: string,
  prefix = 'tapwire_agent_'
): Promise<Record<string, number>> {
  const text = await (await fetch(url)).text()
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^(\w+) (\d+(?:\.\d+)?)$/gm)) {
    if (m[1]!.startsWith(prefix)) out[m[1]!.slice(prefix.length)] = Number(m[2])
  }
  return out
}

/** Calls stored in the hub whose path starts with `prefix` (the KFL filter the hub-restart test uses). */
export async function storedCalls(hubUrl: string, prefix: string): Promise<number> {
  const kfl = encodeURIComponent(`path.startsWith("${prefix}")`)
  const body = (await (await fetch(`${hubUrl}/mcp/calls?limit=1&kfl=${kfl}`)).json()) as {
    total: number
  }
  return body.total
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** VmRSS in MiB and utime+stime in seconds of one process, from /proc. */
export function procUsage(pid: number): { rssMiB: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of stat (utime, stime); index 11 and 12 after the command name.
  return { rssMiB: rss, cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK }
}

export interface ProcSeries {
  /** One sample a second: RSS (MiB) and CPU (% of one core over the last second). */
  samples: { t: number; rssMiB: number; cpuPct: number }[]
  peakRssMiB: number
  peakCpuPct: number
  meanCpuPct: number
}

/** Samples RSS and CPU of `pids` every `everyMs` until `stop()`. */
export function sampleProcs(
  pids: Record<string, number>,
  everyMs = 1000
): { stop: () => Record<string, ProcSeries> } {
  const series: Record<string, ProcSeries> = {}
  const last: Record<string, { t: number; cpuS: number }> = {}
  const t0 = performance.now()
  const take = (): void => {
    const t = performance.now()
    for (const [name, pid] of Object.entries(pids)) {
      let u
      try {
        u = procUsage(pid)
      } catch {
        continue
      }
      const s = (series[name] ??= { samples: [], peakRssMiB: 0, peakCpuPct: 0, meanCpuPct: 0 })
      const prev = last[name]
      const cpuPct = prev ? (100 * (u.cpuS - prev.cpuS)) / ((t - prev.t) / 1000) : 0
      last[name] = { t, cpuS: u.cpuS }
      s.samples.push({ t: (t - t0) / 1000, rssMiB: u.rssMiB, cpuPct })
      s.peakRssMiB = Math.max(s.peakRssMiB, u.rssMiB)
      if (prev) s.peakCpuPct = Math.max(s.peakCpuPct, cpuPct)
    }
  }
  take()
  const timer = setInterval(take, everyMs)
  return {
    stop() {
      clearInterval(timer)
      take()
      for (const s of Object.values(series)) {
        const cpu = s.samples.slice(1).map((x) => x.cpuPct)
        s.meanCpuPct = cpu.length ? cpu.reduce((a, b) => a + b, 0) / cpu.length : 0
      }
      return series
    },
  }
}

/** tcpdump on `lo` as the reference: start before the traffic, `stop()` returns its counts. */
export async function startTcpdump(
  file: string,
  filter: string
): Promise<{ stop: () => Promise<{ captured: number; dropped: number }> }> {
  const bin = requireTool('tcpdump', 'tcpdump')
  const p = new TestProcess('tcpdump', bin, [
    '-i',
    'lo',
    '-n',
    '--immediate-mode',
    '-s',
    '128',
    '-B',
    '65536',
    '-w',
    file,
    filter,
  ])
  await p.waitFor(/listening on/, 15_000)
  return {
    async stop() {
      await sleep(500)
      p.signal('SIGINT')
      await p.wait(15_000)
      const captured = Number(/(\d+) packets? captured/.exec(p.output)?.[1] ?? NaN)
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(p.output)?.[1] ?? NaN)
      return { captured, dropped }
    },
  }
}
