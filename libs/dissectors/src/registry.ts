import type { Dissector } from './engine/types.js'
import { http1Dissector } from './http1/http1-dissector.js'

/**
 * Every built-in dissector, in the order they are probed when no port hint decides. Like a
 * Wireshark dissector table: adding a protocol is adding a line here.
 */
export const BUILTIN_DISSECTORS: readonly Dissector[] = [http1Dissector]
