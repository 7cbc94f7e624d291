/**
 * The on-disk layout of a pagedict page file: the only module that knows magic numbers,
 * versions, offsets, widths and byte order. `src/build` writes through it and `src/read`
 * reads through it; docs/FORMAT.md describes the same bytes for people. The one exception
 * is native/lookup.c, the batched lookup in C: it is handed these offsets at attach
 * (src/read/native.ts) but repeats the lookup procedure itself, and test/native.test.ts and
 * test/batch.test.ts check its answers against the JavaScript reader's.
 *
 * All integers are little-endian. Offsets named *_OFF are byte offsets inside their
 * structure; a u64 is written as two u32 halves (low first) and must stay below 2^53.
 */
import { PagedictError } from '../errors.js'

export const PAGE_SIZE = 4096
export const PAGE_SHIFT = 12

/** A reader refuses a table whose read version is newer than this. */
export const READ_VERSION = 2
/** What this writer writes. A reader that knows READ_VERSION but not WRITE_VERSION may read. */
export const WRITE_VERSION = 2
/**
 * From this write version on, every page's directory entries are in ascending fingerprint
 * order, so a lookup can start near where its fingerprint falls instead of scanning them all.
 */
export const SORTED_DIRECTORY_VERSION = 2
/**
 * From this read version on, the top 4 bits of every record offset hold 4 more fingerprint
 * bits (fingerprintExtensionOf), so a lookup skips most records whose 8-bit fingerprint
 * matches by chance without reading them. Offsets are below 4096: 12 bits are the offset.
 */
export const EXTENDED_OFFSET_VERSION = 2
export const OFFSET_BITS = 12
export const OFFSET_MASK = (1 << OFFSET_BITS) - 1
export const HASH_ID_PDHASH64 = 1

export const TABLE_MAGIC = Buffer.from('PAGEDICT', 'latin1')
export const SHARD_MAGIC = Buffer.from('PDSHARD\0', 'latin1')
/** An LMDB data file has this u32 in its first meta page (lmdb/mdb.c, MDB_MAGIC); open() sniffs it. */
export const LMDB_MAGIC = 0xbeefc0de

// ---- limits ------------------------------------------------------------------------------

/** Longest key in bytes. A key always lives inline in its page, so it must leave room. */
export const MAX_KEY_BYTES = 1024
/** Values longer than this go to the shard's value area; shorter ones stay in the page. */
export const MAX_INLINE_VALUE_BYTES = 1024
/** Longest value in bytes (256 MiB): it must fit a shard's mapping with room to spare. */
export const MAX_VALUE_BYTES = 256 * 1024 * 1024
/**
 * A mapping's size is a signed 32-bit int in @riaskov/mmap-io, so every mapped file
 * (a shard, or the table file holding the only shard) stays below 2 GiB.
 */
export const MAX_MAPPED_BYTES = 0x7fffffff
/** The builder aims shards at this size so skew in large values cannot push one past the limit. */
export const TARGET_SHARD_BYTES = 1024 * 1024 * 1024
/** A build whose longest spill exceeds this reseeds (hash flooding must not slow lookups). */
export const MAX_SPILL_PAGES = 32

// ---- value codecs --------------------------------------------------------------------------

export const CODEC_NONE = 0 // a key set: no value bytes
export const CODEC_STRING = 1 // one UTF-8 string
export const CODEC_LIST = 2 // varint count, then (varint length, UTF-8 bytes) per string
export const CODEC_JSON = 3 // UTF-8 JSON text of any JSON value
export type CodecId = 0 | 1 | 2 | 3
export const CODEC_NAMES = ['none', 'string', 'list', 'json'] as const
export type CodecName = (typeof CODEC_NAMES)[number]

// ---- table header (page 0 of the table file, continued over header_pages pages) ---------

export const H_MAGIC_OFF = 0 // 8 bytes "PAGEDICT"
export const H_READ_VERSION_OFF = 8 // u16
export const H_WRITE_VERSION_OFF = 10 // u16
export const H_PAGE_SIZE_OFF = 12 // u32, 4096
export const H_FLAGS_OFF = 16 // u32, no flags defined: every bit must be 0
export const H_CHECKSUM_OFF = 20 // u32 CRC-32 of the header region with this field zero
export const H_HEADER_PAGES_OFF = 24 // u32 >= 1
export const H_SHARD_COUNT_OFF = 28 // u32 >= 1
export const H_KEY_COUNT_OFF = 32 // u64
export const H_SEED_OFF = 40 // u64 (low u32, high u32)
export const H_BUCKET_COUNT_OFF = 48 // u32 >= 1, buckets over all shards
export const H_CODEC_OFF = 52 // u8
export const H_HASH_ID_OFF = 53 // u8
export const H_RESERVED1_OFF = 54 // 2 bytes zero
export const H_BUILD_TIME_OFF = 56 // u64 ms since the epoch
export const H_BUILD_ID_OFF = 64 // 16 random bytes, repeated in every shard header
export const H_META_OFF_OFF = 80 // u32 byte offset of the metadata JSON in the header region
export const H_META_LEN_OFF = 84 // u32 its length
export const H_RESERVED2_OFF = 88 // 40 bytes zero
export const H_DIRECTORY_OFF = 128 // shard_count directory entries
export const BUILD_ID_BYTES = 16

// ---- shard directory entry (SHARD_ENTRY_BYTES each, from H_DIRECTORY_OFF) ------------------

export const SHARD_ENTRY_BYTES = 128
export const S_FIRST_BUCKET_OFF = 0 // u32
export const S_BUCKET_COUNT_OFF = 4 // u32 >= 1
export const S_PAGE_COUNT_OFF = 8 // u32 >= bucket_count (tail pages take the last spill)
export const S_MAX_SPILL_OFF = 12 // u32 <= MAX_SPILL_PAGES
export const S_KEY_COUNT_OFF = 16 // u64
export const S_DATA_OFF_OFF = 24 // u64 byte offset of data page 0 in the shard's file
export const S_VALUE_OFF_OFF = 32 // u64 byte offset of the value area in the shard's file
export const S_VALUE_LEN_OFF = 40 // u64
export const S_FILE_LEN_OFF = 48 // u64 exact length of the shard's file
export const S_VALUE_CRC_OFF = 56 // u32 CRC-32 of the value area (checked by verify)
export const S_RESERVED_OFF = 60 // 4 bytes zero
export const S_NAME_OFF = 64 // 64 bytes: file name (UTF-8, NUL-padded); empty = inline
export const SHARD_NAME_BYTES = 64

// ---- shard file header (page 0 of an external shard file) ----------------------------------

export const SH_MAGIC_OFF = 0 // 8 bytes "PDSHARD\0"
export const SH_READ_VERSION_OFF = 8 // u16
export const SH_WRITE_VERSION_OFF = 10 // u16
export const SH_PAGE_SIZE_OFF = 12 // u32
export const SH_INDEX_OFF = 16 // u32 the shard's index in the table directory
export const SH_CHECKSUM_OFF = 20 // u32 CRC-32 of this page with this field zero
export const SH_BUILD_ID_OFF = 24 // 16 bytes, equal to the table's build id
export const SH_FIRST_BUCKET_OFF = 40 // u32, equal to the directory entry
export const SH_BUCKET_COUNT_OFF = 44 // u32
export const SH_PAGE_COUNT_OFF = 48 // u32
export const SH_HEADER_BYTES = PAGE_SIZE

// ---- data page ------------------------------------------------------------------------------

export const P_COUNT_OFF = 0 // u16 records in this page
export const P_FLAGS_OFF = 2 // u8
export const P_RESERVED_OFF = 3 // u8 zero
export const P_CHECKSUM_OFF = 4 // u32 CRC-32 of the page with this field zero
export const P_OVERFLOW_OFF = 8 // 8 bytes: a 64-bit filter of this page's keys placed on later pages
export const P_FINGERPRINTS_OFF = 16 // count u8 fingerprints, then count u16 record offsets
export const P_HEADER_BYTES = 16
/** Flag: records whose home page is this one (or earlier) continue on the next page. */
export const PAGE_CONTINUES = 1
/** Bytes a record costs in the page directory: one fingerprint, one u16 offset. */
export const DIRECTORY_BYTES_PER_RECORD = 3
/** Bytes of an external value reference in a record: u64 offset into the value area. */
export const VALUE_REF_BYTES = 8
/** The builder fills pages to this share of their bytes on average (file size vs. spills). */
export const TARGET_FILL = 0.92

/**
 * The bit (0..63) a key sets in its home page's overflow filter when it is placed on a later
 * page. A miss whose bit is clear stops at the home page (a third of pages overflow at the
 * target fill; the filter spares nearly every miss the second page).
 */
export function overflowBitOf(hashLow: number): number {
  return (hashLow >>> 16) & 63
}

/**
 * The 4 fingerprint bits stored above a record's offset (read_version >= 2): bits 12-15 of
 * the hash's low half, apart from the fingerprint's (24-31) and the overflow bit's (16-21).
 */
export function fingerprintExtensionOf(hashLow: number): number {
  return (hashLow >>> 12) & 15
}

/** The fingerprint stored for a key: the top 8 bits of the hash's low half. */
export function fingerprintOf(hashLow: number): number {
  return hashLow >>> 24
}

/**
 * The global bucket of a key: floor(hashHigh × bucketCount / 2^32), computed exactly.
 * When the product stays below 2^53 one multiply is exact; otherwise the 32-bit hash is
 * split into 16-bit halves so every intermediate stays below 2^53.
 */
export function bucketOf(hashHigh: number, bucketCount: number): number {
  if (bucketCount <= 0x200000) return Math.floor((hashHigh * bucketCount) / 4294967296)
  const top = (hashHigh >>> 16) * bucketCount // < 2^48
  const bottom = (hashHigh & 0xffff) * bucketCount // < 2^48
  return Math.floor(top / 65536) + Math.floor(((top % 65536) * 65536 + bottom) / 4294967296)
}

// ---- varints (unsigned LEB128, at most 5 bytes, values < 2^32) -----------------------------

export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5
}

/** Write `n` at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 128)
  }
  buf[pos++] = n
  return pos
}

/**
 * Read a varint at `pos`, never past `end`. Returns the value and leaves the position after
 * it in `varintEnd`; returns -1 when the bytes are not a varint of at most 5 bytes.
 */
export let varintEnd = 0
export function readVarint(buf: Uint8Array, pos: number, end: number): number {
  let result = 0
  let scale = 1
  for (let i = 0; i < 5; i++) {
    if (pos >= end) return -1
    const b = buf[pos++]
    result += (b & 0x7f) * scale
    if (b < 0x80) {
      varintEnd = pos
      return result
    }
    scale *= 128
  }
  return -1
}

// ---- u64 as two u32 halves ---------------------------------------------------------------

export function writeU64(buf: Buffer, pos: number, n: number): void {
  buf.writeUInt32LE(n % 4294967296, pos)
  buf.writeUInt32LE(Math.floor(n / 4294967296), pos + 4)
}

export function readU64(buf: Uint8Array, pos: number): number {
  const lo = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24)
  const hi = buf[pos + 4] | (buf[pos + 5] << 8) | (buf[pos + 6] << 16) | (buf[pos + 7] << 24)
  return (hi >>> 0) * 4294967296 + (lo >>> 0)
}

// ---- the header as a structure --------------------------------------------------------------

export interface ShardEntry {
  firstBucket: number
  bucketCount: number
  pageCount: number
  maxSpill: number
  keyCount: number
  dataOffset: number
  valueOffset: number
  valueLength: number
  fileLength: number
  /** CRC-32 of the value area's bytes (0 for an empty one). */
  valueChecksum: number
  /** File name beside the table file; '' when the shard is inline in the table file. */
  name: string
}

export interface TableHeader {
  readVersion: number
  writeVersion: number
  headerPages: number
  keyCount: number
  seedLow: number
  seedHigh: number
  bucketCount: number
  codec: CodecId
  buildTime: number
  buildId: Buffer
  shards: ShardEntry[]
  metadata: Record<string, unknown>
}

/** Bytes the header region needs for a directory of `shardCount` and `metaBytes` of metadata. */
export function headerPagesFor(shardCount: number, metaBytes: number): number {
  return Math.ceil((H_DIRECTORY_OFF + shardCount * SHARD_ENTRY_BYTES + metaBytes) / PAGE_SIZE)
}

/**
 * Serialise the header region (h.headerPages × PAGE_SIZE bytes, which the builder reserved
 * before writing the data pages after it). The checksum is left zero.
 */
export function encodeTableHeader(h: TableHeader): Buffer {
  const meta = Buffer.from(JSON.stringify(h.metadata), 'utf8')
  const pages = h.headerPages
  if (headerPagesFor(h.shards.length, meta.length) > pages) {
    throw new RangeError(`the table header needs ${headerPagesFor(h.shards.length, meta.length)} pages, ${pages} were reserved`)
  }
  const buf = Buffer.alloc(pages * PAGE_SIZE)
  TABLE_MAGIC.copy(buf, H_MAGIC_OFF)
  buf.writeUInt16LE(h.readVersion, H_READ_VERSION_OFF)
  buf.writeUInt16LE(h.writeVersion, H_WRITE_VERSION_OFF)
  buf.writeUInt32LE(PAGE_SIZE, H_PAGE_SIZE_OFF)
  buf.writeUInt32LE(pages, H_HEADER_PAGES_OFF)
  buf.writeUInt32LE(h.shards.length, H_SHARD_COUNT_OFF)
  writeU64(buf, H_KEY_COUNT_OFF, h.keyCount)
  buf.writeUInt32LE(h.seedLow >>> 0, H_SEED_OFF)
  buf.writeUInt32LE(h.seedHigh >>> 0, H_SEED_OFF + 4)
  buf.writeUInt32LE(h.bucketCount, H_BUCKET_COUNT_OFF)
  buf[H_CODEC_OFF] = h.codec
  buf[H_HASH_ID_OFF] = HASH_ID_PDHASH64
  writeU64(buf, H_BUILD_TIME_OFF, h.buildTime)
  h.buildId.copy(buf, H_BUILD_ID_OFF, 0, BUILD_ID_BYTES)
  const metaOff = H_DIRECTORY_OFF + h.shards.length * SHARD_ENTRY_BYTES
  buf.writeUInt32LE(metaOff, H_META_OFF_OFF)
  buf.writeUInt32LE(meta.length, H_META_LEN_OFF)
  h.shards.forEach((s, i) => encodeShardEntry(buf, H_DIRECTORY_OFF + i * SHARD_ENTRY_BYTES, s))
  meta.copy(buf, metaOff)
  return buf
}

function encodeShardEntry(buf: Buffer, at: number, s: ShardEntry): void {
  buf.writeUInt32LE(s.firstBucket, at + S_FIRST_BUCKET_OFF)
  buf.writeUInt32LE(s.bucketCount, at + S_BUCKET_COUNT_OFF)
  buf.writeUInt32LE(s.pageCount, at + S_PAGE_COUNT_OFF)
  buf.writeUInt32LE(s.maxSpill, at + S_MAX_SPILL_OFF)
  writeU64(buf, at + S_KEY_COUNT_OFF, s.keyCount)
  writeU64(buf, at + S_DATA_OFF_OFF, s.dataOffset)
  writeU64(buf, at + S_VALUE_OFF_OFF, s.valueOffset)
  writeU64(buf, at + S_VALUE_LEN_OFF, s.valueLength)
  writeU64(buf, at + S_FILE_LEN_OFF, s.fileLength)
  buf.writeUInt32LE(s.valueChecksum >>> 0, at + S_VALUE_CRC_OFF)
  const name = Buffer.from(s.name, 'utf8')
  if (name.length > SHARD_NAME_BYTES) throw new RangeError(`shard name longer than ${SHARD_NAME_BYTES} bytes: ${s.name}`)
  name.copy(buf, at + S_NAME_OFF)
}

/** Put the CRC-32 of `region` (with the checksum field zeroed) into the field at `off`. */
export function sealChecksum(region: Buffer, off: number, crc32: (b: Uint8Array) => number): void {
  region.writeUInt32LE(0, off)
  region.writeUInt32LE(crc32(region), off)
}

function corrupt(path: string, what: string, got: unknown, expected: unknown): PagedictError {
  return new PagedictError('E_CORRUPT', `${path}: corrupt table header: ${what} is ${String(got)}, expected ${String(expected)}`, {
    path,
    got,
    expected,
  })
}

/**
 * Check the first page of a table file: magic, versions, page size, flags and reserved
 * bytes. Returns the header-region length in bytes. Throws E_MAGIC / E_VERSION / E_CORRUPT.
 */
export function checkTablePrefix(page: Uint8Array, path: string): number {
  if (page.length < H_DIRECTORY_OFF || !TABLE_MAGIC.equals(page.subarray(0, 8))) {
    throw new PagedictError('E_MAGIC', `${path}: not a pagedict table (no PAGEDICT magic); build one with \`pagedict build\``, { path })
  }
  const view = Buffer.from(page.buffer, page.byteOffset, page.length)
  const readVersion = view.readUInt16LE(H_READ_VERSION_OFF)
  if (readVersion > READ_VERSION) {
    throw new PagedictError(
      'E_VERSION',
      `${path}: table format version ${readVersion} is newer than this pagedict reads (${READ_VERSION}); upgrade pagedict or rebuild the table`,
      { path, got: readVersion, expected: READ_VERSION },
    )
  }
  if (readVersion < 1) throw corrupt(path, 'read_version', readVersion, '>= 1')
  const pageSize = view.readUInt32LE(H_PAGE_SIZE_OFF)
  if (pageSize !== PAGE_SIZE) throw corrupt(path, 'page_size', pageSize, PAGE_SIZE)
  const flags = view.readUInt32LE(H_FLAGS_OFF)
  if (flags !== 0) throw corrupt(path, 'flags', flags, 0)
  const headerPages = view.readUInt32LE(H_HEADER_PAGES_OFF)
  if (headerPages < 1 || headerPages > 1 + Math.ceil((0xffff * SHARD_ENTRY_BYTES + (1 << 20)) / PAGE_SIZE)) {
    throw corrupt(path, 'header_pages', headerPages, '1 or more (and a sane size)')
  }
  return headerPages * PAGE_SIZE
}

/**
 * Decode a whole header region whose checksum the caller has already checked. Every field is
 * range-checked (each shard's areas against its file length, which the caller compares with
 * the real file) so a reader never trusts an offset it has not bounded.
 */
export function decodeTableHeader(region: Buffer, path: string): TableHeader {
  const headerBytes = region.length
  const shardCount = region.readUInt32LE(H_SHARD_COUNT_OFF)
  if (shardCount < 1 || H_DIRECTORY_OFF + shardCount * SHARD_ENTRY_BYTES > headerBytes) {
    throw corrupt(path, 'shard_count', shardCount, 'at least 1 and within the header')
  }
  if (region[H_HASH_ID_OFF] !== HASH_ID_PDHASH64) throw corrupt(path, 'hash_id', region[H_HASH_ID_OFF], HASH_ID_PDHASH64)
  const codec = region[H_CODEC_OFF]
  if (codec > CODEC_JSON) throw corrupt(path, 'value_codec', codec, '0 to 3')
  for (let i = H_RESERVED1_OFF; i < H_RESERVED1_OFF + 2; i++) if (region[i] !== 0) throw corrupt(path, 'reserved byte ' + i, region[i], 0)
  for (let i = H_RESERVED2_OFF; i < H_DIRECTORY_OFF; i++) if (region[i] !== 0) throw corrupt(path, 'reserved byte ' + i, region[i], 0)
  const bucketCount = region.readUInt32LE(H_BUCKET_COUNT_OFF)
  if (bucketCount < 1) throw corrupt(path, 'bucket_count', bucketCount, '>= 1')
  const metaOff = region.readUInt32LE(H_META_OFF_OFF)
  const metaLen = region.readUInt32LE(H_META_LEN_OFF)
  if (metaOff < H_DIRECTORY_OFF + shardCount * SHARD_ENTRY_BYTES || metaOff + metaLen > headerBytes) {
    throw corrupt(path, 'metadata range', `${metaOff}+${metaLen}`, `within ${headerBytes} header bytes`)
  }
  let metadata: unknown
  try {
    metadata = JSON.parse(region.toString('utf8', metaOff, metaOff + metaLen))
  } catch {
    throw corrupt(path, 'metadata', 'not JSON', 'a JSON object')
  }
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw corrupt(path, 'metadata', 'not a JSON object', 'a JSON object')
  const shards: ShardEntry[] = []
  let nextBucket = 0
  let keySum = 0
  for (let i = 0; i < shardCount; i++) {
    const s = decodeShardEntry(region, H_DIRECTORY_OFF + i * SHARD_ENTRY_BYTES)
    const where = `shard ${i}`
    if (s.firstBucket !== nextBucket) throw corrupt(path, `${where} first_bucket`, s.firstBucket, nextBucket)
    if (s.bucketCount < 1 || s.pageCount < s.bucketCount) throw corrupt(path, `${where} bucket/page count`, `${s.bucketCount}/${s.pageCount}`, 'pages >= buckets >= 1')
    if (s.maxSpill > MAX_SPILL_PAGES) throw corrupt(path, `${where} max_spill`, s.maxSpill, `<= ${MAX_SPILL_PAGES}`)
    if (s.dataOffset % PAGE_SIZE !== 0 || s.valueOffset < s.dataOffset + s.pageCount * PAGE_SIZE || s.valueOffset + s.valueLength > s.fileLength) {
      throw corrupt(path, `${where} data/value area`, `${s.dataOffset}/${s.valueOffset}+${s.valueLength}`, `inside ${s.fileLength} bytes`)
    }
    for (let b = S_RESERVED_OFF; b < S_NAME_OFF; b++) {
      if (region[H_DIRECTORY_OFF + i * SHARD_ENTRY_BYTES + b] !== 0) throw corrupt(path, `${where} reserved byte ${b}`, region[H_DIRECTORY_OFF + i * SHARD_ENTRY_BYTES + b], 0)
    }
    if (s.fileLength > MAX_MAPPED_BYTES) throw corrupt(path, `${where} file_length`, s.fileLength, `< 2 GiB`)
    // An inline shard's file length is the table file's: the caller compares it with the
    // real length, so a truncated file is reported as truncated, not as a bad field.
    if (s.name === '' && (shardCount !== 1 || s.dataOffset !== headerBytes)) {
      throw corrupt(path, `${where} inline layout`, `${shardCount} shards, data at ${s.dataOffset}`, `1 shard, data at ${headerBytes}`)
    }
    if (s.name !== '' && s.dataOffset !== SH_HEADER_BYTES) {
      throw corrupt(path, `${where} data_offset`, s.dataOffset, `${SH_HEADER_BYTES} (after the shard's header page)`)
    }
    if (s.name !== '' && (s.name.includes('/') || s.name.includes('\\') || s.name === '.' || s.name === '..')) {
      throw corrupt(path, `${where} name`, JSON.stringify(s.name), 'a plain file name')
    }
    nextBucket += s.bucketCount
    keySum += s.keyCount
    shards.push(s)
  }
  const keyCount = readU64(region, H_KEY_COUNT_OFF)
  if (nextBucket !== bucketCount) throw corrupt(path, 'bucket_count', bucketCount, `the shards' sum ${nextBucket}`)
  if (keySum !== keyCount) throw corrupt(path, 'key_count', keyCount, `the shards' sum ${keySum}`)
  return {
    readVersion: region.readUInt16LE(H_READ_VERSION_OFF),
    writeVersion: region.readUInt16LE(H_WRITE_VERSION_OFF),
    headerPages: headerBytes / PAGE_SIZE,
    keyCount,
    seedLow: region.readUInt32LE(H_SEED_OFF),
    seedHigh: region.readUInt32LE(H_SEED_OFF + 4),
    bucketCount,
    codec: codec as CodecId,
    buildTime: readU64(region, H_BUILD_TIME_OFF),
    buildId: Buffer.from(region.subarray(H_BUILD_ID_OFF, H_BUILD_ID_OFF + BUILD_ID_BYTES)),
    shards,
    metadata: metadata as Record<string, unknown>,
  }
}

function decodeShardEntry(buf: Buffer, at: number): ShardEntry {
  const nameBytes = buf.subarray(at + S_NAME_OFF, at + S_NAME_OFF + SHARD_NAME_BYTES)
  const nul = nameBytes.indexOf(0)
  return {
    firstBucket: buf.readUInt32LE(at + S_FIRST_BUCKET_OFF),
    bucketCount: buf.readUInt32LE(at + S_BUCKET_COUNT_OFF),
    pageCount: buf.readUInt32LE(at + S_PAGE_COUNT_OFF),
    maxSpill: buf.readUInt32LE(at + S_MAX_SPILL_OFF),
    keyCount: readU64(buf, at + S_KEY_COUNT_OFF),
    dataOffset: readU64(buf, at + S_DATA_OFF_OFF),
    valueOffset: readU64(buf, at + S_VALUE_OFF_OFF),
    valueLength: readU64(buf, at + S_VALUE_LEN_OFF),
    fileLength: readU64(buf, at + S_FILE_LEN_OFF),
    valueChecksum: buf.readUInt32LE(at + S_VALUE_CRC_OFF),
    name: nameBytes.toString('utf8', 0, nul < 0 ? SHARD_NAME_BYTES : nul),
  }
}

/** The header page of an external shard file. The checksum is left zero. */
export function encodeShardHeader(index: number, buildId: Buffer, s: ShardEntry): Buffer {
  const buf = Buffer.alloc(SH_HEADER_BYTES)
  SHARD_MAGIC.copy(buf, SH_MAGIC_OFF)
  buf.writeUInt16LE(READ_VERSION, SH_READ_VERSION_OFF)
  buf.writeUInt16LE(WRITE_VERSION, SH_WRITE_VERSION_OFF)
  buf.writeUInt32LE(PAGE_SIZE, SH_PAGE_SIZE_OFF)
  buf.writeUInt32LE(index, SH_INDEX_OFF)
  buildId.copy(buf, SH_BUILD_ID_OFF, 0, BUILD_ID_BYTES)
  buf.writeUInt32LE(s.firstBucket, SH_FIRST_BUCKET_OFF)
  buf.writeUInt32LE(s.bucketCount, SH_BUCKET_COUNT_OFF)
  buf.writeUInt32LE(s.pageCount, SH_PAGE_COUNT_OFF)
  return buf
}

/**
 * Check an external shard's header page against the table's directory entry: magic, version,
 * checksum, build id (a shard of another build is refused) and index (a swapped shard is refused).
 */
export function checkShardHeader(page: Buffer, path: string, index: number, buildId: Buffer, s: ShardEntry, crc32: (b: Uint8Array) => number): void {
  if (page.length < SH_HEADER_BYTES || !SHARD_MAGIC.equals(page.subarray(0, 8))) {
    throw new PagedictError('E_MAGIC', `${path}: not a pagedict shard file`, { path })
  }
  const readVersion = page.readUInt16LE(SH_READ_VERSION_OFF)
  if (readVersion < 1 || page.readUInt32LE(SH_PAGE_SIZE_OFF) !== PAGE_SIZE) {
    throw corrupt(path, 'shard read_version/page_size', `${readVersion}/${page.readUInt32LE(SH_PAGE_SIZE_OFF)}`, `>= 1/${PAGE_SIZE}`)
  }
  if (readVersion > READ_VERSION) {
    throw new PagedictError('E_VERSION', `${path}: shard format version ${readVersion} is newer than this pagedict reads (${READ_VERSION})`, {
      path,
      got: readVersion,
      expected: READ_VERSION,
    })
  }
  const stored = page.readUInt32LE(SH_CHECKSUM_OFF)
  const copy = Buffer.from(page.subarray(0, SH_HEADER_BYTES))
  copy.writeUInt32LE(0, SH_CHECKSUM_OFF)
  const actual = crc32(copy)
  if (stored !== actual) {
    throw new PagedictError('E_CHECKSUM', `${path}: shard header checksum is ${hex(stored)}, computed ${hex(actual)}; the shard is damaged, rebuild the table`, {
      path,
      got: stored,
      expected: actual,
    })
  }
  const gotIndex = page.readUInt32LE(SH_INDEX_OFF)
  if (!buildId.equals(page.subarray(SH_BUILD_ID_OFF, SH_BUILD_ID_OFF + BUILD_ID_BYTES)) || gotIndex !== index) {
    throw new PagedictError('E_MAGIC', `${path}: shard belongs to another build or position (index ${gotIndex}, expected ${index}); rebuild the table`, {
      path,
      got: gotIndex,
      expected: index,
    })
  }
  if (
    page.readUInt32LE(SH_FIRST_BUCKET_OFF) !== s.firstBucket ||
    page.readUInt32LE(SH_BUCKET_COUNT_OFF) !== s.bucketCount ||
    page.readUInt32LE(SH_PAGE_COUNT_OFF) !== s.pageCount
  ) {
    throw corrupt(path, 'shard geometry', 'different from the table directory', 'equal')
  }
}

export function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0')
}
