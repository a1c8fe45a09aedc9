// The gRPC load generator of the load benches (the HTTP/1.1 generator, /metrics scraping, /proc
// sampling and the tcpdump reference are shared with the e2e suites in @tapwire/testing).
import { connect as h2connect } from 'node:http2'
import type { ClientHttp2Session } from 'node:http2'
import type { LoadOptions, LoadResult } from '@tapwire/testing'
import { pace, sleep } from '@tapwire/testing'

/** A gRPC message on the wire: 1-byte compressed flag, 4-byte length, protobuf bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(message.length, 1)
  return Buffer.concat([head, message])
}

/** protobuf: field 1 (string) = `text`. */
export function protoString(text: string): Buffer {
  const b = Buffer.from(text)
  return Buffer.concat([Buffer.from([0x0a, b.length]), b])
}

/**
 * Offers `rate` unary gRPC calls/s over `connections` HTTP/2 sessions (Node's http2, gRPC framing by
 * hand: no gRPC package is installed), at most `maxStreams` in flight per session. Path
 * `${prefix}${n}` (one method name per call, so every call can be found).
 */
export async function grpcLoad(opts: LoadOptions & { maxStreams?: number }): Promise<LoadResult> {
  const res: LoadResult = { sent: 0, completed: 0, errors: 0, seconds: 0, owed: 0 }
  const maxStreams = opts.maxStreams ?? 64
  let next = opts.firstIndex ?? 0
  let owed = 0
  let issuing = true
  const sessions: { s: ClientHttp2Session; inFlight: number }[] = []
  for (let i = 0; i < opts.connections; i++) {
    const s = h2connect(`http://127.0.0.1:${opts.port}`)
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve())
      s.once('error', reject)
    })
    s.on('error', () => res.errors++)
    sessions.push({ s, inFlight: 0 })
  }
  let rr = 0
  const pump = (): void => {
    for (let tries = 0; owed > 0 && tries < sessions.length;) {
      const sess = sessions[rr++ % sessions.length]!
      if (sess.inFlight >= maxStreams) {
        tries++
        continue
      }
      tries = 0
      owed--
      sess.inFlight++
      res.sent++
      const n = next++
      const st = sess.s.request({
        ':method': 'POST',
        ':path': `${opts.prefix}${n}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      })
      let ok = false
      st.on(
        'trailers',
        (t: Record<string, string | string[] | undefined>) => (ok = t['grpc-status'] === '0')
      )
      st.on('data', () => undefined)
      st.on('error', () => undefined)
      st.on('close', () => {
        sess.inFlight--
        if (ok) res.completed++
        else res.errors++
        if (issuing) pump()
      })
      st.end(grpcFrame(opts.body ?? protoString(`call ${n}`)))
    }
  }
  res.seconds = await pace(opts, (n) => {
    owed += n
    pump()
  })
  issuing = false
  res.owed = owed
  const deadline = Date.now() + 15_000
  while (res.completed + res.errors < res.sent && Date.now() < deadline) await sleep(20)
  for (const { s } of sessions) s.destroy()
  return res
}
