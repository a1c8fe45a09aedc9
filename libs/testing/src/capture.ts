import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Analyzer } from '@tapwire/dissectors'
import type { AnalyzerOptions, AnalyzerStats, CallRecord } from '@tapwire/dissectors'
import { openCapture } from '@tapwire/pcap'
import type { Entry } from '@tapwire/wire'
import { requireTool, sleep, TestProcess } from './processes.js'

const run = promisify(execFile)

/** A temp dir the caller removes with `dispose()`. */
export function tempDir(prefix = 'tapwire-test-'): { path: string; dispose: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) }
}

/**
 * Records loopback traffic with tcpdump while `traffic()` runs: the reference capture the
 * dissectors and tshark both read. `filter` is a BPF expression (e.g. `tcp port 8080`).
 */
export interface RecordStats {
  /** Packets tcpdump wrote. */
  captured: number
  /** Packets the kernel dropped because tcpdump did not keep up (the file is incomplete). */
  droppedByKernel: number
}

export async function recordLoopback(
  file: string,
  filter: string,
  traffic: () => Promise<void>
): Promise<RecordStats> {
  const bin = requireTool('tcpdump', 'tcpdump')
  // -U: write each packet as it arrives; -s 0: whole packets; -B: a large kernel buffer.
  const p = new TestProcess('tcpdump', bin, [
    '-i',
    'lo',
    '--immediate-mode',
    '-U',
    '-s',
    '0',
    '-B',
    '16384',
    '-w',
    file,
    filter,
  ])
  try {
    await p.waitFor(/listening on/, 15_000)
    await traffic()
    // Let the last packets reach the file before stopping.
    await sleep(300)
  } finally {
    p.signal('SIGINT')
    await p.wait(10_000)
  }
  // tcpdump's closing lines: "N packets captured", "N packets dropped by kernel".
  const num = (re: RegExp): number => Number(re.exec(p.output)?.[1] ?? 0)
  return {
    captured: num(/(\d+) packets? captured/),
    droppedByKernel: num(/(\d+) packets? dropped by kernel/),
  }
}

export interface AnalyzeResult {
  entries: Entry[]
  calls: CallRecord[]
  stats: AnalyzerStats
}

/** Runs a capture file through the same Analyzer the agent uses, synchronously per batch. */
export async function analyzeFile(
  path: string,
  opts: Partial<Omit<AnalyzerOptions, 'onEntry'>> = {}
): Promise<AnalyzeResult> {
  const entries: Entry[] = []
  const calls: CallRecord[] = []
  let nextId = 1
  const analyzer = new Analyzer({
    node: 'test',
    nextId: () => nextId++,
    ...opts,
    onEntry: (e, call) => {
      entries.push(e)
      calls.push(call)
    },
  })
  const reader = await openCapture(path)
  try {
    for await (const rec of reader) {
      analyzer.processPacket(rec.linkType, {
        tsSec: rec.tsSec,
        tsNsec: rec.tsNsec,
        capLen: rec.capLen,
        origLen: rec.origLen,
        ifIndex: rec.ifIndex,
        data: rec.data,
      })
    }
  } finally {
    await reader.close()
  }
  analyzer.finish()
  return { entries, calls, stats: analyzer.stats }
}

/**
 * tshark as the oracle: `-T fields` rows for a display filter. Multi-valued fields come back
 * joined with `,` (tshark's default occurrence separator).
 */
export async function tsharkFields(
  path: string,
  displayFilter: string,
  fields: readonly string[],
  extraArgs: readonly string[] = []
): Promise<string[][]> {
  const bin = requireTool('tshark', 'tshark')
  const args = [
    '-n',
    '-r',
    path,
    ...extraArgs,
    '-Y',
    displayFilter,
    '-T',
    'fields',
    ...fields.flatMap((f) => ['-e', f]),
  ]
  const { stdout } = await run(bin, args, { maxBuffer: 256 << 20 })
  return stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'))
}

/** An entry attribute's value by name (string, number or flag); undefined when absent. */
export function entryAttr(e: Entry, name: string): string | number | boolean | undefined {
  const a = e.attrs?.find((x) => x.name === name)
  return a?.str ?? a?.num ?? a?.flag ?? undefined
}

/**
 * The oracle tests' common start: record `traffic` on loopback with the capture filter `bpf` into
 * `file`, then run the file through the Analyzer. `analyzeMs` is the Analyzer's wall time (the
 * tests print it beside tshark's).
 */
export async function recordAndAnalyze(
  file: string,
  bpf: string,
  traffic: () => Promise<void>,
  opts: Partial<Omit<AnalyzerOptions, 'onEntry'>> = {}
): Promise<AnalyzeResult & { analyzeMs: number }> {
  await recordLoopback(file, bpf, traffic)
  const t0 = performance.now()
  const result = await analyzeFile(file, opts)
  return { ...result, analyzeMs: performance.now() - t0 }
}
