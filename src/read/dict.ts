/**
 * The lookup interface every backend returns from `open()`. The page file and LMDB both
 * implement it, so callers (the CLI, the pool, custom jobs) never ask which one they hold.
 */
import type { CodecName } from '../format/layout.js'
import type { Value } from '../format/values.js'
import type { KeyBatch } from './batch.js'
import type { LineScan } from './native.js'

/** A key: a string (looked up by its UTF-8 bytes) or the bytes themselves. */
export type Key = string | Uint8Array

export type BackendName = 'pagefile' | 'lmdb'

/**
 * Where the last successful {@link Dict.lookupRange} found the value's encoded bytes:
 * `bytes[start, end)`. It is overwritten by the next lookup; copy what you keep.
 */
export interface ValueLocation {
  bytes: Uint8Array
  start: number
  end: number
}

export interface Dict extends Iterable<[string, Value]> {
  readonly backend: BackendName
  /** The table's value codec: 'none' (a key set), 'string', 'list' or 'json'. */
  readonly codec: CodecName
  /** Number of keys. */
  readonly size: number
  /** The path open() was given. */
  readonly path: string

  /** The decoded value, `true` for a key in a key set, or undefined when the key is absent. */
  get(key: Key): Value | undefined
  has(key: Key): boolean
  /** Like get() for each key; the batch lets the page file touch pages before comparing. */
  getMany(keys: readonly Key[]): (Value | undefined)[]
  /**
   * The value's encoded bytes (see docs/FORMAT.md, value codecs) without a copy. For the page
   * file it is a view into the read-only mapping: valid until close(), never writable.
   */
  getBytes(key: Key): Uint8Array | undefined

  /**
   * The allocation-free lookup scanners use: looks up the key bytes `bytes[start, end)` where
   * they lie. On true, {@link lastValue} holds where the encoded value is.
   */
  lookupRange(bytes: Uint8Array, start: number, end: number): boolean
  readonly lastValue: ValueLocation
  /**
   * Look up every key of a batch at once, faster per key than lookupRange (the page file
   * only; src/read/batch.ts). The answers are in the batch: found, and value locations valid
   * until close().
   */
  lookupBatch?(batch: KeyBatch): void
  /**
   * Split quote-free CSV/TSV records and look them up in native code (the page file, when
   * its addon is built: src/read/native.ts); false when it cannot, and the caller splits.
   */
  scanLines?(s: LineScan, block: Buffer, pos: number, end: number, eof: boolean): boolean
  /** The mapping of shard `shard`, which LineScan value offsets refer to. */
  mappingOf?(shard: number): Buffer

  /** Every [key, value]; in hash order for the page file, key order for LMDB. */
  entries(): IterableIterator<[string, Value]>
  keys(): IterableIterator<string>
  [Symbol.iterator](): IterableIterator<[string, Value]>

  /** What `pagedict info` prints. */
  info(): DictInfo
  /** Release the mapping (the OS unmaps once nothing refers to it). Further calls throw. */
  close(): void
}

export interface DictInfo {
  path: string
  backend: BackendName
  format_version: number
  keys: number
  /** Bytes on disk, every shard included. */
  bytes: number
  codec: CodecName
  [field: string]: unknown
}
