/**
 * Test helpers (imported by tests only): RFC 6455 frame building and a SessionContext that
 * records emitted calls and follows upgrades.
 */
import type { Attr } from '@tapwire/wire'
import type { CallRecord, Dissector, DissectorLimits, SessionContext } from '../engine/types.js'
import { DEFAULT_DISSECTOR_LIMITS } from '../engine/types.js'

export interface FrameSpec {
  opcode: number
  payload: Uint8Array | string
  fin?: boolean
  rsv1?: boolean
  /** A masking key (client frames); none for server frames. */
  mask?: readonly [number, number, number, number]
  /** Force a length encoding (7, 16 or 64 bits) even when a shorter one fits. */
  lengthBits?: 7 | 16 | 64
}

const enc = new TextEncoder()

/** Encodes one frame (RFC 6455 §5.2). */
export function frame(spec: FrameSpec): Uint8Array {
  const payload = typeof spec.payload === 'string' ? enc.encode(spec.payload) : spec.payload
  const len = payload.length
  const bits = spec.lengthBits ?? (len < 126 ? 7 : len < 65536 ? 16 : 64)
  const ext = bits === 7 ? 0 : bits === 16 ? 2 : 8
  const maskLen = spec.mask ? 4 : 0
  const out = new Uint8Array(2 + ext + maskLen + len)
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.opcode & 0x0f)
  out[1] = (spec.mask ? 0x80 : 0) | (bits === 7 ? len : bits === 16 ? 126 : 127)
  if (bits === 16) {
    out[2] = len >> 8
    out[3] = len & 0xff
  } else if (bits === 64) {
    const hi = Math.floor(len / 0x1_0000_0000)
    const lo = len >>> 0
    for (let i = 0; i < 4; i++) {
      out[2 + i] = (hi >>> (24 - 8 * i)) & 0xff
      out[6 + i] = (lo >>> (24 - 8 * i)) & 0xff
    }
  }
  const p = 2 + ext
  if (spec.mask) out.set(spec.mask, p)
  for (let i = 0; i < len; i++)
    out[p + maskLen + i] = payload[i]! ^ (spec.mask ? spec.mask[i & 3]! : 0)
  return out
}

export { concatBytes } from '../test-support/wire-bytes.js'

/** A context for driving one session directly; `upgrade` looks dissectors up in `dissectors`. */
export function recordingContext(
  dissectors: readonly Dissector[] = [],
  limits: Partial<DissectorLimits> = {}
): { ctx: SessionContext; calls: CallRecord[]; upgrades: string[] } {
  const calls: CallRecord[] = []
  const upgrades: string[] = []
  const ctx: SessionContext = {
    conn: {
      id: 1,
      transport: 'tcp',
      client: { ip: '10.0.0.1', port: 40000 },
      server: { ip: '10.0.0.2', port: 80 },
    },
    limits: { ...DEFAULT_DISSECTOR_LIMITS, ...limits },
    emit: (c) => calls.push(c),
    count: () => undefined,
    upgrade: (id, init) => {
      upgrades.push(id)
      return dissectors.find((d) => d.id === id)?.newSession(ctx, init)
    },
  }
  return { ctx, calls, upgrades }
}

/** An attribute's value by name (str, num, flag or list). */
export function attr(
  attrs: readonly Attr[] | undefined,
  name: string
): string | number | boolean | string[] | undefined {
  const a = attrs?.find((x) => x.name === name)
  if (a === undefined) return undefined
  return a.str ?? a.num ?? a.flag ?? a.list?.values ?? undefined
}

/** What the HTTP/1 dissector hands a WebSocket session on `101 Switching Protocols`. */
export function upgradeInit(target: string): {
  request: {
    method: string
    target: string
    version: string
    headers: { name: string; value: string }[]
  }
  requestTs: number
  response: { status: number; headers: { name: string; value: string }[] }
} {
  const upgrade = [{ name: 'Upgrade', value: 'websocket' }]
  return {
    request: { method: 'GET', target, version: 'HTTP/1.1', headers: upgrade },
    requestTs: 1000,
    response: { status: 101, headers: upgrade },
  }
}
