/**
 * The page-file reader: lookups straight from the read-only mapping. A lookup hashes the key,
 * reads one page's fingerprints, compares the key where it lies and returns a view or a
 * decoded value; it allocates nothing until asked for a string. Every offset read from the
 * file is checked against its page or its value area before use, and every loop is bounded
 * by counts the header has already bounded, so a damaged file gives an error or a wrong
 * answer, never a read outside the mapping or a hang.
 */
import { PagedictError } from '../errors.js'
import { hashLow, pdhash64 } from '../format/hash.js'
import {
  CODEC_NAMES,
  type CodecId,
  DIRECTORY_BYTES_PER_RECORD,
  MAX_KEY_BYTES,
  PAGE_CONTINUES,
  PAGE_SIZE,
  P_FINGERPRINTS_OFF,
  P_FLAGS_OFF,
  P_HEADER_BYTES,
  EXTENDED_OFFSET_VERSION,
  OFFSET_BITS,
  OFFSET_MASK,
  P_OVERFLOW_OFF,
  SORTED_DIRECTORY_VERSION,
  type TableHeader,
  VALUE_REF_BYTES,
  bucketOf,
  fingerprintExtensionOf,
  fingerprintOf,
  overflowBitOf,
  readU64,
  readVarint,
  varintEnd,
} from '../format/layout.js'
import { type Value, decodeValue } from '../format/values.js'
import type { Dict, DictInfo, Key, ValueLocation } from './dict.js'
import { BATCH_KEYS, KeyBatch, encodeKey } from './batch.js'
import type { Segment } from './segment.js'
import { type LineScan, type NativeTable, attachTable, lookupBatchNative, native, scanLinesNative } from './native.js'

const NO_BYTES = Buffer.alloc(0)

/** Where the prefetching loads in lookupRange land, so the JIT cannot drop them. */
export let touched = 0

/** Most records a page can hold: each costs at least its directory entry and two length bytes. */
const MAX_RECORDS_PER_PAGE = Math.floor((PAGE_SIZE - P_HEADER_BYTES) / (DIRECTORY_BYTES_PER_RECORD + 2))

/** One shard's file, geometry and mappings (segment.ts). */
export type { Segment }

export class PageFileDict implements Dict {
  readonly backend = 'pagefile' as const
  readonly codec: (typeof CODEC_NAMES)[number]
  readonly size: number
  readonly lastValue: ValueLocation
  private readonly codecId: CodecId
  private readonly seedLow: number
  private readonly seedHigh: number
  private readonly bucketCount: number
  /** Whether pages hold their directories in fingerprint order (write_version >= 2). */
  private readonly sortedDirectories: boolean
  /** Whether record offsets carry fingerprint extensions in their top bits (read_version >= 2). */
  private readonly extendedOffsets: boolean
  private segments: Segment[]
  private readonly scratch = Buffer.allocUnsafe(MAX_KEY_BYTES * 3 + 8)

  constructor(
    readonly path: string,
    readonly header: TableHeader,
    segments: Segment[],
    private readonly bytesOnDisk: number,
  ) {
    this.codecId = header.codec
    this.codec = CODEC_NAMES[header.codec]
    this.size = header.keyCount
    this.seedLow = header.seedLow
    this.seedHigh = header.seedHigh
    this.bucketCount = header.bucketCount
    this.sortedDirectories = header.writeVersion >= SORTED_DIRECTORY_VERSION
    this.extendedOffsets = header.readVersion >= EXTENDED_OFFSET_VERSION
    this.segments = segments
    this.lastValue = { bytes: NO_BYTES, start: 0, end: 0 } // not segments[0].buf: that would map the shard now
  }

  get(key: Key): Value | undefined {
    if (!this.lookupKey(key)) return undefined
    const v = this.lastValue
    return decodeValue(this.codecId, v.bytes, v.start, v.end)
  }

  has(key: Key): boolean {
    return this.lookupKey(key)
  }

  getBytes(key: Key): Uint8Array | undefined {
    if (!this.lookupKey(key)) return undefined
    const v = this.lastValue
    return v.bytes.subarray(v.start, v.end)
  }

  getMany(keys: readonly Key[]): (Value | undefined)[] {
    if (this.segments.length === 0) throw closed(this.path)
    const n = keys.length
    const out: (Value | undefined)[] = new Array(n)
    const b = (this.batch ??= new KeyBatch())
    for (let from = 0; from < n; from += BATCH_KEYS) {
      const to = Math.min(n, from + BATCH_KEYS)
      b.clear()
      for (let i = from; i < to; i++) {
        const k = keys[i]
        if (typeof k === 'string') b.addString(k)
        else b.add(k, 0, k.length)
      }
      this.lookupBatch(b)
      for (let i = 0; i < b.count; i++) {
        if (b.found[i] === 1) out[from + i] = decodeValue(this.codecId, b.valueBytes[i], b.valueStart[i], b.valueEnd[i])
      }
    }
    return out
  }

  private batch: KeyBatch | undefined
  /** The shards attached to the native batch lookup (native.ts), at the first batch. */
  private nativeTable: NativeTable | undefined

  /**
   * Look up every key of the batch (src/read/batch.ts): hash them all, touch their home pages
   * all, then probe. The touching loop is a few instructions a key, so the CPU has many of its
   * loads in flight at once; a probe then waits only for its record's line (profiled: half of
   * the batched probe's time is that one load, for hits and fingerprint false positives).
   */
  lookupBatch(b: KeyBatch): void {
    const segs = this.segments
    if (segs.length === 0) throw closed(this.path)
    if (native !== undefined) return this.lookupBatchNative(b)
    const multi = segs.length > 1
    const n = b.count
    for (let i = 0; i < n; i++) {
      const len = b.len[i]
      if (len < 0) {
        // Touched like the others (a page of shard 0 exists), never probed.
        b.segment[i] = 0
        b.home[i] = 0
        continue
      }
      const start = b.start[i]
      const high = pdhash64(b.bytes, start, start + len, this.seedLow, this.seedHigh)
      b.low[i] = hashLow
      const bucket = bucketOf(high, this.bucketCount)
      const s = multi ? this.segmentOf(bucket) : 0
      b.segment[i] = s
      b.home[i] = bucket - segs[s].firstBucket
    }
    touched ^= touchHomePages(b, segs)
    const v = this.lastValue
    for (let i = 0; i < n; i++) {
      const len = b.len[i]
      const start = b.start[i]
      if (len >= 0 && this.probeHome(segs[b.segment[i]], b.home[i], b.low[i], b.bytes, start, start + len)) {
        b.found[i] = 1
        b.valueBytes[i] = v.bytes
        b.valueStart[i] = v.start
        b.valueEnd[i] = v.end
      } else b.found[i] = 0
    }
  }

  /**
   * lookupBatch in native code (native/lookup.c): the same steps, with prefetches, which
   * JavaScript cannot issue. A damaged page stops it at that key, which the JavaScript probe
   * then looks up again, to throw the same E_CORRUPT error it throws everywhere else.
   */
  private lookupBatchNative(b: KeyBatch): void {
    const segs = this.segments
    const addon = native!
    const table = (this.nativeTable ??= attachTable(addon, this.header, segs))
    const damaged = lookupBatchNative(addon, table, b)
    const n = damaged < 0 ? b.count : damaged
    for (let i = 0; i < n; i++) if (b.found[i] === 1) b.valueBytes[i] = segs[b.segment[i]].buf
    if (damaged < 0) return
    throw this.damagedAt(b.bytes, b.start[damaged], b.start[damaged] + b.len[damaged])
  }

  /**
   * The error for a key whose probe in native code met a damaged page: the JavaScript probe
   * looks it up again and throws its own, precise E_CORRUPT (which page, what is wrong).
   */
  private damagedAt(bytes: Uint8Array, start: number, end: number): PagedictError {
    this.lookupRange(bytes, start, end)
    return new PagedictError('E_CORRUPT', `${this.path}: a damaged page; run \`pagedict verify\` and rebuild the table`, { path: this.path })
  }

  /**
   * Split the quote-free CSV or TSV records of block[pos, end) and look their keys up, in
   * native code, as `s` is configured (LineScan, native.ts). Returns false when
   * the addon is not there (the caller splits in JavaScript). A damaged page throws E_CORRUPT.
   */
  scanLines(s: LineScan, block: Buffer, pos: number, end: number, eof: boolean): boolean {
    const segs = this.segments
    if (segs.length === 0) throw closed(this.path)
    const addon = native
    if (addon === undefined) return false
    const table = (this.nativeTable ??= attachTable(addon, this.header, segs))
    scanLinesNative(addon, table, s, block, pos, end, eof)
    const damaged = s.damaged
    if (damaged >= 0) throw this.damagedAt(block, s.keyStart[damaged], s.keyStart[damaged] + s.keyLen[damaged])
    return true
  }

  /** Shard `shard`'s whole mapping, which a LineScan's value offsets (its segment field) refer to. */
  mappingOf(shard: number): Buffer {
    return this.segments[shard].buf
  }

  /** UTF-8 bytes of a key: a string is encoded into the scratch buffer. -1 when too long. */
  private keyBytes(key: Key): number {
    if (typeof key !== 'string') return key.length > MAX_KEY_BYTES ? -1 : key.length
    return encodeKey(key, this.scratch, 0)
  }

  private lookupKey(key: Key): boolean {
    if (this.segments.length === 0) throw closed(this.path)
    const len = this.keyBytes(key)
    if (len < 0) return false
    return this.lookupRange(typeof key === 'string' ? this.scratch : key, 0, len)
  }

  lookupRange(bytes: Uint8Array, start: number, end: number): boolean {
    const high = pdhash64(bytes, start, end, this.seedLow, this.seedHigh)
    return this.probe(high, hashLow, bytes, start, end)
  }

  /** Look for the key bytes[start, end) whose hash is (high, low). */
  private probe(high: number, low: number, bytes: Uint8Array, start: number, end: number): boolean {
    const bucket = bucketOf(high, this.bucketCount)
    const segs = this.segments
    let seg = segs[0]
    if (segs.length > 1) seg = segs[this.segmentOf(bucket)]
    else if (seg === undefined) throw closed(this.path)
    return this.probeHome(seg, bucket - seg.firstBucket, low, bytes, start, end)
  }

  /** Look for the key bytes[start, end), whose hash's low half is `low`, from page `home` of `seg`. */
  private probeHome(seg: Segment, home: number, low: number, bytes: Uint8Array, start: number, end: number): boolean {
    const fp = fingerprintOf(low)
    const sorted = this.sortedDirectories
    const extended = this.extendedOffsets
    const ext = fingerprintExtensionOf(low)
    const keyLen = end - start
    // The mapping that holds the home page and the max_spill pages after it (segment.ts).
    const win = seg.windowOf(home)
    const buf = win.buf
    const lastPage = Math.min(seg.pageCount - 1, home + seg.maxSpill)
    for (let page = home; page <= lastPage; page++) {
      const base = win.dataOffset + page * PAGE_SIZE
      const limit = base + PAGE_SIZE
      // Touch the lines the directory's offsets usually lie in: their addresses do not depend
      // on the count, so these loads overlap the first line's miss instead of following it.
      touched ^= buf[base + 64] ^ buf[base + 128] ^ buf[base + 192]
      const count = buf[base] | (buf[base + 1] << 8)
      if (count > MAX_RECORDS_PER_PAGE) throw corruptPage(seg, page, `record count ${count}`)
      const fps = base + P_FINGERPRINTS_OFF
      const offs = fps + count
      // Sorted directories (write_version 2) hold this fingerprint's entries in one run that
      // starts at the first entry not below it; older ones are scanned whole.
      for (let i = sorted ? firstAtLeast(buf, fps, count, fp) : 0; i < count; i++) {
        if (buf[fps + i] !== fp) {
          if (sorted) break
          continue
        }
        let entry = buf[offs + 2 * i] | (buf[offs + 2 * i + 1] << 8)
        if (extended) {
          // 4 more fingerprint bits: most records matched by chance end here, unread.
          if (entry >>> OFFSET_BITS !== ext) continue
          entry &= OFFSET_MASK
        }
        const rec = base + entry
        if (rec < offs + 2 * count || rec >= limit) throw corruptPage(seg, page, `record offset ${rec - base}`)
        let at = rec
        let klen = buf[at]
        if (klen < 0x80) at++
        else {
          klen = readVarint(buf, at, limit)
          at = varintEnd
        }
        if (klen !== keyLen) continue
        let tag = buf[at]
        if (tag < 0x80) at++
        else {
          tag = readVarint(buf, at, limit)
          if (tag < 0) throw corruptPage(seg, page, 'value length')
          at = varintEnd
        }
        if (at + keyLen > limit) throw corruptPage(seg, page, 'key runs past the page')
        let j = 0
        while (j < keyLen && buf[at + j] === bytes[start + j]) j++
        if (j !== keyLen) continue
        at += keyLen
        return this.locateValue(seg, buf, page, at, limit, tag)
      }
      if (page === home) {
        const bit = overflowBitOf(low)
        if ((buf[base + P_OVERFLOW_OFF + (bit >>> 3)] & (1 << (bit & 7))) === 0) return false
      }
      if ((buf[base + P_FLAGS_OFF] & PAGE_CONTINUES) === 0) return false
    }
    return false
  }

  /**
   * Point lastValue at the value of a record whose value tag is `tag`, after bounds checks.
   * `buf` is the mapping the record was read from, and `at` and `limit` are offsets in it.
   */
  private locateValue(seg: Segment, buf: Buffer, page: number, at: number, limit: number, tag: number): boolean {
    const len = Math.floor(tag / 2)
    const v = this.lastValue
    if (tag % 2 === 0) {
      if (at + len > limit) throw corruptPage(seg, page, 'value runs past the page')
      v.bytes = buf
      v.start = at
      v.end = at + len
      return true
    }
    if (at + VALUE_REF_BYTES > limit) throw corruptPage(seg, page, 'value reference runs past the page')
    const ref = readU64(buf, at)
    if (ref + len > seg.valueLength) throw corruptPage(seg, page, `value reference ${ref}+${len} outside the value area`)
    const start = seg.valueOffset + ref
    const win = seg.windowFor(start, start + len)
    v.bytes = win.buf
    v.start = start - win.start
    v.end = v.start + len
    return true
  }

  private segmentOf(bucket: number): number {
    const segs = this.segments
    let lo = 0
    let hi = segs.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (segs[mid].firstBucket <= bucket) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  *entries(): IterableIterator<[string, Value]> {
    for (const r of this.records()) yield [r.key, decodeValue(this.codecId, r.seg.buf, r.valueStart, r.valueEnd)]
  }

  *keys(): IterableIterator<string> {
    for (const r of this.records()) yield r.key
  }

  [Symbol.iterator](): IterableIterator<[string, Value]> {
    return this.entries()
  }

  /**
   * Every record of every page, in file order, with its bounds checked. Also what verify
   * walks; the checks throw E_CORRUPT naming the shard and page.
   */
  *records(): Generator<RecordView> {
    const segs = this.segments
    if (segs.length === 0) throw closed(this.path)
    const view: RecordView = { seg: segs[0], page: 0, key: '', keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, fingerprint: 0, extension: -1 }
    for (const seg of segs) {
      const buf = seg.buf
      view.seg = seg
      for (let page = 0; page < seg.pageCount; page++) {
        const base = seg.dataOffset + page * PAGE_SIZE
        const limit = base + PAGE_SIZE
        const count = buf[base] | (buf[base + 1] << 8)
        if (count > MAX_RECORDS_PER_PAGE) throw corruptPage(seg, page, `record count ${count}`)
        const offs = base + P_FINGERPRINTS_OFF + count
        view.page = page
        for (let i = 0; i < count; i++) {
          const entry = buf[offs + 2 * i] | (buf[offs + 2 * i + 1] << 8)
          const rec = base + (this.extendedOffsets ? entry & OFFSET_MASK : entry)
          if (rec < offs + 2 * count || rec >= limit) throw corruptPage(seg, page, `record offset ${rec - base}`)
          const keyLen = readVarint(buf, rec, limit)
          if (keyLen < 0 || keyLen > MAX_KEY_BYTES) throw corruptPage(seg, page, 'key length')
          const tag = readVarint(buf, varintEnd, limit)
          if (tag < 0) throw corruptPage(seg, page, 'value length')
          const keyStart = varintEnd
          if (keyStart + keyLen > limit) throw corruptPage(seg, page, 'key runs past the page')
          this.locateValue(seg, buf, page, keyStart + keyLen, limit, tag)
          view.keyStart = keyStart
          view.keyEnd = keyStart + keyLen
          view.key = buf.toString('utf8', keyStart, keyStart + keyLen)
          view.valueStart = this.lastValue.start
          view.valueEnd = this.lastValue.end
          view.fingerprint = buf[base + P_FINGERPRINTS_OFF + i]
          view.extension = this.extendedOffsets ? entry >>> OFFSET_BITS : -1
          yield view
        }
      }
    }
  }

  info(): DictInfo {
    const h = this.header
    return {
      path: this.path,
      backend: 'pagefile',
      format_version: h.readVersion,
      keys: this.size,
      bytes: this.bytesOnDisk,
      codec: this.codec,
      shards: h.shards.length,
      pages: h.shards.reduce((n, s) => n + s.pageCount, 0),
      buckets: h.bucketCount,
      max_spill: Math.max(...h.shards.map((s) => s.maxSpill)),
      value_area_bytes: h.shards.reduce((n, s) => n + s.valueLength, 0),
      seed: h.seedHigh * 2 ** 32 + h.seedLow,
      // A damaged build_time past what a Date holds must not make info() throw a RangeError.
      built: Number.isFinite(new Date(h.buildTime).getTime()) ? new Date(h.buildTime).toISOString() : null,
      build: h.metadata,
    }
  }

  /** The mappings, for verify. */
  get segmentsForVerify(): readonly Segment[] {
    return this.segments
  }

  close(): void {
    // Dropping the Buffers lets the GC unmap; nothing can unmap a Buffer still referenced.
    // getMany's batch refers to them too (its value locations).
    for (const seg of this.segments) seg.release()
    this.segments = []
    this.batch = undefined
    this.nativeTable = undefined
  }
}

export interface RecordView {
  seg: Segment
  page: number
  key: string
  keyStart: number
  keyEnd: number
  valueStart: number
  valueEnd: number
  fingerprint: number
  /** The fingerprint extension stored with its offset; -1 in a table without them. */
  extension: number
}

/** Read the directory lines of every key's home page, so the probes find them in cache. */
function touchHomePages(b: KeyBatch, segs: Segment[]): number {
  let sink = 0
  const n = b.count
  const home = b.home
  if (segs.length === 1) {
    // The common case gets a loop of a few instructions a key: the shorter it is, the more
    // of its loads the CPU has in flight at once.
    const buf = segs[0].buf
    const data = segs[0].dataOffset
    for (let i = 0; i < n; i++) {
      const base = data + home[i] * PAGE_SIZE
      sink ^= buf[base] ^ buf[base + 64] ^ buf[base + 128] ^ buf[base + 192]
    }
    return sink
  }
  for (let i = 0; i < n; i++) {
    const seg = segs[b.segment[i]]
    const buf = seg.buf
    const base = seg.dataOffset + home[i] * PAGE_SIZE
    sink ^= buf[base] ^ buf[base + 64] ^ buf[base + 128] ^ buf[base + 192]
  }
  return sink
}

/**
 * In a directory sorted by fingerprint, the first index whose fingerprint is >= fp, or
 * count. Fingerprints are uniform bytes, so entry fp × count / 256 is within a few entries of
 * the answer: start there and step (a binary search would cost more unpredictable branches
 * for 80 entries). Bounded by count either way; a damaged, unsorted page gives a wrong
 * answer, never a read outside the page.
 */
function firstAtLeast(buf: Buffer, fps: number, count: number, fp: number): number {
  if (count === 0) return 0
  let i = (fp * count) >>> 8
  if (buf[fps + i] >= fp) {
    while (i > 0 && buf[fps + i - 1] >= fp) i--
  } else {
    i++
    while (i < count && buf[fps + i] < fp) i++
  }
  return i
}

function corruptPage(seg: Segment, page: number, what: string): PagedictError {
  return new PagedictError('E_CORRUPT', `${seg.file}: corrupt page ${page}: ${what}; run \`pagedict verify\` and rebuild the table`, {
    path: seg.file,
    offset: seg.dataOffset + page * PAGE_SIZE,
  })
}

function closed(path: string): PagedictError {
  return new PagedictError('E_OPTION', `${path}: the table is closed`, { path })
}
