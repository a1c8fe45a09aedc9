/** Arbitrary bytes never make the readers throw anything but PcapError, and never hang. */
import { writeFileSync } from 'node:fs'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapError } from './errors.js'
import { openCapture } from './open-capture.js'
import { parseCapture } from './parse-capture.js'
import { encodePcap } from './pcap-writer.js'
import { encodePcapng } from './pcapng-writer.js'
import { concat, idb, makeTempDir, pcapHeader, pseudoBytes, shb } from './test-support.js'

const tmp = makeTempDir()
afterAll(() => tmp.remove())

const prefixes: Uint8Array[] = [
  new Uint8Array(0),
  pcapHeader(true, false, 1),
  pcapHeader(false, true, 101),
  concat(shb(true), idb(true, 1, 262144)),
  concat(shb(false), idb(false, 113, 0)),
]

const valid = [
  encodePcap(
    [0, 1, 2].map((i) => ({ tsSec: i, tsNsec: i, data: pseudoBytes(50 + i, i) })),
    { linkType: 1 }
  ),
  encodePcapng(
    [0, 1, 2].map((i) => ({ tsSec: i, tsNsec: i, data: pseudoBytes(50 + i, i), ifIndex: i % 2 })),
    { interfaces: [{ linkType: 1, name: 'a' }, { linkType: 101 }] }
  ),
]

function parseSafely(bytes: Uint8Array): void {
  try {
    const r = parseCapture(bytes)
    for (const rec of r.records) {
      expect(rec.capLen).toBe(rec.data.length)
      expect(rec.tsNsec).toBeGreaterThanOrEqual(0)
      expect(rec.tsNsec).toBeLessThan(1e9)
    }
  } catch (err) {
    if (!(err instanceof PcapError)) throw err
  }
}

describe('malformed input', () => {
  it('random bytes after a valid header only yield records or PcapErrors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: prefixes.length - 1 }),
        fc.uint8Array({ maxLength: 600 }),
        (p, tail) => {
          parseSafely(concat(prefixes[p]!, tail))
        }
      ),
      { numRuns: 3000 }
    )
  })

  it('valid files with random byte flips only yield records or PcapErrors', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(),
        (v, flips, cut) => {
          const bytes = valid[v]!.slice()
          for (const [at, val] of flips) bytes[at % bytes.length] = val
          parseSafely(bytes.subarray(0, bytes.length - (cut % 64)))
        }
      ),
      { numRuns: 3000 }
    )
  })

  it('the streaming reader agrees with parseCapture on corrupted files', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.integer({ min: 16, max: 200 }),
        async (v, flips, chunkSize) => {
          const bytes = valid[v]!.slice()
          for (const [at, val] of flips) bytes[at % bytes.length] = val
          let expected: string
          try {
            const r = parseCapture(bytes)
            expected = `ok ${r.records.length} ${r.truncated}`
          } catch (err) {
            expected = `err ${(err as PcapError).code}`
          }
          const file = tmp.path('fuzz.bin')
          writeFileSync(file, bytes)
          let actual: string
          try {
            const reader = await openCapture(file, { chunkSize })
            let n = 0
            for await (const batch of reader.batches()) n += batch.length
            actual = `ok ${n} ${reader.truncated}`
          } catch (err) {
            if (!(err instanceof PcapError)) throw err
            actual = `err ${err.code}`
          }
          expect(actual).toBe(expected)
        }
      ),
      { numRuns: 300 }
    )
  })
})
