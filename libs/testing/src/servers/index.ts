/** Real protocol servers for dissector tests: loopback only, temp dirs, stopped by their own PID. */
export type { ServerHandle } from './common.js'
export { startDnsmasq } from './dnsmasq.js'
export { startMariadb } from './mariadb.js'
export type { MariadbHandle } from './mariadb.js'
export { startPostgres } from './postgres.js'
export type { PostgresHandle } from './postgres.js'
export { startRedis } from './redis.js'
