import { amqpDissector } from './amqp/amqp-dissector.js'
import { dnsTcpDissector, dnsUdpDissector } from './dns/dns-dissector.js'
import type { Dissector } from './engine/types.js'
import { genericTcpDissector, genericUdpDissector } from './generic/generic-dissector.js'
import { http1Dissector } from './http1/http1-dissector.js'
import { http2Dissector } from './http2/http2-dissector.js'
import { kafkaDissector } from './kafka/kafka-dissector.js'
import { mongodbDissector } from './mongodb/mongodb-dissector.js'
import { mysqlDissector } from './mysql/mysql-dissector.js'
import { postgresqlDissector } from './postgresql/postgresql-dissector.js'
import { redisDissector } from './redis/redis-dissector.js'
import { tlsDissector } from './tls/tls-dissector.js'
import { websocketDissector } from './websocket/websocket-dissector.js'

/**
 * Every built-in dissector, in the order they are probed when no port hint decides (port hints
 * go first). Like a Wireshark dissector table: adding a protocol is adding a line here. The most
 * specific probes come first (HTTP request lines and the HTTP/2 preface, the SQL startup
 * messages, TLS records); Redis's inline-command probe is loose, so it comes after them.
 * WebSocket is reached only by an HTTP/1 upgrade (its probe never matches); the two fallbacks
 * are never probed: the engine gives them what every other dissector declined.
 */
export const BUILTIN_DISSECTORS: readonly Dissector[] = [
  http1Dissector,
  http2Dissector,
  websocketDissector,
  postgresqlDissector,
  mysqlDissector,
  tlsDissector,
  kafkaDissector,
  mongodbDissector,
  amqpDissector,
  redisDissector,
  dnsTcpDissector,
  dnsUdpDissector,
  genericTcpDissector,
  genericUdpDissector,
]
