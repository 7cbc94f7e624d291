/**
 * The native batched lookup (native/lookup.c, built by node-gyp at `npm install`): what
 * getMany and the `run` scanner use when it is there. It is optional: without the compiled
 * addon (build/Release/pagedict.node) or with PAGEDICT_NATIVE=0 in the environment, the
 * JavaScript batch in pagefile.ts answers the same, more slowly (BENCHMARKS.md).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  DIRECTORY_BYTES_PER_RECORD,
  EXTENDED_OFFSET_VERSION,
  MAX_KEY_BYTES,
  OFFSET_BITS,
  PAGE_CONTINUES,
  PAGE_SIZE,
  P_COUNT_OFF,
  P_FINGERPRINTS_OFF,
  P_FLAGS_OFF,
  P_HEADER_BYTES,
  P_OVERFLOW_OFF,
  SORTED_DIRECTORY_VERSION,
  type TableHeader,
  VALUE_REF_BYTES,
} from '../format/layout.js'
import { BATCH_KEYS, type KeyBatch, LookupAnswers } from './batch.js'
import type { Segment } from './segment.js'

/** An attached table: the addon's handle to the shards' mappings. */
export type NativeTable = { readonly __nativeTable: unique symbol }

interface Addon {
  attach(buffers: Buffer[], geometry: Float64Array, bucketCount: number, seedLow: number, seedHigh: number, layout: Int32Array): NativeTable
  lookupBatch(
    table: NativeTable,
    keys: Buffer,
    start: Int32Array,
    len: Int32Array,
    n: number,
    found: Uint8Array,
    shard: Int32Array,
    valueStart: Int32Array,
    valueEnd: Int32Array,
  ): number
  scanLines(table: NativeTable, block: Buffer, pos: number, end: number, eof: boolean, config: Int32Array, out: Int32Array[], found: Uint8Array, state: Int32Array): number
  hash(bytes: Buffer, seedLow: number, seedHigh: number, out: Uint32Array): void
  MAX_BATCH: number
}

const SHARED = Symbol.for('pagedict.native')
type Shared = { [SHARED]?: Addon | null }

/** build/Release/pagedict.node of this package: two levels up from src/read or dist/read. */
function addonFile(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'pagedict.node')
}

function load(): Addon | undefined {
  if (process.env.PAGEDICT_NATIVE === '0') return undefined
  const shared = globalThis as Shared
  if (shared[SHARED] !== undefined) return shared[SHARED] ?? undefined
  let addon: Addon | null = null
  const file = addonFile()
  if (fs.existsSync(file)) {
    const m = { exports: {} as Addon }
    process.dlopen(m, file)
    addon = m.exports
  }
  shared[SHARED] = addon
  return addon ?? undefined
}

/** The addon, or undefined when it is not built or is turned off. A built addon that fails to load throws. */
export const native: Addon | undefined = load()

/** Byte offsets and rules of the page layout, in the order native/lookup.c numbers them. */
function layoutFor(header: TableHeader): Int32Array {
  return Int32Array.from([
    PAGE_SIZE,
    P_COUNT_OFF,
    P_FLAGS_OFF,
    P_OVERFLOW_OFF,
    P_FINGERPRINTS_OFF,
    PAGE_CONTINUES,
    OFFSET_BITS,
    VALUE_REF_BYTES,
    Math.floor((PAGE_SIZE - P_HEADER_BYTES) / (DIRECTORY_BYTES_PER_RECORD + 2)),
    header.writeVersion >= SORTED_DIRECTORY_VERSION ? 1 : 0,
    header.readVersion >= EXTENDED_OFFSET_VERSION ? 1 : 0,
  ])
}

/** Attach the shards, each mapped whole (the batch may touch any page of any shard). */
export function attachTable(addon: Addon, header: TableHeader, segs: readonly Segment[]): NativeTable {
  const geometry = new Float64Array(6 * segs.length)
  segs.forEach((s, i) => geometry.set([s.firstBucket, s.pageCount, s.maxSpill, s.dataOffset, s.valueOffset, s.valueLength], 6 * i))
  return addon.attach(
    segs.map((s) => s.buf),
    geometry,
    header.bucketCount,
    header.seedLow,
    header.seedHigh,
    layoutFor(header),
  )
}

/**
 * Look up the batch's keys: fills b.found and, for found keys, b.segment, b.valueStart and
 * b.valueEnd (offsets in that shard's whole mapping). Returns -1, or the index of a key
 * whose page is damaged: keys before it are answered, the caller probes it again to throw.
 */
export function lookupBatchNative(addon: Addon, table: NativeTable, b: KeyBatch): number {
  return addon.lookupBatch(table, b.bytes, b.start, b.len, b.count, b.found, b.segment, b.valueStart, b.valueEnd)
}

/** Why {@link LineScan.scan} stopped: the arrays are full, a record with a quote is next, or the block's end. */
export const STOP_FULL = 0
export const STOP_QUOTE = 1
export const STOP_END = 2

/**
 * The records of a block that native/lookup.c's scanLines split and looked up, BATCH_KEYS at
 * a time: record i is block[lineStart[i], lineEnd[i]), its key block[keyStart[i], +keyLen[i])
 * (keyLen -1: none), and its answer is in the LookupAnswers fields (batch.ts).
 */
export class LineScan extends LookupAnswers {
  readonly lineStart = new Int32Array(BATCH_KEYS)
  readonly lineEnd = new Int32Array(BATCH_KEYS)
  readonly keyStart = new Int32Array(BATCH_KEYS)
  readonly keyLen = new Int32Array(BATCH_KEYS)
  /** [next position, STOP_*, damaged key index or -1, next quote or -1]: see scanLines. */
  readonly state = new Int32Array(4)
  /** [delimiter, quoting, the key's 0-based column, MAX_KEY_BYTES]: see configure. */
  readonly config = Int32Array.from([0x2c, 1, 0, MAX_KEY_BYTES])
  readonly out = [this.lineStart, this.lineEnd, this.keyStart, this.keyLen, this.segment, this.valueStart, this.valueEnd]

  /** Records taken by the last scan. */
  count = 0

  /** How records are split: the delimiter byte, whether quotes are special, the key's 0-based column. */
  configure(delimiter: number, quoting: boolean, field: number): void {
    this.config[0] = delimiter
    this.config[1] = quoting ? 1 : 0
    this.config[2] = field
  }

  /** Call at the start of each block: the next quote's position is the old block's. */
  newBlock(): void {
    this.state[3] = -1
  }

  get next(): number {
    return this.state[0]
  }

  get stop(): number {
    return this.state[1]
  }

  get damaged(): number {
    return this.state[2]
  }
}

/** Split and look up the quote-free records of block[pos, end) (see scanLines in native/lookup.c). */
export function scanLinesNative(addon: Addon, table: NativeTable, s: LineScan, block: Buffer, pos: number, end: number, eof: boolean): number {
  s.count = addon.scanLines(table, block, pos, end, eof, s.config, s.out, s.found, s.state)
  return s.count
}
