#!/usr/bin/env node
// The export benchmark's "library alone" run, as its own process so GNU time measures it like
// mergecap: `node export-merge-lib.js OUT IN...` merges the inputs with libs/pcap's PcapMerge
// (the engine behind GET /mcp/snapshots/:name/pcap, ties to the last input as mergecap does) into
// OUT and prints the packet and byte counts. One write is in flight (libuv's pool) while the next
// piece is merged, as the hub's response is written while the next piece is produced.
import { open } from 'node:fs/promises'
import { PcapMerge, fileChunks } from '@tapwire/pcap'

const [out, ...inputs] = process.argv.slice(2)
if (out === undefined || inputs.length === 0) {
  console.error('usage: export-merge-lib OUT IN...')
  process.exit(2)
}
const fh = await open(out, 'w')
const merge = new PcapMerge(
  inputs.map((p) => fileChunks(p)),
  { ties: 'last' }
)
try {
  let writing: Promise<unknown> = Promise.resolve()
  for await (const piece of merge) {
    await writing
    // The write runs while the next piece is merged; the piece goes back to the merge once written.
    writing = fh.write(piece, 0, piece.length).then(() => merge.release(piece))
  }
  await writing
} finally {
  await fh.close()
}
console.log(`packets ${merge.packets} bytes ${merge.bytes}`)
