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
  /**
   * Fields left out because they referenced dynamic-table entries that a capture gap made unknown
   * (see `HpackDecoder.desync`); always 0 while the decoder is in sync.
   */
  unknown: number
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
/** RFC 7541 §4.1: every entry costs its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32

/** What the decoder knows of a dynamic-table index after a capture gap. */
const KNOWN = 0
/** The entry is in the table, with its value, but its name came from an unknown entry. */
const NAME_UNKNOWN = 1
/** The index lies beyond the entries inserted since the gap: the lost block may have shifted it. */
const UNKNOWN = 2

/**
 * Decoder for one direction of one connection (RFC 7541). The dynamic table is a FIFO held as an
 * array with a moving head (oldest first); HPACK index 62 is the newest entry (§2.3.3).
 *
 * After a capture gap (`desync`) the decoder keeps decoding with what it can prove. A lost header
 * block may have inserted any number of entries, but insertion always happens at the lowest
 * dynamic index (§2.3.3, §4.4): the entries inserted since the gap sit at 62..62+k-1 in the
 * encoder's table too, so references to them resolve correctly; references beyond them are
 * unknown (`DecodedBlock.unknown`), never guessed. The entries since the gap are all newer than
 * the unknown ones, so their eviction (§4.4, oldest first) is computable without knowing the
 * older ones; once they fill the table, nothing older can remain and sync is whole again.
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
  /**
   * Since a gap: entries older than the ones held may exist in the encoder's table (unknown ones).
   * All held entries were inserted after the gap.
   */
  #partial = false
  /** While partial: the most the encoder's table size can be (the SETTINGS bound, or a §6.3 update seen since). */
  #maxUpper = 0
  /** Held entries whose name came from an unknown entry, by absolute id (`#base` + array position). */
  readonly #unknownNames = new Set<number>()
  /** Absolute id of array position 0 (entries compacted away before it). */
  #base = 0
  /** `#partial` or some held entry has an unknown name: lookups take the careful path. */
  #lossy = false
  /** Field references that could not be resolved since the decoder was made. */
  unknownRefs = 0
  /** Times the state was declared lost (`desync`). */
  desyncs = 0

  constructor(settingsTableSize = HPACK_DEFAULT_TABLE_SIZE) {
    this.#limit = settingsTableSize
    this.#maxSize = Math.min(settingsTableSize, HPACK_HARD_TABLE_CAP)
  }

  /**
   * Header blocks of this direction were lost (a capture gap, an undecodable fragment): forget
   * the table, and from now on resolve only entries inserted after this point (see the class
   * comment). The lost blocks may also have carried a size update (§6.3), up to the SETTINGS bound.
   */
  desync(): void {
    this.desyncs++
    this.#maxUpper = Math.max(this.#limit, this.#maxSize)
    this.#maxSize = Math.min(this.#maxUpper, HPACK_HARD_TABLE_CAP)
    this.#clear()
    this.#partial = true
    this.#lossy = true
  }

  /** False from a `desync` until the table is provably whole again. */
  get inSync(): boolean {
    return !this.#partial
  }

  /** Entries known to be right: all held ones (while partial, all were inserted after the gap). */
  get synced(): number {
    return this.length - this.#unknownNames.size
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

  /** The dynamic table, newest entry first (index 62 first); an unknown name reads `?`. */
  entries(): HeaderField[] {
    const out: HeaderField[] = []
    for (let i = this.#names.length - 1; i >= this.#head; i--) {
      const unknown = this.#unknownNames.size > 0 && this.#unknownNames.has(this.#base + i)
      out.push({ name: unknown ? '?' : this.#names[i]!, value: this.#values[i]! })
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
    let unknown = 0
    // Read once: it turns true within a block only if it already was (unknown names come from
    // unknown entries), and a stale true only takes the careful path, which is right in sync too.
    const lossy = this.#lossy
    const pos = { o: 0 }
    const end = block.length
    while (pos.o < end) {
      const b = block[pos.o]!
      let name: string
      let value: string
      if (b & 0x80) {
        // §6.1 Indexed Header Field.
        const idx = readInteger(block, pos, 7)
        if (lossy && idx > STATIC_COUNT && this.#knowledge(idx) !== KNOWN) {
          unknown++
          continue
        }
        name = this.#nameAt(idx)
        value = this.#valueAt(idx)
      } else if ((b & 0xc0) === 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const idx = readInteger(block, pos, 6)
        if (lossy && idx > STATIC_COUNT && this.#knowledge(idx) !== KNOWN) {
          // The entry is inserted all the same (§4.4): its index and value are known, its name not.
          this.#addUnknownName(readString(block, pos))
          unknown++
          continue
        }
        name = idx === 0 ? readString(block, pos) : this.#nameAt(idx)
        value = readString(block, pos)
        this.#add(name, value)
      } else if ((b & 0xe0) === 0x20) {
        // §6.3 Dynamic Table Size Update.
        this.#sizeUpdate(readInteger(block, pos, 5))
        continue
      } else {
        // §6.2.2 Literal without Indexing (0000) and §6.2.3 Never Indexed (0001).
        const idx = readInteger(block, pos, 4)
        if (lossy && idx > STATIC_COUNT && this.#knowledge(idx) !== KNOWN) {
          readString(block, pos)
          unknown++
          continue
        }
        name = idx === 0 ? readString(block, pos) : this.#nameAt(idx)
        value = readString(block, pos)
      }
      const fieldSize = name.length + value.length + ENTRY_OVERHEAD
      decodedSize += fieldSize
      if (decodedSize <= maxListBytes) headers.push({ name, value })
      else truncated = true
    }
    if (unknown > 0) this.unknownRefs += unknown
    return { headers, decodedSize, truncated, unknown }
  }

  /** §6.3: the encoder's new maximum; evicts down to it (§4.3). */
  #sizeUpdate(size: number): void {
    if (size > this.#limit) {
      // While partial, a SETTINGS frame raising the bound may have been lost with the gap.
      if (!this.#partial)
        throw new HpackError(`table size update ${size} above limit ${this.#limit}`)
      this.#limit = size
    }
    // The encoder evicts down to `size`; if what is held since the gap leaves no room for even
    // the smallest entry (32), nothing older survived: the table is whole again.
    if (this.#partial) {
      this.#maxUpper = size
      if (this.#size + ENTRY_OVERHEAD > size) this.#resynced()
    }
    this.#maxSize = Math.min(size, HPACK_HARD_TABLE_CAP)
    this.#evict(0)
  }

  /**
   * While lossy, what is known of dynamic index `idx` (> 61). Beyond the held entries it is
   * unknown while partial, and a decoding error once in sync (§2.3.3).
   */
  #knowledge(idx: number): number {
    const i = this.#names.length - 1 - (idx - STATIC_COUNT - 1)
    if (i < this.#head) {
      if (this.#partial) return UNKNOWN
      throw new HpackError(`index ${idx} beyond the dynamic table`)
    }
    return this.#unknownNames.size > 0 && this.#unknownNames.has(this.#base + i)
      ? NAME_UNKNOWN
      : KNOWN
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
  #add(name: string, value: string): boolean {
    const size = name.length + value.length + ENTRY_OVERHEAD
    if (this.#partial) this.#checkCycled(size)
    if (size > this.#maxSize) {
      this.#clear()
      return false
    }
    this.#evict(size)
    this.#names.push(name)
    this.#values.push(value)
    this.#size += size
    return true
  }

  /**
   * An entry whose name is unknown (it came from an unknown entry). Its size counts only the
   * value (a lower bound): the table may then hold entries the encoder already evicted, which the
   * encoder never references, but never misses one it still has.
   */
  #addUnknownName(value: string): void {
    if (this.#add('', value)) {
      this.#unknownNames.add(this.#base + this.#names.length - 1)
      this.#lossy = true
    }
  }

  /**
   * While partial, before inserting an entry of `size`: if the entries held since the gap, the new
   * one and the smallest possible older entry (32) cannot fit in the largest table the encoder may
   * have, the encoder has evicted everything older (§4.4 evicts oldest first): sync is whole again.
   */
  #checkCycled(size: number): void {
    if (this.#size + size + ENTRY_OVERHEAD > this.#maxUpper) this.#resynced()
  }

  #resynced(): void {
    this.#partial = false
    this.#lossy = this.#unknownNames.size > 0
  }

  /** Evicts oldest entries until `room` more fits within the maximum size (§4.3). */
  #evict(room: number): void {
    while (this.#size + room > this.#maxSize && this.#head < this.#names.length) {
      this.#size -=
        this.#names[this.#head]!.length + this.#values[this.#head]!.length + ENTRY_OVERHEAD
      if (this.#lossy) this.#forgetUnknownName(this.#base + this.#head)
      this.#head++
    }
    // Compact now and then so evicted strings are released.
    if (this.#head > 64 && this.#head * 2 > this.#names.length) {
      this.#names = this.#names.slice(this.#head)
      this.#values = this.#values.slice(this.#head)
      this.#base += this.#head
      this.#head = 0
    }
  }

  #forgetUnknownName(id: number): void {
    if (this.#unknownNames.delete(id) && this.#unknownNames.size === 0 && !this.#partial)
      this.#lossy = false
  }

  #clear(): void {
    this.#base += this.#names.length
    this.#names = []
    this.#values = []
    this.#head = 0
    this.#size = 0
    this.#unknownNames.clear()
    this.#lossy = this.#partial
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
