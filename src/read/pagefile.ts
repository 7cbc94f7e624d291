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
  P_OVERFLOW_OFF,
  type TableHeader,
  VALUE_REF_BYTES,
  bucketOf,
  fingerprintOf,
  overflowBitOf,
  readU64,
  readVarint,
  varintEnd,
} from '../format/layout.js'
import { type Value, decodeValue } from '../format/values.js'
import type { Dict, DictInfo, Key, ValueLocation } from './dict.js'
import { copyBytes } from '../bytes.js'
import type { Segment } from './segment.js'

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
    const segs = this.segments
    if (segs.length === 0) throw closed(this.path)
    const n = keys.length
    const out: (Value | undefined)[] = new Array(n)
    const b = this.batchFor(n)
    // A lookup waits on two memory loads in a row: its page's directory, then its record.
    // One key at a time, each wait is paid in full. Here every pass issues one kind of load
    // for all keys in a tight loop, so the CPU overlaps dozens of misses, and the last pass
    // compares against lines already in cache.
    // Pass 1, compute only: encode, hash, find the home page.
    let pos = 0
    for (let i = 0; i < n; i++) {
      const k = keys[i]
      const len = typeof k === 'string' ? this.keyBytes(k) : k.length > MAX_KEY_BYTES ? -1 : k.length
      b.len[i] = len
      if (len < 0) continue
      if (pos + len > b.bytes.length) b.bytes = grow(b.bytes, pos + len)
      copyBytes(typeof k === 'string' ? this.scratch : k, 0, len, b.bytes, pos)
      b.start[i] = pos
      const high = pdhash64(b.bytes, pos, pos + len, this.seedLow, this.seedHigh)
      b.high[i] = high
      b.low[i] = hashLow
      const bucket = bucketOf(high, this.bucketCount)
      const s = segs.length === 1 ? 0 : this.segmentOf(bucket)
      b.seg[i] = s
      b.base[i] = segs[s].dataOffset + (bucket - segs[s].firstBucket) * PAGE_SIZE
      pos += len
    }
    // Pass 2: touch each home page's header, fingerprints and offsets.
    let sink = 0
    for (let i = 0; i < n; i++) {
      if (b.len[i] < 0) continue
      const buf = segs[b.seg[i]].buf
      const base = b.base[i]
      sink ^= buf[base] ^ buf[base + 64] ^ buf[base + 128] ^ buf[base + 192]
    }
    // Pass 3: touch the record of each key's first fingerprint match.
    for (let i = 0; i < n; i++) {
      if (b.len[i] < 0) continue
      const seg = segs[b.seg[i]]
      const buf = seg.buf
      const base = b.base[i]
      const count = buf[base] | (buf[base + 1] << 8)
      if (count > MAX_RECORDS_PER_PAGE) continue // pass 4 reports it
      const fps = base + P_FINGERPRINTS_OFF
      const m = nextMatch(buf, seg.words, fps, count, fingerprintOf(b.low[i]), 0)
      if (m >= 0) {
        const rec = base + (buf[fps + count + 2 * m] | (buf[fps + count + 2 * m + 1] << 8))
        if (rec < base + PAGE_SIZE) sink ^= buf[rec]
      }
    }
    touched ^= sink
    // Pass 4: the lookups themselves.
    for (let i = 0; i < n; i++) {
      const len = b.len[i]
      if (len < 0) continue
      const start = b.start[i]
      if (this.probe(b.high[i], b.low[i], b.bytes, start, start + len)) {
        const v = this.lastValue
        out[i] = decodeValue(this.codecId, v.bytes, v.start, v.end)
      }
    }
    return out
  }

  private batch: Batch | undefined
  private batchFor(n: number): Batch {
    const b = this.batch
    if (b !== undefined && b.high.length >= n) return b
    const size = Math.max(n, 256)
    this.batch = {
      bytes: b?.bytes ?? Buffer.allocUnsafe(size * 32),
      start: new Uint32Array(size),
      len: new Int32Array(size),
      high: new Uint32Array(size),
      low: new Uint32Array(size),
      seg: new Uint32Array(size),
      base: new Int32Array(size),
    }
    return this.batch
  }

  /** UTF-8 bytes of a key: a string is encoded into the scratch buffer. -1 when too long. */
  private keyBytes(key: Key): number {
    if (typeof key !== 'string') return key.length > MAX_KEY_BYTES ? -1 : key.length
    const n = key.length
    if (n > MAX_KEY_BYTES) return -1 // every UTF-16 unit is at least one UTF-8 byte
    const s = this.scratch
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i)
      if (c >= 0x80) {
        const len = s.write(key, 0, 'utf8')
        return len > MAX_KEY_BYTES ? -1 : len
      }
      s[i] = c
    }
    return n
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
    const fp = fingerprintOf(low)
    const bucket = bucketOf(high, this.bucketCount)
    const segs = this.segments
    let seg = segs[0]
    if (segs.length > 1) seg = segs[this.segmentOf(bucket)]
    else if (seg === undefined) throw closed(this.path)
    const keyLen = end - start
    const home = bucket - seg.firstBucket
    // The mapping that holds the home page and the max_spill pages after it (segment.ts).
    const win = seg.windowOf(home)
    const buf = win.buf
    const words = win.words
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
      for (let i = nextMatch(buf, words, fps, count, fp, 0); i >= 0; i = nextMatch(buf, words, fps, count, fp, i + 1)) {
        const rec = base + (buf[offs + 2 * i] | (buf[offs + 2 * i + 1] << 8))
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
    const view: RecordView = { seg: segs[0], page: 0, key: '', keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, fingerprint: 0 }
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
          const rec = base + (buf[offs + 2 * i] | (buf[offs + 2 * i + 1] << 8))
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
    for (const seg of this.segments) seg.release()
    this.segments = []
  }
}

/** getMany's working arrays, kept between calls. */
interface Batch {
  bytes: Buffer
  start: Uint32Array
  len: Int32Array
  high: Uint32Array
  low: Uint32Array
  /** Index of the key's segment. */
  seg: Uint32Array
  /** Byte offset of the key's home page in its segment (< 2 GiB). */
  base: Int32Array
}

function grow(buf: Buffer, need: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2))
  buf.copy(bigger)
  return bigger
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
}

/**
 * The index (>= from) of the next fingerprint equal to `fp` among the `count` at `fps`, or
 * -1. Four are compared at a time: a word with no byte equal to fp (no zero byte after the
 * xor) is skipped; a word that may hold one is checked byte by byte, so bytes past `count`
 * (the offsets that follow) never match. `fps` is 4-aligned: pages are, and it is at 16.
 */
function nextMatch(buf: Buffer, words: Uint32Array, fps: number, count: number, fp: number, from: number): number {
  const fp4 = Math.imul(fp, 0x01010101)
  let wi = (fps + from) >>> 2
  const wordEnd = (fps + count + 3) >>> 2
  for (; wi < wordEnd; wi++) {
    const x = words[wi] ^ fp4
    if (((x - 0x01010101) & ~x & 0x80808080) === 0) continue
    const first = wi * 4 - fps
    const last = first + 4 < count ? first + 4 : count
    for (let i = first > from ? first : from; i < last; i++) if (buf[fps + i] === fp) return i
  }
  return -1
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
