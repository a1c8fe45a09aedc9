import { dnsTcpDissector, dnsUdpDissector } from './dns/dns-dissector.js'
import type { Dissector } from './engine/types.js'
import { http1Dissector } from './http1/http1-dissector.js'
import { http2Dissector } from './http2/http2-dissector.js'
import { mysqlDissector } from './mysql/mysql-dissector.js'
import { postgresqlDissector } from './postgresql/postgresql-dissector.js'
import { redisDissector } from './redis/redis-dissector.js'
import { websocketDissector } from './websocket/websocket-dissector.js'

/**
 * Every built-in dissector, in the order they are probed when no port hint decides (port hints
 * go first). Like a Wireshark dissector table: adding a protocol is adding a line here. The most
 * specific probes come first (HTTP request lines and the HTTP/2 preface, then the SQL startup
 * messages); Redis's inline-command probe is loose, so it comes after them. Dissectors reached
 * only by an upgrade (WebSocket after HTTP/1 101) are listed too; their probes never match.
 */
export const BUILTIN_DISSECTORS: readonly Dissector[] = [
  http1Dissector,
  http2Dissector,
  postgresqlDissector,
  mysqlDissector,
  redisDissector,
  dnsTcpDissector,
  dnsUdpDissector,
  websocketDissector,
]
