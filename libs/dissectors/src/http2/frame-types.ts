/** HTTP/2 frame types and flags (RFC 9113 §6), shared by the frame reader and the resync scanner. */

/** Frame types (RFC 9113 §6). */
export const FRAME_DATA = 0x0
export const FRAME_HEADERS = 0x1
export const FRAME_PRIORITY = 0x2
export const FRAME_RST_STREAM = 0x3
export const FRAME_SETTINGS = 0x4
export const FRAME_PUSH_PROMISE = 0x5
export const FRAME_PING = 0x6
export const FRAME_GOAWAY = 0x7
export const FRAME_WINDOW_UPDATE = 0x8
export const FRAME_CONTINUATION = 0x9

/** Flags (RFC 9113 §6.1, §6.2). */
export const FLAG_END_STREAM = 0x1
export const FLAG_ACK = 0x1
export const FLAG_END_HEADERS = 0x4
export const FLAG_PADDED = 0x8
export const FLAG_PRIORITY = 0x20
