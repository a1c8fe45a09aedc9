import { ENTRY_STREAM, ENTRY_SUBJECT_PREFIX } from './subjects.js'

/**
 * The entry stream's configuration (ARCHITECTURE §4), as plain values so this lib needs no NATS
 * client: hub and agents both create the stream if it is missing, so either may start first.
 */
export interface EntryStreamLimits {
  maxBytes: number
  maxAgeMs: number
}

export const DEFAULT_ENTRY_STREAM_LIMITS: EntryStreamLimits = {
  maxBytes: 1024 * 1024 * 1024,
  maxAgeMs: 24 * 3600 * 1000,
}

/** Window in which a re-published batch (same Nats-Msg-Id) is dropped by the server. */
export const DUPLICATE_WINDOW_MS = 10 * 60 * 1000

export function entryStreamConfig(limits: EntryStreamLimits = DEFAULT_ENTRY_STREAM_LIMITS) {
  return {
    name: ENTRY_STREAM,
    subjects: [`${ENTRY_SUBJECT_PREFIX}.>`],
    storage: 'file' as const,
    retention: 'limits' as const,
    discard: 'old' as const,
    max_bytes: limits.maxBytes,
    max_age: limits.maxAgeMs * 1_000_000,
    duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000,
    max_msg_size: 8 * 1024 * 1024,
  }
}

/** The part of a JetStream manager this lib needs (structural, so no NATS client import here). */
export interface StreamAdmin {
  streams: {
    info(name: string): Promise<unknown>
    // The client's config type uses enums whose values are the strings above.
    add(cfg: never): Promise<unknown>
  }
}

/** Creates the entry stream unless it exists (hub or agent may start first). */
export async function ensureEntryStream(jsm: StreamAdmin, limits?: EntryStreamLimits): Promise<void> {
  const cfg = entryStreamConfig(limits)
  try {
    await jsm.streams.info(cfg.name)
  } catch {
    try {
      await jsm.streams.add(cfg as never)
    } catch (e) {
      // Lost a race with another component creating it: fine if it now exists.
      await jsm.streams.info(cfg.name).catch(() => {
        throw e
      })
    }
  }
}
