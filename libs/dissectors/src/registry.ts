import type { Dissector } from './engine/types.js'
import { http1Dissector } from './http1/http1-dissector.js'
import { http2Dissector } from './http2/http2-dissector.js'
import { websocketDissector } from './websocket/websocket-dissector.js'

/**
 * Every built-in dissector, in the order they are probed when no port hint decides. Like a
 * Wireshark dissector table: adding a protocol is adding a line here. Dissectors reached only by
 * an upgrade (WebSocket after HTTP/1 101) are listed too; their probes never match.
 */
export const BUILTIN_DISSECTORS: readonly Dissector[] = [http1Dissector, http2Dissector, websocketDissector]
