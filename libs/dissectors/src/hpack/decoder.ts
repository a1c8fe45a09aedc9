import { latin1 } from '../util/bytes.js'
import { huffmanDecodeInto, huffmanMaxLength } from './huffman.js'
import { STATIC_TABLE } from './static-table.js'

export interface HeaderField {
  name: string
  value: string
}

export interface DecodedBlock {
  headers: HeaderField[]
  /** Sum of the fields' sizes as RFC 7541 §4.1 counts them (name + value + 32). */
  decodedSize: number
  /** True when fields beyond the list limit were decoded (the table stays right) but dropped. */
  truncated: boolean
}

/** A COMPRESSION_ERROR (RFC 9113 §4.3): the connection's header state can no longer be trusted. */
export class HpackError extends Error {
  override readonly name = 'HpackError'
}

/** The most dynamic-table memory an observer keeps per direction, whatever the peer allows. */
export const HPACK_HARD_TABLE_CAP = 64 * 1024
/** SETTINGS_HEADER_TABLE_SIZE before any SETTINGS frame (RFC 9113 §6.5.2). */
export const HPACK_DEFAULT_TABLE_SIZE = 4096
/** Integers above this are not lengths, indexes or table sizes any peer sends. */
const MAX_INTEGER = 0x7fffffff
const STATIC_COUNT = STATIC_TABLE.length

/**
 * Decoder for one direction of one connection (RFC 7541). The dynamic table is a FIFO held as an
 * array with a moving head (oldest first); HPACK index 62 is the newest entry (§2.3.3).
 */
export class HpackDecoder {
  #names: string[] = []
  #values: string[] = []
  #head = 0
  #size = 0
  /** The table size the encoder chose last (§6.3), capped at HPACK_HARD_TABLE_CAP. */
  #maxSize: number
  /** The bound the decoding peer set with SETTINGS_HEADER_TABLE_SIZE. */
  #limit: number

  constructor(settingsTableSize = HPACK_DEFAULT_TABLE_SIZE) {
    this.#limit = settingsTableSize
    this.#maxSize = Math.min(settingsTableSize, HPACK_HARD_TABLE_CAP)
  }

  /** The decoding endpoint's SETTINGS_HEADER_TABLE_SIZE changed (RFC 9113 §6.5.2). */
  setSettingsLimit(size: number): void {
    this.#limit = size
  }

  /** Current dynamic table size in RFC 7541 §4.1 units. */
  get size(): number {
    return this.#size
  }

  get maxSize(): number {
    return this.#maxSize
  }

  get length(): number {
    return this.#names.length - this.#head
  }

  /** The dynamic table, newest entry first (index 62 first). */
  entries(): HeaderField[] {
    const out: HeaderField[] = []
    for (let i = this.#names.length - 1; i >= this.#head; i--) {
      out.push({ name: this.#names[i]!, value: this.#values[i]! })
    }
    return out
  }

  /**
   * Decodes one complete header block (§3). Throws HpackError on malformed input. `maxListBytes`
   * bounds the headers returned, not the decoding: later fields must still update the table.
   */
  decode(block: Uint8Array, maxListBytes = Number.POSITIVE_INFINITY): DecodedBlock {
    const headers: HeaderField[] = []
    let decodedSize = 0
    let truncated = false
    const pos = { o: 0 }
    const end = block.length
    while (pos.o < end) {
      const b = block[pos.o]!
      let name: string
      let value: string
      if (b & 0x80) {
        // §6.1 Indexed Header Field.
        const idx = readInteger(block, pos, 7)
        name = this.#nameAt(idx)
        value = this.#valueAt(idx)
      } else if ((b & 0xc0) === 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const idx = readInteger(block, pos, 6)
        name = idx === 0 ? readString(block, pos) : this.#nameAt(idx)
        value = readString(block, pos)
        this.#add(name, value)
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 Dynamic Table Size Update.
        const size = readInteger(block, pos, 5)
        if (size > this.#limit)
          throw new HpackError(`table size update ${size} above limit ${this.#limit}`)
        this.#maxSize = Math.min(size, HPACK_HARD_TABLE_CAP)
        this.#evict(0)
        continue
      } else {
        // §6.2.2 Literal without Indexing (0000) and §6.2.3 Never Indexed (0001).
        const idx = readInteger(block, pos, 4)
        name = idx === 0 ? readString(block, pos) : this.#nameAt(idx)
        value = readString(block, pos)
      }
      const fieldSize = name.length + value.length + 32
      decodedSize += fieldSize
      if (decodedSize <= maxListBytes) headers.push({ name, value })
      else truncated = true
    }
    return { headers, decodedSize, truncated }
  }

  // Name and value looked up separately: no [name, value] pair made per indexed field.
  #nameAt(idx: number): string {
    if (idx === 0) throw new HpackError('index 0')
    if (idx <= STATIC_COUNT) return STATIC_TABLE[idx - 1]![0]
    return this.#names[this.#dynamicIndex(idx)]!
  }

  /** Only after `#nameAt(idx)`, which rejects index 0. */
  #valueAt(idx: number): string {
    if (idx <= STATIC_COUNT) return STATIC_TABLE[idx - 1]![1]
    return this.#values[this.#dynamicIndex(idx)]!
  }

  /** Position in the table arrays of HPACK index `idx` (> 61), newest entry first (§2.3.3). */
  #dynamicIndex(idx: number): number {
    const i = this.#names.length - 1 - (idx - STATIC_COUNT - 1)
    if (i < this.#head) throw new HpackError(`index ${idx} beyond the dynamic table`)
    return i
  }

  /** §4.4: evict until the new entry fits; an entry larger than the table empties it. */
  #add(name: string, value: string): void {
    const size = name.length + value.length + 32
    if (size > this.#maxSize) {
      this.#clear()
      return
    }
    this.#evict(size)
    this.#names.push(name)
    this.#values.push(value)
    this.#size += size
  }

  /** Evicts oldest entries until `room` more fits within the maximum size (§4.3). */
  #evict(room: number): void {
    while (this.#size + room > this.#maxSize && this.#head < this.#names.length) {
      this.#size -= this.#names[this.#head]!.length + this.#values[this.#head]!.length + 32
      this.#head++
    }
    // Compact now and then so evicted strings are released.
    if (this.#head > 64 && this.#head * 2 > this.#names.length) {
      this.#names = this.#names.slice(this.#head)
      this.#values = this.#values.slice(this.#head)
      this.#head = 0
    }
  }

  #clear(): void {
    this.#names = []
    this.#values = []
    this.#head = 0
    this.#size = 0
  }
}

/** §5.1 prefix integer starting at `pos.o`; advances `pos.o`. */
export function readInteger(src: Uint8Array, pos: { o: number }, prefixBits: number): number {
  if (pos.o >= src.length) throw new HpackError('truncated integer')
  const mask = (1 << prefixBits) - 1
  let value = src[pos.o++]! & mask
  if (value < mask) return value
  let m = 0
  for (;;) {
    if (pos.o >= src.length) throw new HpackError('truncated integer')
    const b = src[pos.o++]!
    value += (b & 0x7f) * 2 ** m
    m += 7
    if (value > MAX_INTEGER) throw new HpackError('integer overflow')
    if ((b & 0x80) === 0) return value
  }
}

/** §5.2 string literal (raw or Huffman-coded), returned as one char per octet. */
function readString(src: Uint8Array, pos: { o: number }): string {
  if (pos.o >= src.length) throw new HpackError('truncated string')
  const huffman = (src[pos.o]! & 0x80) !== 0
  const len = readInteger(src, pos, 7)
  const start = pos.o
  const end = start + len
  if (end > src.length) throw new HpackError('string beyond the header block')
  pos.o = end
  if (!huffman) return latin1(src, start, end)
  // Decoded into one scratch buffer reused by every decoder: no array per string.
  const max = huffmanMaxLength(len)
  if (huffmanScratch.length < max)
    huffmanScratch = new Uint8Array(Math.max(max, huffmanScratch.length * 2))
  const n = huffmanDecodeInto(src, start, end, huffmanScratch)
  if (n < 0) throw new HpackError('invalid Huffman code')
  return latin1(huffmanScratch, 0, n)
}

let huffmanScratch = new Uint8Array(1024)
