import { freePort, requireTool, TestProcess } from '../processes.js'
import type { ServerHandle } from './common.js'
import { cleanupFailedLaunch, handle, makeTempDir } from './common.js'

/**
 * dnsmasq as an authoritative-only server on 127.0.0.1 (UDP and TCP), no upstream, no hosts file:
 * every answer comes from the records below, so tests never touch the network.
 *   web.tapwire.test   A 10.1.2.3, AAAA fd00::1:2:3 (and the PTR 3.2.1.10.in-addr.arpa)
 *   www.tapwire.test   CNAME web.tapwire.test
 *   tapwire.test       MX 10 mail.tapwire.test, TXT "v=spf1 -all"
 *   mail.tapwire.test  A 10.1.2.4
 *   _http._tcp.tapwire.test  SRV 1 5 8080 web.tapwire.test
 *   anything else under tapwire.test: NXDOMAIN
 */
export async function startDnsmasq(
  opts: { port?: number; extraArgs?: readonly string[] } = {}
): Promise<ServerHandle> {
  const bin = requireTool('dnsmasq', 'dnsmasq-base')
  const port = opts.port ?? (await freePort())
  const dir = makeTempDir('tapwire-dnsmasq-')
  let proc: TestProcess | undefined
  try {
    proc = new TestProcess('dnsmasq', bin, [
      '-k',
      '--conf-file=/dev/null',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      '--user=root',
      `--pid-file=${dir}/dnsmasq.pid`,
      '--log-facility=-',
      '--local=/tapwire.test/',
      '--host-record=web.tapwire.test,10.1.2.3,fd00::1:2:3',
      '--host-record=mail.tapwire.test,10.1.2.4',
      '--cname=www.tapwire.test,web.tapwire.test',
      '--mx-host=tapwire.test,mail.tapwire.test,10',
      '--txt-record=tapwire.test,v=spf1 -all',
      '--srv-host=_http._tcp.tapwire.test,web.tapwire.test,8080,1,5',
      ...(opts.extraArgs ?? []),
    ])
    await proc.waitFor(/started, version/, 20_000)
    return handle(port, dir, proc)
  } catch (e) {
    await cleanupFailedLaunch(dir, proc)
    throw e
  }
}
