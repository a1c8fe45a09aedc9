#!/usr/bin/env node
// The export benchmark's "library alone" run, as its own process so GNU time measures it like
// mergecap: `node export-merge-lib.js OUT IN...` merges the inputs with libs/pcap's PcapMerge
// (the engine behind GET /mcp/snapshots/:name/pcap, ties to the last input as mergecap does) into
// OUT and prints the packet and byte counts.
//
// Into a regular file one write is in flight (libuv's pool) while the next piece is merged, as the
// hub's response is written while the next piece is produced: the page-cache copy overlaps the
// merge. Into anything else (/dev/null, a pipe) each piece is written at once and blocking, as
// mergecap writes: there is no copy to overlap, and the pool's hand-off per piece would cost the
// merge thread more than the write (0.40 s vs 0.35 s for the 1.1 GiB bench into /dev/null).
import { fstatSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { PcapMerge, fileChunks } from '@tapwire/pcap'

const [out, ...inputs] = process.argv.slice(2)
if (out === undefined || inputs.length === 0) {
  console.error('usage: export-merge-lib OUT IN...')
  process.exit(2)
}
const fh = await open(out, 'w')
const overlap = fstatSync(fh.fd).isFile()
const merge = new PcapMerge(
  inputs.map((p) => fileChunks(p)),
  { ties: 'last' }
)
try {
  let writing: Promise<unknown> = Promise.resolve()
  for await (const piece of merge) {
    if (!overlap) {
      writeSync(fh.fd, piece, 0, piece.length)
      merge.release(piece)
      continue
    }
    await writing
    // The write runs while the next piece is merged; the piece goes back to the merge once written.
    writing = fh.write(piece, 0, piece.length).then(() => merge.release(piece))
  }
  await writing
} finally {
  await fh.close()
}
console.log(`packets ${merge.packets} bytes ${merge.bytes}`)
