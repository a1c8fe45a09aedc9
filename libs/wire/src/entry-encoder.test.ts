import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Attr, Endpoint, Entry, EntryBatch, Header } from './codec.js'
import { decodeEntryBatch, pb } from './codec.js'
import { encodeEntryBatchFast, EntryBatchWriter } from './entry-encoder.js'

/** The reference: protobufjs's generated code. */
const reference = (b: EntryBatch): Uint8Array => pb.EntryBatch.encode(b).finish()

function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function generator(seed: number) {
  const r = rng(seed)
  const int = (n: number): number => Math.floor(r() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  // Lengths around the varint steps (127/128, 16383/16384) and the short-string threshold.
  const lengths = [0, 1, 5, 31, 32, 33, 47, 48, 49, 100, 127, 128, 129, 300, 16383, 16384, 20000]
  const alphabets = [
    () => String.fromCharCode(0x20 + int(95)), // ASCII
    () => String.fromCharCode(0xa0 + int(0x60)), // Latin-1 (two UTF-8 bytes)
    () => String.fromCharCode(0x800 + int(0x7000)), // BMP, three bytes
    () => String.fromCodePoint(0x10000 + int(0x10000)), // astral: a surrogate pair, four bytes
  ]
  const str = (): string => {
    const n = r() < 0.8 ? int(40) : pick(lengths)
    const mix = r() < 0.7 ? [alphabets[0]!] : alphabets
    let s = ''
    while (s.length < n) s += pick(mix)()
    return s
  }
  const maybe = <T>(f: () => T): T | undefined => (r() < 0.75 ? f() : undefined)
  const u64 = (): number =>
    pick([0, 1, 127, 128, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, 2 ** 53 - 1, int(1e6)])
  const u32 = (): number => pick([0, 1, 127, 128, 65535, 2 ** 31, 2 ** 32 - 1, int(1e5)])
  const dbl = (): number =>
    pick([0, -0, 1.5, -2.25, 1769998106100.25, Number.NaN, Infinity, -Infinity, r() * 1e6])
  const endpoint = (): Endpoint => {
    const e: Endpoint = { ip: pick(['10.0.0.1', '::1', '', str()]), port: u32() }
    if (r() < 0.3)
      Object.assign(e, { pod: str(), ns: str(), svc: str(), node: str(), resolutionStatus: str() })
    if (r() < 0.2) e.labels = { app: str(), [str() || 'k']: str(), empty: '' }
    return e
  }
  const header = (): Header => ({
    name: pick(['content-type', '', str()]),
    value: pick(['', 'keep-alive', str()]),
  })
  const attr = (): Attr => {
    const name = pick(['grpc_status', '', str()])
    switch (int(4)) {
      case 0:
        return { name, str: pick(['', str()]) }
      case 1:
        return { name, num: pick([0, -0, 3, 2.5, Number.NaN]) }
      case 2:
        return { name, flag: r() < 0.5 }
      default:
        return { name, list: { values: Array.from({ length: int(4) }, () => pick(['', str()])) } }
    }
  }
  const entry = (): Entry => {
    const e: Entry = {}
    const set = <K extends keyof Entry>(k: K, f: () => Entry[K]): void => {
      const v = maybe(f)
      if (v !== undefined) e[k] = v
    }
    set('id', str)
    set('node', str)
    set('flowId', u64)
    set('index', u32)
    set('connId', u64)
    set('ts', dbl)
    set('elapsedUs', dbl)
    set('proto', str)
    set('transport', str)
    set('src', endpoint)
    set('dst', endpoint)
    set('method', str)
    set('path', str)
    set('url', str)
    set('status', () => pick([0, 200, 404, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 7.5]))
    set('version', str)
    set('reqHeaders', () => Array.from({ length: int(6) }, header))
    set('respHeaders', () => Array.from({ length: int(6) }, header))
    set('reqBody', str)
    set('respBody', str)
    set('reqBodySize', u64)
    set('respBodySize', u64)
    set('reqHeaderSize', u64)
    set('respHeaderSize', u64)
    set('reqBodyTruncated', () => r() < 0.5)
    set('respBodyTruncated', () => r() < 0.5)
    set('errorType', str)
    set('errorMessage', str)
    set('worker', str)
    set('attrs', () => Array.from({ length: int(5) }, attr))
    set('gaps', u32)
    set('summary', str)
    return e
  }
  return { entry, int, str, u64 }
}

describe('encodeEntryBatchFast', () => {
  it('writes the bytes protobufjs writes, for random batches of every field and size', () => {
    const g = generator(20261121)
    for (let i = 0; i < 120; i++) {
      const batch: EntryBatch = { entries: Array.from({ length: g.int(12) }, g.entry) }
      if (i % 3 !== 0) batch.node = g.str()
      if (i % 4 !== 0) batch.seq = g.u64()
      const ours = encodeEntryBatchFast(batch)
      expect(Buffer.from(ours).equals(Buffer.from(reference(batch)))).toBe(true)
    }
  })

  it('EntryBatchWriter: entries added one by one give the batch encodeEntryBatch gives', () => {
    const g = generator(7)
    const w = new EntryBatchWriter()
    for (let i = 0; i < 40; i++) {
      const entries = Array.from({ length: g.int(8) }, g.entry)
      for (const e of entries) w.add(e)
      expect(w.count).toBe(entries.length)
      const node = i % 5 === 0 ? '' : g.str()
      const seq = g.u64()
      const ours = w.finish(node, seq)
      expect(Buffer.from(ours).equals(Buffer.from(reference({ node, seq, entries })))).toBe(true)
      expect(w.count).toBe(0)
    }
  })

  it('EntryBatchWriter: an entry that cannot be encoded leaves nothing behind', () => {
    const w = new EntryBatchWriter()
    const good: Entry = { id: 'a', reqHeaders: [{ name: 'x', value: 'y' }] }
    w.add(good)
    const bad = { id: 'b'.repeat(100), reqHeaders: [null] } as unknown as Entry
    expect(() => w.add(bad)).toThrow()
    w.add(good)
    expect(w.count).toBe(2)
    expect(
      Buffer.from(w.finish('n', 1)).equals(
        Buffer.from(reference({ node: 'n', seq: 1, entries: [good, good] }))
      )
    ).toBe(true)
    // The batch encoder's own buffer was not disturbed either.
    const b: EntryBatch = { node: 'm', entries: [good] }
    expect(Buffer.from(encodeEntryBatchFast(b)).equals(Buffer.from(reference(b)))).toBe(true)
  })

  it('round-trips through the decoder', () => {
    const entry: Entry = {
      id: 'n/9007199254740/3',
      flowId: 9007199254740,
      index: 3,
      ts: 1769998106100.25,
      status: -1,
      reqHeaders: [{ name: 'é', value: 'ü😀' }],
      attrs: [
        { name: 'grpc_status', num: 0 },
        { name: 's', str: '' },
        { name: 'l', list: { values: ['x.'] } },
      ],
      src: { ip: '10.0.0.1', port: 80, labels: { app: 'web' } },
    }
    const back = decodeEntryBatch(
      encodeEntryBatchFast({ node: 'n', seq: 2 ** 40, entries: [entry] })
    )
    expect(back.seq).toBe(2 ** 40)
    const e = back.entries[0]!
    expect(e.flowId).toBe(9007199254740)
    expect(e.status).toBe(-1)
    expect(e.reqHeaders![0]).toMatchObject({ name: 'é', value: 'ü😀' })
    expect(e.attrs!.map((a) => a.value)).toEqual(['num', 'str', 'list'])
    expect(e.src!.labels).toEqual({ app: 'web' })
  })

  it('writes a lone surrogate as U+FFFD (well-formed UTF-8)', () => {
    for (const s of ['a\ud800b', 'x'.repeat(50) + '\udc00']) {
      const back = decodeEntryBatch(encodeEntryBatchFast({ entries: [{ summary: s }] }))
      expect(back.entries[0]!.summary).toBe(s.replace(/[\ud800-\udfff]/g, '\ufffd'))
    }
  })

  it('writes $unknowns (unknown fields a decoder kept) as the generated code does', () => {
    // Field 99 = 1, which this schema does not know, on an entry and on one of its headers.
    const unknown = new Uint8Array([0x98, 0x06, 0x01])
    const header = Object.assign({ name: 'a', value: 'b' }, { $unknowns: [unknown] })
    const entry = Object.assign({ id: 'a', reqHeaders: [header] }, { $unknowns: [unknown] })
    const ours = encodeEntryBatchFast({ entries: [entry] })
    expect(Buffer.from(ours).equals(Buffer.from(reference({ entries: [entry] })))).toBe(true)
    expect(Buffer.from(ours).includes(Buffer.from(unknown))).toBe(true)
  })

  it('stays right after a batch larger than the kept buffer', () => {
    const big = 'y'.repeat(1 << 20)
    const huge: EntryBatch = { entries: Array.from({ length: 10 }, () => ({ reqBody: big })) }
    expect(Buffer.from(encodeEntryBatchFast(huge)).equals(Buffer.from(reference(huge)))).toBe(true)
    const small: EntryBatch = { node: 'n', entries: [{ id: 'a', status: 200 }] }
    expect(Buffer.from(encodeEntryBatchFast(small)).equals(Buffer.from(reference(small)))).toBe(
      true
    )
  })

  it('knows every field the .proto declares for an entry batch', () => {
    // A field added to tapwire.proto must be added to entry-encoder.ts too: this builds a batch
    // with every declared field set (from the .proto text) and compares with protobufjs.
    const proto = readFileSync(new URL('../proto/tapwire.proto', import.meta.url), 'utf8')
    const fieldsOf = (message: string): { name: string; type: string; repeated: boolean }[] => {
      const body = new RegExp(`message ${message} \\{([\\s\\S]*?)\\n\\}`).exec(proto)?.[1]
      if (body === undefined) throw new Error(`message ${message} not in the .proto`)
      const out = []
      for (const m of body.matchAll(/^\s*(repeated\s+)?(map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+;/gm)) {
        const camel = m[3]!.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())
        out.push({ name: camel, type: m[2]!, repeated: m[1] !== undefined })
      }
      return out
    }
    const sample = (message: string): Record<string, unknown> => {
      const o: Record<string, unknown> = {}
      for (const f of fieldsOf(message)) {
        let v: unknown
        if (f.type === 'string') v = `${f.name}-é`
        else if (f.type === 'double') v = 1.5
        else if (f.type === 'bool') v = true
        else if (/^(u?int|s?fixed)(32|64)$/.test(f.type)) v = 300
        else if (f.type.startsWith('map<')) v = { k: 'v' }
        else v = sample(f.type)
        o[f.name] = f.repeated ? [v, v] : v
      }
      return o
    }
    const entry = sample('Entry')
    // Attr's oneof: one member per Attr, each kind once.
    const attrs = ['str', 'num', 'flag', 'list'].map((k) => ({ name: 'a', [k]: sample('Attr')[k] }))
    const batch = { ...sample('EntryBatch'), entries: [{ ...entry, attrs }] } as EntryBatch
    expect(fieldsOf('Entry').length).toBeGreaterThanOrEqual(32)
    expect(Buffer.from(encodeEntryBatchFast(batch)).equals(Buffer.from(reference(batch)))).toBe(
      true
    )
  })
})
