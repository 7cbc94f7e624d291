/**
 * docs/FORMAT.md against the code. The layout tables, hash and bucket vectors, varint and
 * codec examples are read from the document itself, so the two cannot drift apart. Every
 * numbered MUST rule has one test named `MUST-N: …`; the last test checks that the set of
 * tested rules is the set the document lists.
 *
 * Tables are built with the library, then copied and damaged one field at a time; a page
 * walker below parses the bytes the way the document describes, independently of the reader.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import type { RecordSource } from '../src/build/options.js'
import { buildPageFile } from '../src/build/pagefile.js'
import { buildSharded } from './helpers/sharded.js'
import { PagedictError } from '../src/errors.js'
import * as hash from '../src/format/hash.js'
import {
  BUILD_ID_BYTES,
  CODEC_JSON,
  CODEC_LIST,
  CODEC_NAMES,
  CODEC_STRING,
  type CodecId,
  DIRECTORY_BYTES_PER_RECORD,
  H_BUCKET_COUNT_OFF,
  H_BUILD_ID_OFF,
  H_BUILD_TIME_OFF,
  H_CHECKSUM_OFF,
  H_CODEC_OFF,
  H_DIRECTORY_OFF,
  H_FLAGS_OFF,
  H_HASH_ID_OFF,
  H_HEADER_PAGES_OFF,
  H_KEY_COUNT_OFF,
  H_MAGIC_OFF,
  H_META_LEN_OFF,
  H_META_OFF_OFF,
  H_PAGE_SIZE_OFF,
  H_READ_VERSION_OFF,
  H_RESERVED1_OFF,
  H_RESERVED2_OFF,
  H_SEED_OFF,
  H_SHARD_COUNT_OFF,
  H_WRITE_VERSION_OFF,
  HASH_ID_PDHASH64,
  MAX_INLINE_VALUE_BYTES,
  MAX_KEY_BYTES,
  MAX_MAPPED_BYTES,
  MAX_SPILL_PAGES,
  MAX_VALUE_BYTES,
  PAGE_CONTINUES,
  PAGE_SIZE,
  P_CHECKSUM_OFF,
  P_COUNT_OFF,
  P_FINGERPRINTS_OFF,
  P_FLAGS_OFF,
  P_HEADER_BYTES,
  P_OVERFLOW_OFF,
  P_RESERVED_OFF,
  READ_VERSION,
  SHARD_ENTRY_BYTES,
  SHARD_MAGIC,
  SHARD_NAME_BYTES,
  SH_BUCKET_COUNT_OFF,
  SH_BUILD_ID_OFF,
  SH_CHECKSUM_OFF,
  SH_FIRST_BUCKET_OFF,
  SH_HEADER_BYTES,
  SH_INDEX_OFF,
  SH_MAGIC_OFF,
  SH_PAGE_COUNT_OFF,
  SH_PAGE_SIZE_OFF,
  SH_READ_VERSION_OFF,
  SH_WRITE_VERSION_OFF,
  S_BUCKET_COUNT_OFF,
  S_DATA_OFF_OFF,
  S_FILE_LEN_OFF,
  S_FIRST_BUCKET_OFF,
  S_KEY_COUNT_OFF,
  S_MAX_SPILL_OFF,
  S_NAME_OFF,
  S_PAGE_COUNT_OFF,
  S_RESERVED_OFF,
  S_VALUE_CRC_OFF,
  S_VALUE_LEN_OFF,
  S_VALUE_OFF_OFF,
  type ShardEntry,
  TABLE_MAGIC,
  type TableHeader,
  VALUE_REF_BYTES,
  WRITE_VERSION,
  bucketOf,
  encodeTableHeader,
  fingerprintOf,
  overflowBitOf,
  readU64,
  readVarint,
  sealChecksum,
  varintEnd,
  varintSize,
  writeU64,
  writeVarint,
} from '../src/format/layout.js'
import { decodeValue, encodeValue } from '../src/format/values.js'
import { readTableHeader } from '../src/read/header.js'
import { open } from '../src/read/open.js'
import { verify } from '../src/read/verify.js'
import { rng } from './helpers/random.js'

// ---- the document -------------------------------------------------------------------------

const DOC = fs.readFileSync(new URL('../docs/FORMAT.md', import.meta.url), 'utf8')

/** The text under the heading `title` (any level), up to the next heading of that level or higher. */
function section(title: string): string {
  const lines = DOC.split('\n')
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '').trim() === title)
  if (start < 0) throw new Error(`docs/FORMAT.md has no section "${title}"`)
  const level = lines[start].indexOf(' ')
  let end = start + 1
  while (end < lines.length && !(/^#+ /.test(lines[end]) && lines[end].indexOf(' ') <= level)) end++
  return lines.slice(start + 1, end).join('\n')
}

/** The body rows of the first table in `text` whose first header cell is `firstHeader`. */
function table(text: string, firstHeader: string): string[][] {
  const lines = text.split('\n')
  const cells = (l: string): string[] => l.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim())
  const at = lines.findIndex((l) => l.trim().startsWith('|') && cells(l)[0] === firstHeader)
  if (at < 0) throw new Error(`no table headed "${firstHeader}"`)
  const rows: string[][] = []
  for (let i = at + 2; i < lines.length && lines[i].trim().startsWith('|'); i++) rows.push(cells(lines[i]))
  return rows
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '')
const hexBytes = (cell: string): Buffer => Buffer.from(unquote(cell).replace(/\s+/g, ''), 'hex')

// ---- temporary files ----------------------------------------------------------------------

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), 'pagedict-format-'))
afterAll(() => fs.rmSync(ROOT, { recursive: true, force: true }))
let dirs = 0
function freshDir(tag: string): string {
  const dir = path.join(ROOT, `${tag}-${++dirs}`)
  fs.mkdirSync(dir)
  return dir
}

// ---- fixtures ------------------------------------------------------------------------------

/** String entries with short, long (external) and edge-length values, the empty key included. */
function stringEntries(seed: number, count: number): [string, string][] {
  const next = rng(seed)
  const out: [string, string][] = []
  for (let i = 0; i < count; i++) {
    const r = next()
    const len = r < 0.02 ? 1025 + Math.floor(next() * 3000) : Math.floor(next() * next() * 600)
    out.push([`key-${i}-${Math.floor(next() * 1e6)}`, String.fromCharCode(97 + (i % 26)).repeat(len)])
  }
  out.push(['exactly-1024', 'x'.repeat(1024)], ['exactly-1025', 'y'.repeat(1025)], ['', 'the empty key'], ['empty value', ''], ['naïve ключ', 'ü'])
  return out
}

const INLINE_ENTRIES = stringEntries(7, 3000)
const SHARDED_ENTRIES = stringEntries(11, 9000)
let inline = '' // one shard, inline in the table file
let sharded = '' // several external shard files
let jsonTable = ''
let listTable = ''

beforeAll(async () => {
  inline = path.join(freshDir('inline'), 'inline.pdict')
  await build(INLINE_ENTRIES, inline, { seed: 13 })
  sharded = path.join(freshDir('sharded'), 'sharded.pdict')
  await buildSharded(SHARDED_ENTRIES, sharded, 5, 1 << 19)
  jsonTable = path.join(freshDir('json'), 'json.pdict')
  await build(
    Array.from({ length: 200 }, (_, i) => [`j${i}`, { n: i, s: 'x'.repeat(i % 50) }] as const),
    jsonTable,
    { seed: 3 },
  )
  listTable = path.join(freshDir('list'), 'list.pdict')
  await build(
    Array.from({ length: 200 }, (_, i) => [`l${i}`, ['a'.repeat(i % 7), 'b', String(i)]] as const),
    listTable,
    { seed: 3 },
  )
}, 60_000)

// ---- an independent page walker -------------------------------------------------------------

interface WalkRecord {
  key: Buffer
  shard: number
  page: number
  home: number
  index: number
  offset: number
  end: number
  keyLengthBytes: number
  tagBytes: number
  valueLength: number
  external: boolean
  ref: number
  value: Buffer
  fingerprint: number
  /** The top 4 bits of its directory offset. */
  extension: number
  hashLow: number
}
interface WalkPage {
  count: number
  flags: number
  reserved: number
  filter: Buffer
  records: WalkRecord[]
  /** Page offset just past the last record. */
  used: number
  bytes: Buffer
}
interface WalkShard {
  entry: ShardEntry
  file: string
  bytes: Buffer
  pages: WalkPage[]
}
interface Walk {
  file: string
  bytes: Buffer
  header: TableHeader
  headerBytes: number
  shards: WalkShard[]
  records: WalkRecord[]
}

function varintAt(buf: Buffer, pos: number): [number, number] {
  let value = 0
  let scale = 1
  for (let i = 0; i < 5; i++) {
    const b = buf[pos + i]
    value += (b & 0x7f) * scale
    if (b < 0x80) return [value, i + 1]
    scale *= 128
  }
  throw new Error(`bad varint at ${pos}`)
}

/** Parse a whole table as docs/FORMAT.md describes it. */
function walk(file: string): Walk {
  const bytes = fs.readFileSync(file)
  const header = readTableHeader(bytes, file, bytes.length)
  const headerBytes = bytes.readUInt32LE(H_HEADER_PAGES_OFF) * PAGE_SIZE
  const shards: WalkShard[] = []
  const records: WalkRecord[] = []
  header.shards.forEach((entry, shard) => {
    const shardFile = entry.name === '' ? file : path.join(path.dirname(file), entry.name)
    const buf = entry.name === '' ? bytes : fs.readFileSync(shardFile)
    const pages: WalkPage[] = []
    for (let p = 0; p < entry.pageCount; p++) {
      const base = entry.dataOffset + p * PAGE_SIZE
      const page = buf.subarray(base, base + PAGE_SIZE)
      const count = page.readUInt16LE(P_COUNT_OFF)
      const recs: WalkRecord[] = []
      let used = P_HEADER_BYTES + DIRECTORY_BYTES_PER_RECORD * count
      for (let i = 0; i < count; i++) {
        const stored = page.readUInt16LE(P_FINGERPRINTS_OFF + count + 2 * i)
        const offset = header.readVersion >= 2 ? stored & 0xfff : stored
        const [keyLen, kb] = varintAt(page, offset)
        const [tag, tb] = varintAt(page, offset + kb)
        const keyAt = offset + kb + tb
        const key = Buffer.from(page.subarray(keyAt, keyAt + keyLen))
        const valueLength = Math.floor(tag / 2)
        const external = tag % 2 === 1
        const ref = external ? readU64(page, keyAt + keyLen) : 0
        const end = keyAt + keyLen + (external ? VALUE_REF_BYTES : valueLength)
        const value = external
          ? Buffer.from(buf.subarray(entry.valueOffset + ref, entry.valueOffset + ref + valueLength))
          : Buffer.from(page.subarray(keyAt + keyLen, end))
        const high = hash.pdhash64(key, 0, key.length, header.seedLow, header.seedHigh)
        const low = hash.hashLow
        const r: WalkRecord = {
          key,
          shard,
          page: p,
          home: bucketOf(high, header.bucketCount) - entry.firstBucket,
          index: i,
          offset,
          end,
          keyLengthBytes: kb,
          tagBytes: tb,
          valueLength,
          external,
          ref,
          value,
          fingerprint: page[P_FINGERPRINTS_OFF + i],
          extension: stored >>> 12,
          hashLow: low,
        }
        recs.push(r)
        used = Math.max(used, end)
      }
      // Placement order, the records' order in the page: the directory is in fingerprint order.
      recs.sort((a, b) => a.offset - b.offset)
      records.push(...recs)
      pages.push({ count, flags: page[P_FLAGS_OFF], reserved: page[P_RESERVED_OFF], filter: Buffer.from(page.subarray(P_OVERFLOW_OFF, P_OVERFLOW_OFF + 8)), records: recs, used, bytes: page })
    }
    shards.push({ entry, file: shardFile, bytes: buf, pages })
  })
  return { file, bytes, header, headerBytes, shards, records }
}

const filterHas = (filter: Uint8Array, bit: number): boolean => (filter[bit >>> 3] & (1 << (bit & 7))) !== 0

// ---- damaging copies -------------------------------------------------------------------------

/** Copy a table (the table file and everything beside it) into a fresh directory. */
function copyTable(file: string): string {
  const dir = freshDir('copy')
  for (const name of fs.readdirSync(path.dirname(file))) fs.copyFileSync(path.join(path.dirname(file), name), path.join(dir, name))
  return path.join(dir, path.basename(file))
}

function edit(file: string, change: (b: Buffer) => void): void {
  const b = fs.readFileSync(file)
  change(b)
  fs.writeFileSync(file, b)
}

function sealHeader(b: Buffer): void {
  sealChecksum(b.subarray(0, b.readUInt32LE(H_HEADER_PAGES_OFF) * PAGE_SIZE), H_CHECKSUM_OFF, zlib.crc32)
}

/** A copy of `file` whose header region `change` has edited; resealed unless `reseal` is false. */
function withHeader(file: string, change: (b: Buffer) => void, reseal = true): string {
  const copy = copyTable(file)
  edit(copy, (b) => {
    change(b)
    if (reseal) sealHeader(b)
  })
  return copy
}

const entryAt = (i: number): number => H_DIRECTORY_OFF + i * SHARD_ENTRY_BYTES

/** A copy of `file` with shard `index`'s header page edited (and resealed). */
function withShardHeader(file: string, index: number, change: (b: Buffer) => void, reseal = true): string {
  const copy = copyTable(file)
  const shardFile = walk(copy).shards[index].file
  edit(shardFile, (b) => {
    change(b)
    if (reseal) sealChecksum(b.subarray(0, SH_HEADER_BYTES), SH_CHECKSUM_OFF, zlib.crc32)
  })
  return copy
}

/** A copy of `file` with page `page` of shard `shard` edited (and its checksum resealed). */
function withPage(file: string, shard: number, page: number, change: (p: Buffer) => void, reseal = true): string {
  const copy = copyTable(file)
  const s = walk(copy).shards[shard]
  edit(s.file, (b) => {
    const p = b.subarray(s.entry.dataOffset + page * PAGE_SIZE, s.entry.dataOffset + (page + 1) * PAGE_SIZE)
    change(p)
    if (reseal) sealChecksum(p, P_CHECKSUM_OFF, zlib.crc32)
  })
  return copy
}

/** The error of opening `file` and reading every shard (a shard's header is checked at its first use). */
function useError(file: string): PagedictError {
  return errorOf(() => {
    const dict = open(file)
    try {
      return [...dict.keys()]
    } finally {
      dict.close()
    }
  })
}

function errorOf(fn: () => unknown): PagedictError {
  try {
    fn()
  } catch (err) {
    if (err instanceof PagedictError) return err
    throw err
  }
  throw new Error('expected a PagedictError, nothing was thrown')
}

const openError = (file: string): PagedictError => errorOf(() => open(file).close())

function opensAndReads(file: string, key: string, value: unknown): void {
  const dict = open(file)
  try {
    expect(dict.get(key)).toEqual(value)
  } finally {
    dict.close()
  }
}

function lookup(file: string, key: Uint8Array | string): unknown {
  const dict = open(file)
  try {
    return dict.get(key)
  } finally {
    dict.close()
  }
}

/** getMany of the keys: the batched path (native/lookup.c where it is built). */
function lookupMany(file: string, keys: (Uint8Array | string)[]): unknown[] {
  const dict = open(file)
  try {
    return dict.getMany(keys)
  } finally {
    dict.close()
  }
}

/** A record on its own home page with a short key, on a page with `room` free bytes at its end. */
function homeRecord(w: Walk, room = 0, external = false): WalkRecord {
  const r = w.records.find((x) => x.page === x.home && x.key.length > 0 && x.key.length < 100 && x.external === external && PAGE_SIZE - w.shards[x.shard].pages[x.page].used >= room)
  if (r === undefined) throw new Error('fixture has no suitable record')
  return r
}

/** A record placed on a page after its home. */
function spilled(w: Walk): WalkRecord {
  const r = w.records.find((x) => x.page > x.home)
  if (r === undefined) throw new Error('fixture has no spilled record')
  return r
}

// ---- layout tables -------------------------------------------------------------------------

/** Check a layout table of the document against the constants: names, offsets, contiguity. */
function checkLayout(rows: string[][], fields: Record<string, number>, totalBytes: number): void {
  const seen = new Set<string>()
  let next = 0
  for (const [offset, size, name] of rows) {
    if (!/^\d+$/.test(offset)) continue
    seen.add(name)
    expect(fields[name], `doc field ${name}`).toBeDefined()
    expect(Number(offset), `offset of ${name}`).toBe(fields[name])
    expect(Number(offset), `${name} follows the previous field`).toBe(next)
    next = /^\d+$/.test(size) ? Number(offset) + Number(size) : Number.NaN
  }
  expect([...seen].sort()).toEqual(Object.keys(fields).sort())
  if (!Number.isNaN(next)) expect(next).toBe(totalBytes)
}

describe('docs/FORMAT.md layout tables match src/format/layout.ts', () => {
  it('table header', () => {
    const rows = table(section('Table header'), 'Offset')
    checkLayout(
      rows,
      {
        magic: H_MAGIC_OFF,
        read_version: H_READ_VERSION_OFF,
        write_version: H_WRITE_VERSION_OFF,
        page_size: H_PAGE_SIZE_OFF,
        flags: H_FLAGS_OFF,
        header_checksum: H_CHECKSUM_OFF,
        header_pages: H_HEADER_PAGES_OFF,
        shard_count: H_SHARD_COUNT_OFF,
        key_count: H_KEY_COUNT_OFF,
        seed: H_SEED_OFF,
        bucket_count: H_BUCKET_COUNT_OFF,
        value_codec: H_CODEC_OFF,
        hash_id: H_HASH_ID_OFF,
        reserved1: H_RESERVED1_OFF,
        build_time: H_BUILD_TIME_OFF,
        build_id: H_BUILD_ID_OFF,
        meta_offset: H_META_OFF_OFF,
        meta_length: H_META_LEN_OFF,
        reserved2: H_RESERVED2_OFF,
        directory: H_DIRECTORY_OFF,
      },
      Number.NaN,
    )
    expect(rows.find((r) => r[2] === 'build_id')?.[1]).toBe(String(BUILD_ID_BYTES))
    expect(rows.find((r) => r[2] === 'directory')?.[1]).toBe(`${SHARD_ENTRY_BYTES} × shard_count`)
    expect(hexBytes(rows[0][3].split(',')[0]).equals(TABLE_MAGIC)).toBe(true)
    expect(rows.find((r) => r[2] === 'read_version')?.[3]).toMatch(new RegExp(`^${READ_VERSION}\\.`))
    expect(rows.find((r) => r[2] === 'write_version')?.[3]).toMatch(new RegExp(`^${WRITE_VERSION}\\.`))
    expect(rows.find((r) => r[2] === 'hash_id')?.[3]).toMatch(new RegExp(`^${HASH_ID_PDHASH64} = pdhash64`))
    expect(rows.find((r) => r[2] === 'page_size')?.[3]).toMatch(new RegExp(`^${PAGE_SIZE} `))
  })

  it('shard directory entry', () => {
    const rows = table(section('Shard directory entry'), 'Offset')
    checkLayout(
      rows,
      {
        first_bucket: S_FIRST_BUCKET_OFF,
        bucket_count: S_BUCKET_COUNT_OFF,
        page_count: S_PAGE_COUNT_OFF,
        max_spill: S_MAX_SPILL_OFF,
        key_count: S_KEY_COUNT_OFF,
        data_offset: S_DATA_OFF_OFF,
        value_offset: S_VALUE_OFF_OFF,
        value_length: S_VALUE_LEN_OFF,
        file_length: S_FILE_LEN_OFF,
        value_checksum: S_VALUE_CRC_OFF,
        reserved: S_RESERVED_OFF,
        name: S_NAME_OFF,
      },
      SHARD_ENTRY_BYTES,
    )
    expect(rows.find((r) => r[2] === 'name')?.[1]).toBe(String(SHARD_NAME_BYTES))
    expect(section('Shard directory entry')).toContain(`Entry *i* is ${SHARD_ENTRY_BYTES} bytes at byte \`${H_DIRECTORY_OFF} + ${SHARD_ENTRY_BYTES} × i\``)
  })

  it('shard file header', () => {
    const rows = table(section('Shard file header'), 'Offset')
    checkLayout(
      rows,
      {
        magic: SH_MAGIC_OFF,
        read_version: SH_READ_VERSION_OFF,
        write_version: SH_WRITE_VERSION_OFF,
        page_size: SH_PAGE_SIZE_OFF,
        index: SH_INDEX_OFF,
        checksum: SH_CHECKSUM_OFF,
        build_id: SH_BUILD_ID_OFF,
        first_bucket: SH_FIRST_BUCKET_OFF,
        bucket_count: SH_BUCKET_COUNT_OFF,
        page_count: SH_PAGE_COUNT_OFF,
        reserved: SH_PAGE_COUNT_OFF + 4,
      },
      SH_HEADER_BYTES,
    )
    expect(hexBytes(rows[0][3].split(',')[0]).equals(SHARD_MAGIC)).toBe(true)
  })

  it('data page header', () => {
    const rows = table(section('Data pages'), 'Offset')
    const fixed = rows.filter((r) => /^\d+$/.test(r[0]))
    checkLayout(
      fixed,
      { count: P_COUNT_OFF, flags: P_FLAGS_OFF, reserved: P_RESERVED_OFF, checksum: P_CHECKSUM_OFF, overflow_filter: P_OVERFLOW_OFF, fingerprints: P_FINGERPRINTS_OFF },
      Number.NaN,
    )
    expect(P_FINGERPRINTS_OFF).toBe(P_HEADER_BYTES)
    expect(rows.map((r) => r[0])).toEqual(['0', '2', '3', '4', '8', '16', '16 + count', '16 + 3 × count'])
    expect(rows.find((r) => r[2] === 'flags')?.[3]).toContain(`bit 0 = CONTINUES`)
    expect(PAGE_CONTINUES).toBe(1)
    expect(DIRECTORY_BYTES_PER_RECORD).toBe(3)
    expect(VALUE_REF_BYTES).toBe(8)
  })

  it('limits', () => {
    const rows = table(section('Limits'), 'Limit')
    const limit = (name: string): string => rows.find((r) => r[0] === name)?.[1] ?? ''
    expect(limit('key length')).toBe(`0 … ${MAX_KEY_BYTES} bytes`)
    expect(limit('inline value')).toBe(`≤ ${MAX_INLINE_VALUE_BYTES} bytes`)
    expect(limit('value length')).toBe(`≤ ${MAX_VALUE_BYTES.toLocaleString('en-US')} bytes (256 MiB)`)
    expect(limit('max_spill')).toBe(`≤ ${MAX_SPILL_PAGES} pages`)
    expect(MAX_MAPPED_BYTES).toBe(2 ** 31 - 1)
    expect(limit('records per page')).toBe(`≤ ${Math.floor((PAGE_SIZE - P_HEADER_BYTES) / 5)}`)
    // The largest record (longest key, longest inline value) fits an empty page.
    const largest = DIRECTORY_BYTES_PER_RECORD + varintSize(MAX_KEY_BYTES) + varintSize(MAX_INLINE_VALUE_BYTES * 2) + MAX_KEY_BYTES + MAX_INLINE_VALUE_BYTES
    expect(limit('largest record on a page')).toBe(`${largest} bytes`)
    expect(largest).toBeLessThanOrEqual(PAGE_SIZE - P_HEADER_BYTES)
    expect(varintSize(MAX_VALUE_BYTES * 2 + 1)).toBe(5)
    expect(limit('pages per shard')).toBe(`≤ ${Math.floor((MAX_MAPPED_BYTES - SH_HEADER_BYTES) / PAGE_SIZE).toLocaleString('en-US')} data pages`)
    expect(limit('header region')).toBe(`≤ ${1 + Math.ceil((0xffff * SHARD_ENTRY_BYTES + (1 << 20)) / PAGE_SIZE)} pages`)
  })
})

// ---- hashing ------------------------------------------------------------------------------

function vectorKey(cell: string): Buffer {
  const text = unquote(cell)
  const seq = /^seq\((\d+)\)$/.exec(text)
  if (seq) return Buffer.from(Array.from({ length: Number(seq[1]) }, (_, i) => i & 0xff))
  return Buffer.from(JSON.parse(text) as string, 'utf8')
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0')

describe('pdhash64', () => {
  const rows = table(section('Test vectors'), 'Key')

  it('reproduces every test vector in docs/FORMAT.md', () => {
    expect(rows.length).toBeGreaterThanOrEqual(18)
    for (const [keyCell, bytes, seedCell, high, low] of rows) {
      const key = vectorKey(keyCell)
      expect(key.length, keyCell).toBe(Number(bytes))
      const seed = BigInt(unquote(seedCell))
      const seedLow = Number(seed & 0xffffffffn)
      const seedHigh = Number(seed >> 32n)
      const got = hash.pdhash64(key, 0, key.length, seedLow, seedHigh)
      expect(`${keyCell} ${seedCell} ${hex8(got)} ${hex8(hash.hashLow)}`).toBe(`${keyCell} ${seedCell} ${unquote(high)} ${unquote(low)}`)
    }
  })

  it('hashes a range of a larger buffer as it hashes a copy of the range', () => {
    const next = rng(1)
    const big = Buffer.from(Array.from({ length: 2000 }, () => Math.floor(next() * 256)))
    for (const [start, end] of [[0, 0], [3, 4], [5, 8], [7, 30], [1, 1999], [999, 2000]]) {
      const a = hash.pdhash64(big, start, end, 0x89abcdef, 0x01234567)
      const aLow = hash.hashLow
      const copy = Buffer.from(big.subarray(start, end))
      expect(hash.pdhash64(copy, 0, copy.length, 0x89abcdef, 0x01234567)).toBe(a)
      expect(hash.hashLow).toBe(aLow)
    }
  })

  const python = spawnSync('python3', ['--version']).status === 0
  it.skipIf(!python)("the document's Python reference reproduces the same vectors", () => {
    const code = /```python\n([\s\S]*?)```/.exec(section('Hashing: pdhash64'))?.[1]
    expect(code).toBeDefined()
    const cases = rows.map(([keyCell, , seedCell]) => `(bytes.fromhex('${vectorKey(keyCell).toString('hex')}'), ${unquote(seedCell)})`)
    const program = `${code}\nfor k, s in [${cases.join(', ')}]:\n    h, l = pdhash64(k, s)\n    print(f'{h:08x} {l:08x}')\n`
    const run = spawnSync('python3', ['-c', program], { encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.stdout.trim().split('\n')).toEqual(rows.map((r) => `${unquote(r[3])} ${unquote(r[4])}`))
  })
})

describe('from hash to page', () => {
  const exact = (h: number, b: number): number => Number((BigInt(h) * BigInt(b)) >> 32n)

  it('bucketOf reproduces the vectors in docs/FORMAT.md', () => {
    const rows = table(section('From hash to page'), 'hashHigh')
    expect(rows.length).toBeGreaterThanOrEqual(10)
    for (const [h, b, want] of rows) {
      const got = bucketOf(Number(unquote(h)), Number(unquote(b)))
      expect(got, `${h} × ${b}`).toBe(Number(unquote(want)))
      expect(got).toBe(exact(Number(unquote(h)), Number(unquote(b))))
    }
  })

  it('bucketOf is exact around the 2^21 boundary and at the largest counts (BigInt reference)', () => {
    const next = rng(21)
    const counts = [1, 2, 3, 0x1fffff, 0x200000, 0x200001, 0x200002, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
    for (let i = 0; i < 40; i++) counts.push(0x200000 + Math.floor(next() * (2 ** 32 - 0x200000)))
    const M = 2n ** 32n
    for (const b of counts) {
      const highs = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
      if (b % 2 === 1) {
        // hashHigh × b ≡ −1 (mod 2^32): the product sits just below a multiple of 2^32, where
        // a rounded double product lands on the wrong side.
        let inv = 1n
        for (let k = 0; k < 6; k++) inv = (inv * (2n - BigInt(b) * inv)) % M
        highs.push(Number((M - ((inv + M) % M)) % M))
      }
      for (let i = 0; i < 200; i++) highs.push(Math.floor(next() * 2 ** 32))
      for (const h of highs) expect(bucketOf(h, b), `${h} × ${b}`).toBe(exact(h, b))
    }
  })

  it('bucketOf is monotonic in hashHigh and covers every bucket', () => {
    for (const b of [1, 7, 0x200001, 0xfffffffb]) {
      expect(bucketOf(0, b)).toBe(0)
      expect(bucketOf(0xffffffff, b)).toBe(b - 1)
      let prev = 0
      for (let h = 0; h < 2 ** 32; h += 0x01000193) {
        const got = bucketOf(h, b)
        expect(got).toBeGreaterThanOrEqual(prev)
        prev = got
      }
    }
  })

  it('fingerprint and overflow bit are the documented hashLow bits', () => {
    for (const low of [0, 0xffffffff, 0x12345678, 0xabcdef01, 0x003f0000, 0x00400000]) {
      expect(fingerprintOf(low)).toBe(low >>> 24)
      expect(overflowBitOf(low)).toBe((low >>> 16) & 63)
    }
    const rows = table(section('From hash to page'), 'Quantity')
    expect(rows.find((r) => r[0] === 'fingerprint')?.[1]).toBe('`hashLow >> 24` (bits 24–31)')
    expect(rows.find((r) => r[0] === 'overflow bit')?.[1]).toBe('`(hashLow >> 16) & 63` (bits 16–21)')
  })
})

// ---- varints, u64, codecs, checksums ----------------------------------------------------------

describe('varints', () => {
  it('encode as the examples in docs/FORMAT.md', () => {
    const rows = table(section('Varints'), 'Value')
    expect(rows.length).toBeGreaterThanOrEqual(8)
    for (const [value, bytes] of rows) {
      const n = Number(value)
      const want = hexBytes(bytes)
      const buf = Buffer.alloc(8)
      expect(writeVarint(buf, 0, n), value).toBe(want.length)
      expect(buf.subarray(0, want.length).equals(want), value).toBe(true)
      expect(varintSize(n)).toBe(want.length)
      expect(readVarint(want, 0, want.length)).toBe(n)
      expect(varintEnd).toBe(want.length)
    }
  })

  it('round-trip every size class and random values below 2^32, at any position', () => {
    const next = rng(99)
    const values = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 2 ** 32 - 1]
    for (let i = 0; i < 2000; i++) values.push(Math.floor(next() * 2 ** (1 + Math.floor(next() * 32))))
    const buf = Buffer.alloc(16)
    for (const n of values) {
      const at = n % 7
      const end = writeVarint(buf, at, n)
      expect(end - at).toBe(varintSize(n))
      expect(end - at).toBeLessThanOrEqual(5)
      expect(readVarint(buf, at, end)).toBe(n)
      expect(varintEnd).toBe(end)
    }
  })

  it('reject a sixth byte, a truncated varint and one that runs past `end`', () => {
    expect(readVarint(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0, 6)).toBe(-1)
    expect(readVarint(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x00]), 0, 6)).toBe(-1)
    expect(readVarint(Buffer.from([0x80, 0x80]), 0, 2)).toBe(-1)
    expect(readVarint(Buffer.from([0xac, 0x02]), 0, 1)).toBe(-1)
    expect(readVarint(Buffer.alloc(0), 0, 0)).toBe(-1)
    // What a reader accepts though pagedict never writes it (docs: "Varints").
    expect(readVarint(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), 0, 5)).toBe(2 ** 35 - 1)
    expect(readVarint(Buffer.from([0x80, 0x00]), 0, 2)).toBe(0)
  })
})

describe('u64 fields, codecs and checksums', () => {
  it('u64 round-trips as two u32 halves, low first, below 2^53', () => {
    const buf = Buffer.alloc(8)
    for (const n of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 53 - 1, 1234567890123]) {
      writeU64(buf, 0, n)
      expect(buf.readUInt32LE(0)).toBe(n % 2 ** 32)
      expect(buf.readUInt32LE(4)).toBe(Math.floor(n / 2 ** 32))
      expect(readU64(buf, 0)).toBe(n)
    }
  })

  it('value codecs encode as the examples in docs/FORMAT.md', () => {
    const ids = table(section('Value codecs'), 'Id')
    expect(ids.map((r) => [Number(r[0]), r[1]])).toEqual(CODEC_NAMES.map((n, i) => [i, n]))
    const rows = table(section('Value codecs'), 'Codec')
    expect(rows.length).toBeGreaterThanOrEqual(6)
    for (const [name, valueCell, bytesCell] of rows) {
      const codec = CODEC_NAMES.indexOf(name as (typeof CODEC_NAMES)[number]) as CodecId
      expect(codec).toBeGreaterThanOrEqual(0)
      const value = JSON.parse(unquote(valueCell)) as unknown
      const want = bytesCell === '(none)' ? Buffer.alloc(0) : hexBytes(bytesCell)
      const got = encodeValue(codec, value)
      expect(got.toString('hex'), `${name} ${valueCell}`).toBe(want.toString('hex'))
      expect(decodeValue(codec, got, 0, got.length)).toEqual(value)
    }
  })

  it('checksums are CRC-32 (IEEE) as zlib.crc32, with the check value in docs/FORMAT.md', () => {
    const m = /CRC-32 of the ASCII `123456789` is `([0-9a-f]{8})`/.exec(section('Checksums'))
    expect(m?.[1]).toBe(hex8(zlib.crc32(Buffer.from('123456789'))))
    expect(m?.[1]).toBe('cbf43926')
  })
})

describe('header encode and decode', () => {
  function header(shards: ShardEntry[], metadata: Record<string, unknown> = { a: 1, text: 'é' }): TableHeader {
    return {
      readVersion: READ_VERSION,
      writeVersion: WRITE_VERSION,
      headerPages: 2,
      keyCount: shards.reduce((n, s) => n + s.keyCount, 0),
      seedLow: 0x89abcdef,
      seedHigh: 0x01234567,
      bucketCount: shards.reduce((n, s) => n + s.bucketCount, 0),
      codec: CODEC_LIST,
      buildTime: 1_700_000_000_123,
      buildId: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
      shards,
      metadata,
    }
  }
  const shard = (firstBucket: number, bucketCount: number, name: string, keyCount: number): ShardEntry => ({
    firstBucket,
    bucketCount,
    pageCount: bucketCount + 3,
    maxSpill: 3,
    keyCount,
    dataOffset: 4096,
    valueOffset: 4096 + (bucketCount + 3) * 4096,
    valueLength: 77,
    fileLength: 4096 + (bucketCount + 3) * 4096 + 77,
    valueChecksum: 0xdeadbeef,
    name,
  })

  it('round-trips a header with external shards', () => {
    const h = header([shard(0, 10, 'a.0.pdshard', 2 ** 40), shard(10, 5, 'x'.repeat(SHARD_NAME_BYTES), 3)])
    const region = encodeTableHeader(h)
    expect(region.length).toBe(2 * PAGE_SIZE)
    sealChecksum(region, H_CHECKSUM_OFF, zlib.crc32)
    expect(readTableHeader(region, 'mem', region.length)).toEqual(h)
  })

  it('round-trips a header with one inline shard', () => {
    const s = shard(0, 4, '', 9)
    const h = header([{ ...s, dataOffset: 2 * PAGE_SIZE, valueOffset: 6 * PAGE_SIZE + 3 * PAGE_SIZE, fileLength: 9 * PAGE_SIZE + 77 }])
    const region = encodeTableHeader(h)
    sealChecksum(region, H_CHECKSUM_OFF, zlib.crc32)
    expect(readTableHeader(region, 'mem', 9 * PAGE_SIZE + 77)).toEqual(h)
  })

  it('writes the documented bytes for the fixed fields', () => {
    const region = encodeTableHeader(header([shard(0, 1, 'n', 1)]))
    expect(region.subarray(0, 8).toString('latin1')).toBe('PAGEDICT')
    expect(region.readUInt16LE(8)).toBe(READ_VERSION)
    expect(region.readUInt16LE(10)).toBe(WRITE_VERSION)
    expect(region.readUInt32LE(12)).toBe(4096)
    expect(region.readUInt32LE(40)).toBe(0x89abcdef)
    expect(region.readUInt32LE(44)).toBe(0x01234567)
    expect(region[53]).toBe(HASH_ID_PDHASH64)
    expect(region.readUInt32LE(80)).toBe(128 + 128)
    expect(JSON.parse(region.toString('utf8', 256, 256 + region.readUInt32LE(84)))).toEqual({ a: 1, text: 'é' })
  })
})

// ---- the MUST rules ---------------------------------------------------------------------------

const tested = new Set<number>()
function must(n: number, title: string, fn: () => void | Promise<void>, timeout?: number): void {
  tested.add(n)
  it(`MUST-${n}: ${title}`, fn, timeout)
}

describe('MUST invariants (docs/FORMAT.md)', () => {
  must(1, 'the table file starts with "PAGEDICT"', () => {
    expect(openError(withHeader(inline, (b) => (b[0] = 0x70), false)).code).toBe('E_MAGIC')
    expect(openError(withHeader(sharded, (b) => b.write('PAGEDICS', 0, 'latin1'), false)).code).toBe('E_MAGIC')
    const short = path.join(freshDir('short'), 't.pdict')
    fs.writeFileSync(short, 'PAGEDIC')
    expect(openError(short).code).toBe('E_MAGIC')
    expect(walk(inline).bytes.subarray(0, 8).toString('latin1')).toBe('PAGEDICT')
  })

  must(2, 'a newer read_version is refused, read_version 0 is corrupt, write_version is not checked', () => {
    const newer = openError(withHeader(inline, (b) => b.writeUInt16LE(READ_VERSION + 1, H_READ_VERSION_OFF), false))
    expect(newer.code).toBe('E_VERSION')
    expect(newer.got).toBe(READ_VERSION + 1)
    expect(newer.expected).toBe(READ_VERSION)
    expect(openError(withHeader(inline, (b) => b.writeUInt16LE(0xffff, H_READ_VERSION_OFF))).code).toBe('E_VERSION')
    expect(openError(withHeader(inline, (b) => b.writeUInt16LE(0, H_READ_VERSION_OFF))).code).toBe('E_CORRUPT')
    opensAndReads(withHeader(inline, (b) => b.writeUInt16LE(WRITE_VERSION + 7, H_WRITE_VERSION_OFF)), 'exactly-1024', 'x'.repeat(1024))
  })

  must(3, 'page_size is 4096', () => {
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(8192, H_PAGE_SIZE_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(0, H_PAGE_SIZE_OFF))).code).toBe('E_CORRUPT')
  })

  must(4, 'flags are zero', () => {
    for (const flags of [1, 0x80000000]) expect(openError(withHeader(inline, (b) => b.writeUInt32LE(flags, H_FLAGS_OFF))).code).toBe('E_CORRUPT')
  })

  must(5, 'reserved header and directory-entry bytes are zero', () => {
    const w = walk(sharded)
    for (const at of [H_RESERVED1_OFF, H_RESERVED1_OFF + 1, H_RESERVED2_OFF, H_DIRECTORY_OFF - 1, entryAt(0) + S_RESERVED_OFF, entryAt(w.shards.length - 1) + S_NAME_OFF - 1]) {
      expect(openError(withHeader(sharded, (b) => (b[at] = 1))).code, `byte ${at}`).toBe('E_CORRUPT')
    }
    expect(openError(withHeader(inline, (b) => (b[entryAt(0) + S_RESERVED_OFF + 2] = 0x40))).code).toBe('E_CORRUPT')
    for (const x of [walk(inline), w]) {
      expect(x.bytes.subarray(H_RESERVED1_OFF, H_RESERVED1_OFF + 2).every((v) => v === 0)).toBe(true)
      expect(x.bytes.subarray(H_RESERVED2_OFF, H_DIRECTORY_OFF).every((v) => v === 0)).toBe(true)
    }
  })

  must(6, 'header_pages is 1 … 2305 and the file holds the header region', () => {
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(0, H_HEADER_PAGES_OFF), false)).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(2306, H_HEADER_PAGES_OFF), false)).code).toBe('E_CORRUPT')
    expect(walk(sharded).bytes.length).toBe(PAGE_SIZE) // its header region is one page ...
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(2, H_HEADER_PAGES_OFF), false)).code).toBe('E_TRUNCATED') // ... so two do not fit
    const copy = copyTable(inline)
    fs.truncateSync(copy, 100)
    expect(openError(copy).code).toBe('E_TRUNCATED')
  })

  must(7, 'header_checksum is the CRC-32 of the header region with bytes 20–23 zero', () => {
    const w = walk(sharded)
    const metaEnd = w.bytes.readUInt32LE(H_META_OFF_OFF) + w.bytes.readUInt32LE(H_META_LEN_OFF)
    for (const at of [H_BUILD_TIME_OFF, H_SEED_OFF, metaEnd - 2, PAGE_SIZE - 1]) {
      expect(openError(withHeader(sharded, (b) => (b[at] ^= 0x20), false)).code, `byte ${at}`).toBe('E_CHECKSUM')
    }
    expect(openError(withHeader(inline, (b) => (b[H_CHECKSUM_OFF] ^= 1), false)).code).toBe('E_CHECKSUM')
    for (const x of [walk(inline), w]) {
      const region = Buffer.from(x.bytes.subarray(0, x.headerBytes))
      const stored = region.readUInt32LE(H_CHECKSUM_OFF)
      region.writeUInt32LE(0, H_CHECKSUM_OFF)
      expect(zlib.crc32(region)).toBe(stored)
    }
  })

  must(8, 'hash_id is 1 and value_codec is at most 3', () => {
    expect(openError(withHeader(inline, (b) => (b[H_HASH_ID_OFF] = 2))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => (b[H_HASH_ID_OFF] = 0))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => (b[H_CODEC_OFF] = 4))).code).toBe('E_CORRUPT')
    expect(walk(inline).bytes[H_CODEC_OFF]).toBe(CODEC_STRING)
    expect(walk(jsonTable).bytes[H_CODEC_OFF]).toBe(CODEC_JSON)
    expect(walk(listTable).bytes[H_CODEC_OFF]).toBe(CODEC_LIST)
  })

  must(9, 'the directory and the JSON metadata lie in the header region, in that order', () => {
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(0, H_SHARD_COUNT_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(32, H_SHARD_COUNT_OFF))).code).toBe('E_CORRUPT') // 128 + 32 × 128 > 4096
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(H_DIRECTORY_OFF + 10, H_META_OFF_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(PAGE_SIZE * 64, H_META_LEN_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => (b[b.readUInt32LE(H_META_OFF_OFF)] = 0x7d))).code).toBe('E_CORRUPT') // "}..." is not JSON
    for (const x of [walk(inline), walk(sharded)]) {
      const metaOff = x.bytes.readUInt32LE(H_META_OFF_OFF)
      expect(metaOff).toBe(H_DIRECTORY_OFF + x.header.shards.length * SHARD_ENTRY_BYTES)
      expect(metaOff + x.bytes.readUInt32LE(H_META_LEN_OFF)).toBeLessThanOrEqual(x.headerBytes)
      expect(typeof x.header.metadata).toBe('object')
    }
  })

  must(10, 'the shards partition the buckets in order from 0', () => {
    const w = walk(sharded)
    expect(w.shards.length).toBeGreaterThanOrEqual(3)
    let next = 0
    for (const s of w.shards) {
      expect(s.entry.firstBucket).toBe(next)
      expect(s.entry.bucketCount).toBeGreaterThanOrEqual(1)
      next += s.entry.bucketCount
    }
    expect(next).toBe(w.header.bucketCount)
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(b.readUInt32LE(entryAt(1) + S_FIRST_BUCKET_OFF) + 1, entryAt(1) + S_FIRST_BUCKET_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(1, entryAt(0) + S_FIRST_BUCKET_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(sharded, (b) => b.writeUInt32LE(b.readUInt32LE(H_BUCKET_COUNT_OFF) + 1, H_BUCKET_COUNT_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(0, H_BUCKET_COUNT_OFF))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(0, entryAt(0) + S_BUCKET_COUNT_OFF))).code).toBe('E_CORRUPT')
  })

  must(11, 'page_count >= bucket_count', () => {
    const w = walk(inline)
    expect(w.shards[0].entry.pageCount).toBeGreaterThan(w.shards[0].entry.bucketCount) // the fixture has tail pages
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(b.readUInt32LE(entryAt(0) + S_BUCKET_COUNT_OFF) - 1, entryAt(0) + S_PAGE_COUNT_OFF))).code).toBe('E_CORRUPT')
    for (const x of [w, walk(sharded)]) for (const s of x.shards) expect(s.entry.pageCount).toBeGreaterThanOrEqual(s.entry.bucketCount)
  })

  must(12, 'max_spill <= 32', () => {
    expect(openError(withHeader(inline, (b) => b.writeUInt32LE(MAX_SPILL_PAGES + 1, entryAt(0) + S_MAX_SPILL_OFF))).code).toBe('E_CORRUPT')
    opensAndReads(withHeader(inline, (b) => b.writeUInt32LE(MAX_SPILL_PAGES, entryAt(0) + S_MAX_SPILL_OFF)), 'exactly-1025', 'y'.repeat(1025))
  })

  must(13, 'data and value areas are aligned and inside file_length < 2 GiB', () => {
    const at = entryAt(1)
    const cases: [string, (b: Buffer) => void][] = [
      ['data_offset unaligned', (b) => writeU64(b, at + S_DATA_OFF_OFF, PAGE_SIZE + 1)],
      ['value area over the pages', (b) => writeU64(b, at + S_VALUE_OFF_OFF, readU64(b, at + S_VALUE_OFF_OFF) - 1)],
      ['value area past the file', (b) => writeU64(b, at + S_VALUE_LEN_OFF, readU64(b, at + S_VALUE_LEN_OFF) + 1)],
      ['file_length 2^31', (b) => writeU64(b, at + S_FILE_LEN_OFF, 2 ** 31)],
    ]
    for (const [what, change] of cases) expect(openError(withHeader(sharded, change)).code, what).toBe('E_CORRUPT')
  })

  must(14, "the header's key_count is the sum of the shards'", () => {
    expect(openError(withHeader(sharded, (b) => writeU64(b, H_KEY_COUNT_OFF, readU64(b, H_KEY_COUNT_OFF) + 1))).code).toBe('E_CORRUPT')
    expect(openError(withHeader(sharded, (b) => writeU64(b, entryAt(2) + S_KEY_COUNT_OFF, readU64(b, entryAt(2) + S_KEY_COUNT_OFF) - 1))).code).toBe('E_CORRUPT')
    const w = walk(sharded)
    expect(w.header.keyCount).toBe(SHARDED_ENTRIES.length)
    expect(w.shards.reduce((n, s) => n + s.entry.keyCount, 0)).toBe(w.header.keyCount)
  })

  must(15, 'inline only alone and right after the header; every file is exactly as long as the header says', () => {
    const wi = walk(inline)
    expect(wi.shards[0].entry.name).toBe('')
    expect(wi.shards[0].entry.dataOffset).toBe(wi.headerBytes)
    expect(wi.shards[0].entry.fileLength).toBe(wi.bytes.length)
    // inline table file: shorter, longer, data elsewhere
    let copy = copyTable(inline)
    fs.truncateSync(copy, wi.bytes.length - 1)
    expect(openError(copy).code).toBe('E_TRUNCATED')
    copy = copyTable(inline)
    fs.appendFileSync(copy, Buffer.alloc(1))
    expect(openError(copy).code).toBe('E_CORRUPT')
    expect(openError(withHeader(inline, (b) => writeU64(b, entryAt(0) + S_DATA_OFF_OFF, 0))).code).toBe('E_CORRUPT')
    // an empty name among several shards
    expect(openError(withHeader(sharded, (b) => b.fill(0, entryAt(1) + S_NAME_OFF, entryAt(1) + S_NAME_OFF + SHARD_NAME_BYTES))).code).toBe('E_CORRUPT')
    // external shards: the table file is the header region alone; shard files exact
    const ws = walk(sharded)
    expect(ws.bytes.length).toBe(ws.headerBytes)
    copy = copyTable(sharded)
    fs.appendFileSync(copy, Buffer.alloc(PAGE_SIZE))
    expect(openError(copy).code).toBe('E_CORRUPT')
    for (const s of ws.shards) expect(fs.statSync(s.file).size).toBe(s.entry.fileLength)
    copy = copyTable(sharded)
    fs.rmSync(path.join(path.dirname(copy), ws.shards[1].entry.name))
    expect(openError(copy).code).toBe('E_TRUNCATED')
    copy = copyTable(sharded)
    fs.truncateSync(path.join(path.dirname(copy), ws.shards[2].entry.name), ws.shards[2].entry.fileLength - 1)
    expect(openError(copy).code).toBe('E_TRUNCATED')
    copy = copyTable(sharded)
    fs.appendFileSync(path.join(path.dirname(copy), ws.shards[0].entry.name), Buffer.alloc(1))
    expect(openError(copy).code).toBe('E_CORRUPT')
  })

  must(16, 'an external shard name is a plain file name', () => {
    for (const name of ['../x.pdshard', 'a/b', 'a\\b', '.', '..']) {
      const copy = withHeader(sharded, (b) => {
        b.fill(0, entryAt(0) + S_NAME_OFF, entryAt(0) + S_NAME_OFF + SHARD_NAME_BYTES)
        b.write(name, entryAt(0) + S_NAME_OFF, 'utf8')
      })
      expect(openError(copy).code, name).toBe('E_CORRUPT')
    }
    for (const s of walk(sharded).shards) {
      expect(Buffer.byteLength(s.entry.name)).toBeLessThanOrEqual(SHARD_NAME_BYTES)
      expect(path.basename(s.entry.name)).toBe(s.entry.name)
    }
  })

  must(17, 'a shard file starts with "PDSHARD\\0" and its read_version is not newer', () => {
    // open() reads no shard header: the first use of the shard does, before using it.
    const bad = withShardHeader(sharded, 1, (b) => (b[7] = 0x21))
    open(bad).close()
    expect(useError(withShardHeader(sharded, 1, (b) => (b[7] = 0x21))).code).toBe('E_MAGIC')
    const newer = useError(withShardHeader(sharded, 2, (b) => b.writeUInt16LE(READ_VERSION + 1, SH_READ_VERSION_OFF)))
    expect(newer.code).toBe('E_VERSION')
    expect(newer.got).toBe(READ_VERSION + 1)
    for (const s of walk(sharded).shards) {
      expect(s.bytes.subarray(0, 8).equals(SHARD_MAGIC)).toBe(true)
      expect(s.bytes.readUInt16LE(SH_READ_VERSION_OFF)).toBe(READ_VERSION)
      expect(s.bytes.readUInt16LE(SH_WRITE_VERSION_OFF)).toBe(WRITE_VERSION)
      expect(s.bytes.readUInt32LE(SH_PAGE_SIZE_OFF)).toBe(PAGE_SIZE)
    }
  })

  must(18, 'a shard header checksum covers its whole page 0', () => {
    for (const at of [SH_BUILD_ID_OFF, SH_PAGE_COUNT_OFF + 4, PAGE_SIZE - 1]) {
      expect(useError(withShardHeader(sharded, 0, (b) => (b[at] ^= 1), false)).code, `byte ${at}`).toBe('E_CHECKSUM')
    }
    for (const s of walk(sharded).shards) {
      const page = Buffer.from(s.bytes.subarray(0, SH_HEADER_BYTES))
      const stored = page.readUInt32LE(SH_CHECKSUM_OFF)
      page.writeUInt32LE(0, SH_CHECKSUM_OFF)
      expect(zlib.crc32(page)).toBe(stored)
    }
  })

  must(19, "a shard belongs to this build (build_id) and this position (index)", () => {
    expect(useError(withShardHeader(sharded, 1, (b) => (b[SH_BUILD_ID_OFF + 15] ^= 0xff))).code).toBe('E_MAGIC')
    expect(useError(withShardHeader(sharded, 1, (b) => b.writeUInt32LE(0, SH_INDEX_OFF))).code).toBe('E_MAGIC')
    // A shard of another build under the right name is refused too.
    const w = walk(sharded)
    const copy = copyTable(sharded)
    const victim = path.join(path.dirname(copy), w.shards[0].entry.name)
    edit(victim, (b) => {
      b[SH_BUILD_ID_OFF] ^= 1
      sealChecksum(b.subarray(0, SH_HEADER_BYTES), SH_CHECKSUM_OFF, zlib.crc32)
    })
    expect(useError(copy).code).toBe('E_MAGIC')
    // A lookup into that shard meets the check before reading a page; one into another does not.
    const inShard = (i: number): Buffer => w.records.find((r) => r.shard === i)!.key
    expect(errorOf(() => lookup(copy, inShard(0))).code).toBe('E_MAGIC')
    expect(lookup(copy, inShard(1))).toEqual(lookup(sharded, inShard(1)))
    w.shards.forEach((s, i) => {
      expect(s.bytes.readUInt32LE(SH_INDEX_OFF)).toBe(i)
      expect(s.bytes.subarray(SH_BUILD_ID_OFF, SH_BUILD_ID_OFF + BUILD_ID_BYTES).equals(w.header.buildId)).toBe(true)
    })
  })

  must(20, "a shard header's geometry equals its directory entry", () => {
    for (const at of [SH_FIRST_BUCKET_OFF, SH_BUCKET_COUNT_OFF, SH_PAGE_COUNT_OFF]) {
      expect(useError(withShardHeader(sharded, 1, (b) => b.writeUInt32LE(b.readUInt32LE(at) + 1, at))).code, `byte ${at}`).toBe('E_CORRUPT')
    }
    for (const s of walk(sharded).shards) {
      expect(s.bytes.readUInt32LE(SH_FIRST_BUCKET_OFF)).toBe(s.entry.firstBucket)
      expect(s.bytes.readUInt32LE(SH_BUCKET_COUNT_OFF)).toBe(s.entry.bucketCount)
      expect(s.bytes.readUInt32LE(SH_PAGE_COUNT_OFF)).toBe(s.entry.pageCount)
    }
  })

  must(21, 'every page checksum is the CRC-32 of the page with bytes 4–7 zero (verify)', () => {
    for (const x of [walk(inline), walk(sharded)]) {
      for (const s of x.shards) {
        for (const p of s.pages) {
          const page = Buffer.from(p.bytes)
          const stored = page.readUInt32LE(P_CHECKSUM_OFF)
          page.writeUInt32LE(0, P_CHECKSUM_OFF)
          expect(zlib.crc32(page)).toBe(stored)
        }
      }
    }
    expect(verify(inline).ok).toBe(true)
    expect(verify(sharded).ok).toBe(true)
    const bad = withPage(sharded, 1, 3, (p) => (p[PAGE_SIZE - 1] ^= 1), false)
    opensAndReads(bad, 'exactly-1024', 'x'.repeat(1024)) // open() does not read data pages
    const report = verify(bad)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/page 3: checksum mismatch/)
  })

  must(22, 'record counts, offsets, varints, keys and inline values stay inside their page', () => {
    const w = walk(inline)
    const r = homeRecord(w, 64)
    const key = r.key
    const count = w.shards[0].pages[r.page].count
    const dirAt = P_FINGERPRINTS_OFF + count + 2 * r.index
    // A directory entry: the offset, and the key's fingerprint extension in the top bits
    // (MUST-37), so that the lookup reads the record there.
    const setOffset = (p: Buffer, offset: number): void => void p.writeUInt16LE(offset | (r.extension << 12), dirAt)
    const getCode = (file: string): string => errorOf(() => lookup(file, key)).code
    // count beyond what a page can hold
    expect(getCode(withPage(inline, 0, r.page, (p) => p.writeUInt16LE(817, P_COUNT_OFF)))).toBe('E_CORRUPT')
    // a record offset inside the directory (12 bits cannot point past the page)
    expect(getCode(withPage(inline, 0, r.page, (p) => setOffset(p, P_HEADER_BYTES + 3 * count - 1)))).toBe('E_CORRUPT')
    expect(getCode(withPage(inline, 0, r.page, (p) => setOffset(p, 0)))).toBe('E_CORRUPT')
    // crafted records at the end of the page: the key, the inline value or the ref runs past it,
    // or the value tag is a six-byte varint
    const craft = (bytes: number[]): string =>
      withPage(inline, 0, r.page, (p) => {
        const at = PAGE_SIZE - bytes.length
        Buffer.from(bytes).copy(p, at)
        setOffset(p, at)
      })
    const k = [...key]
    expect(getCode(craft([key.length, 0, ...k.slice(0, -1)]))).toBe('E_CORRUPT')
    expect(getCode(craft([key.length, 20, ...k, 1, 2, 3, 4, 5]))).toBe('E_CORRUPT')
    expect(getCode(craft([key.length, 0xa1, 0x1f, ...k, 0, 0, 0, 0]))).toBe('E_CORRUPT')
    expect(getCode(craft([key.length, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...k, 0]))).toBe('E_CORRUPT')
    expect(lookup(craft([key.length, 6, ...k, 0x6f, 0x6b, 0x21]), key)).toBe('ok!') // the same bytes, well formed
    // iteration and verify walk every record: an offset at the page's last byte is caught there
    const last = withPage(inline, 0, r.page, (p) => setOffset(p, PAGE_SIZE - 1))
    const dict = open(last)
    try {
      expect(errorOf(() => [...dict.keys()]).code).toBe('E_CORRUPT')
    } finally {
      dict.close()
    }
    expect(verify(last).ok).toBe(false)
    // what the writer produces
    for (const x of [w, walk(sharded)]) {
      for (const s of x.shards) {
        for (const p of s.pages) {
          expect(p.count).toBeLessThanOrEqual(Math.floor((PAGE_SIZE - P_HEADER_BYTES) / 5))
          for (const rec of p.records) {
            expect(rec.offset).toBeGreaterThanOrEqual(P_HEADER_BYTES + 3 * p.count)
            expect(rec.end).toBeLessThanOrEqual(PAGE_SIZE)
            expect(rec.key.length).toBeLessThanOrEqual(MAX_KEY_BYTES)
          }
        }
      }
    }
  })

  must(23, 'an external value reference lies inside the value area', () => {
    const w = walk(inline)
    const r = homeRecord(w, 64, true)
    const s = w.shards[0]
    expect(s.entry.valueLength).toBeGreaterThan(0)
    const count = s.pages[r.page].count
    const dirAt = P_FINGERPRINTS_OFF + count + 2 * r.index
    const tag = Buffer.alloc(5)
    const tagEnd = writeVarint(tag, 0, r.valueLength * 2 + 1)
    const withRef = (ref: number): string =>
      withPage(inline, 0, r.page, (p) => {
        const rec = Buffer.concat([Buffer.from([r.key.length]), tag.subarray(0, tagEnd), r.key, Buffer.alloc(8)])
        writeU64(rec, rec.length - 8, ref)
        const at = PAGE_SIZE - rec.length
        rec.copy(p, at)
        p.writeUInt16LE(at | (r.extension << 12), dirAt)
      })
    expect(lookup(withRef(r.ref), r.key)).toBe(r.value.toString('utf8')) // well formed: found
    expect(errorOf(() => lookup(withRef(s.entry.valueLength - r.valueLength + 1), r.key)).code).toBe('E_CORRUPT')
    expect(errorOf(() => lookup(withRef(2 ** 40), r.key)).code).toBe('E_CORRUPT')
    for (const x of [w, walk(sharded)]) {
      for (const rec of x.records) if (rec.external) expect(rec.ref + rec.valueLength).toBeLessThanOrEqual(x.shards[rec.shard].entry.valueLength)
    }
  })

  must(24, 'every record lies in its shard between its home page and home + max_spill (verify)', () => {
    for (const x of [walk(inline), walk(sharded)]) {
      for (const rec of x.records) {
        const e = x.shards[rec.shard].entry
        expect(rec.home).toBeGreaterThanOrEqual(0)
        expect(rec.home).toBeLessThan(e.bucketCount)
        expect(rec.page).toBeGreaterThanOrEqual(rec.home)
        expect(rec.page).toBeLessThanOrEqual(rec.home + e.maxSpill)
      }
    }
    const w = walk(inline)
    const r = spilled(w)
    const squeezed = withHeader(inline, (b) => b.writeUInt32LE(0, entryAt(0) + S_MAX_SPILL_OFF))
    const report = verify(squeezed)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/its home is \d+ \(max spill 0\)/)
    expect(lookup(squeezed, r.key)).toBeUndefined() // a wrong answer, never a read out of bounds
  })

  must(25, 'pages from a spilled record’s home up to its page all have CONTINUES', () => {
    let spills = 0
    for (const x of [walk(inline), walk(sharded)]) {
      for (const rec of x.records) {
        for (let p = rec.home; p < rec.page; p++) {
          spills++
          expect(x.shards[rec.shard].pages[p].flags & PAGE_CONTINUES, `shard ${rec.shard} page ${p}`).toBe(PAGE_CONTINUES)
        }
      }
    }
    expect(spills).toBeGreaterThan(0)
    // Why it matters: without the flag the lookup stops and the key reads as absent.
    const r = spilled(walk(inline))
    const cut = withPage(inline, 0, r.page - 1, (p) => (p[P_FLAGS_OFF] &= ~PAGE_CONTINUES))
    expect(lookup(inline, r.key)).toBe(r.value.toString('utf8'))
    expect(lookup(cut, r.key)).toBeUndefined()
    const report = verify(cut)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/does not say CONTINUES/)
  })

  must(26, "a spilled record's overflow bit is set on its home page (verify)", () => {
    for (const x of [walk(inline), walk(sharded)]) {
      for (const rec of x.records) {
        if (rec.page > rec.home) expect(filterHas(x.shards[rec.shard].pages[rec.home].filter, overflowBitOf(rec.hashLow))).toBe(true)
      }
    }
    const w = walk(inline)
    // a spilled record whose bit no other record from the same home shares
    const r = w.records.find((x) => x.page > x.home && !w.records.some((y) => y !== x && y.home === x.home && y.page > y.home && overflowBitOf(y.hashLow) === overflowBitOf(x.hashLow)))
    expect(r).toBeDefined()
    const bit = overflowBitOf(r!.hashLow)
    const cleared = withPage(inline, 0, r!.home, (p) => (p[P_OVERFLOW_OFF + (bit >>> 3)] &= ~(1 << (bit & 7))))
    expect(lookup(cleared, r!.key)).toBeUndefined()
    const report = verify(cleared)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/without its overflow bit/)
  })

  must(27, 'every fingerprint is hashLow >> 24 of its key (verify)', () => {
    for (const x of [walk(inline), walk(sharded)]) for (const rec of x.records) expect(rec.fingerprint).toBe(rec.hashLow >>> 24)
    const w = walk(inline)
    const r = homeRecord(w)
    const changed = withPage(inline, 0, r.page, (p) => (p[P_FINGERPRINTS_OFF + r.index] ^= 0x01))
    expect(lookup(changed, r.key)).toBeUndefined()
    const report = verify(changed)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/fingerprint mismatch/)
  })

  must(28, 'value_checksum is the CRC-32 of the value area (verify)', () => {
    for (const x of [walk(inline), walk(sharded), walk(jsonTable)]) {
      for (const s of x.shards) {
        const area = s.bytes.subarray(s.entry.valueOffset, s.entry.valueOffset + s.entry.valueLength)
        expect(zlib.crc32(area)).toBe(s.entry.valueChecksum)
        if (s.entry.valueLength === 0) expect(s.entry.valueChecksum).toBe(0)
      }
    }
    expect(walk(jsonTable).shards[0].entry.valueLength).toBe(0)
    const copy = copyTable(inline)
    const e = walk(copy).shards[0].entry
    edit(copy, (b) => (b[e.valueOffset + Math.floor(e.valueLength / 2)] ^= 0x55))
    const report = verify(copy)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/value area checksum mismatch/)
  })

  must(29, "every shard's key_count is the number of records on its pages (verify)", () => {
    for (const x of [walk(inline), walk(sharded)]) {
      x.shards.forEach((s, i) => expect(x.records.filter((r) => r.shard === i).length).toBe(s.entry.keyCount))
    }
    const lying = withHeader(sharded, (b) => {
      writeU64(b, entryAt(1) + S_KEY_COUNT_OFF, readU64(b, entryAt(1) + S_KEY_COUNT_OFF) + 1)
      writeU64(b, H_KEY_COUNT_OFF, readU64(b, H_KEY_COUNT_OFF) + 1)
    })
    const report = verify(lying)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/shard 1 holds \d+ keys, the header says \d+/)
  })

  must(30, 'every value decodes under value_codec', () => {
    for (const [file, codec] of [[jsonTable, CODEC_JSON], [listTable, CODEC_LIST], [inline, CODEC_STRING]] as const) {
      for (const rec of walk(file).records) expect(() => decodeValue(codec, rec.value, 0, rec.value.length)).not.toThrow()
    }
    for (const file of [jsonTable, listTable]) {
      const w = walk(file)
      const r = w.records.find((x) => x.valueLength > 2)!
      const valueAt = r.offset + r.keyLengthBytes + r.tagBytes + r.key.length
      const bad = withPage(file, 0, r.page, (p) => (p[valueAt] = file === jsonTable ? 0x7d : 0x7f)) // "}" / a list of 127 items
      expect(errorOf(() => lookup(bad, r.key)).code).toBe('E_CORRUPT')
      const report = verify(bad)
      expect(report.ok).toBe(false)
      expect(report.problems.join('\n')).toMatch(/corrupt value/)
    }
  })

  must(31, 'keys are unique within a table', async () => {
    for (const x of [walk(inline), walk(sharded)]) {
      const keys = new Set(x.records.map((r) => r.key.toString('hex')))
      expect(keys.size).toBe(x.records.length)
    }
    const dir = freshDir('dup')
    const file = path.join(dir, 'dup.pdict')
    const entries: [string, string][] = [['a', '1'], ['b', '2'], ['a', '3']]
    const err = await build(entries, file).catch((e: unknown) => e)
    expect((err as PagedictError).code).toBe('E_DUPLICATE')
    expect(fs.readdirSync(dir)).toEqual([]) // a failed build leaves nothing behind
    await build(entries, file, { onDuplicate: 'last' })
    expect(walk(file).records.length).toBe(2)
    expect(lookup(file, 'a')).toBe('3')
    await build(entries, file, { onDuplicate: 'first' })
    expect(lookup(file, 'a')).toBe('1')
  })

  must(32, 'a value is external exactly when it is longer than 1024 bytes', () => {
    let external = 0
    for (const x of [walk(inline), walk(sharded)]) {
      for (const rec of x.records) {
        expect(rec.external, `${rec.valueLength} bytes`).toBe(rec.valueLength > MAX_INLINE_VALUE_BYTES)
        if (rec.external) external++
      }
      expect(x.records.find((r) => r.key.toString() === 'exactly-1024')?.external).toBe(false)
      expect(x.records.find((r) => r.key.toString() === 'exactly-1025')?.external).toBe(true)
    }
    expect(external).toBeGreaterThan(10)
  })

  must(33, 'exact extents: data offset, value area, file length, page count and max_spill', () => {
    for (const x of [walk(inline), walk(sharded)]) {
      x.shards.forEach((s, i) => {
        const e = s.entry
        expect(e.dataOffset).toBe(e.name === '' ? x.headerBytes : SH_HEADER_BYTES)
        expect(e.valueOffset).toBe(e.dataOffset + e.pageCount * PAGE_SIZE)
        expect(e.fileLength).toBe(e.valueOffset + e.valueLength)
        expect(s.bytes.length).toBe(e.fileLength)
        const mine = x.records.filter((r) => r.shard === i)
        expect(e.maxSpill).toBe(Math.max(0, ...mine.map((r) => r.page - r.home)))
        const lastUsed = Math.max(-1, ...mine.map((r) => r.page))
        expect(e.pageCount).toBe(Math.max(e.bucketCount, lastUsed + 1))
        expect(e.pageCount).toBeLessThanOrEqual(e.bucketCount + e.maxSpill)
        // the value area holds each external value once, in record order, without gaps
        let next = 0
        for (const r of mine) {
          if (!r.external) continue
          expect(r.ref).toBe(next)
          next += r.valueLength
        }
        expect(next).toBe(e.valueLength)
      })
    }
    expect(walk(inline).shards[0].entry.maxSpill).toBeGreaterThanOrEqual(1)
  })

  must(34, 'exact pages: packed records, minimal varints, zero padding, CONTINUES and overflow bits only when needed', () => {
    for (const x of [walk(inline), walk(sharded), walk(jsonTable), walk(listTable)]) {
      x.shards.forEach((s, si) => {
        s.pages.forEach((p, pi) => {
          let at = P_HEADER_BYTES + 3 * p.count
          for (const r of p.records) {
            expect(r.offset).toBe(at)
            expect(r.keyLengthBytes).toBe(varintSize(r.key.length))
            expect(r.tagBytes).toBe(varintSize(r.valueLength * 2 + (r.external ? 1 : 0)))
            at = r.end
          }
          expect(p.bytes.subarray(at).every((v) => v === 0), `shard ${si} page ${pi} tail`).toBe(true)
          expect(p.reserved).toBe(0)
          expect(p.flags & ~PAGE_CONTINUES).toBe(0)
          // CONTINUES exactly when a record homed at or before this page lies on the next one
          const continues = s.pages[pi + 1]?.records.some((r) => r.home <= pi) ?? false
          expect((p.flags & PAGE_CONTINUES) !== 0, `shard ${si} page ${pi} CONTINUES`).toBe(continues)
          // every overflow bit comes from a record of this home that spilled
          const bits = new Set(x.records.filter((r) => r.shard === si && r.home === pi && r.page > pi).map((r) => overflowBitOf(r.hashLow)))
          for (let b = 0; b < 64; b++) expect(filterHas(p.filter, b), `shard ${si} page ${pi} bit ${b}`).toBe(bits.has(b))
        })
        if (s.entry.name !== '') expect(s.bytes.subarray(SH_PAGE_COUNT_OFF + 4, SH_HEADER_BYTES).every((v) => v === 0)).toBe(true)
      })
      const metaEnd = x.bytes.readUInt32LE(H_META_OFF_OFF) + x.bytes.readUInt32LE(H_META_LEN_OFF)
      expect(x.bytes.subarray(metaEnd, x.headerBytes).every((v) => v === 0)).toBe(true)
    }
  })

  must(36, 'with write_version 2 every directory ascends by fingerprint; version 1 files still read', () => {
    for (const x of [walk(inline), walk(sharded), walk(jsonTable), walk(listTable)]) {
      expect(x.bytes.readUInt16LE(H_WRITE_VERSION_OFF)).toBe(2)
      for (const s of x.shards) {
        for (const p of s.pages) {
          const fps = p.bytes.subarray(P_FINGERPRINTS_OFF, P_FINGERPRINTS_OFF + p.count)
          for (let i = 1; i < fps.length; i++) expect(fps[i]).toBeGreaterThanOrEqual(fps[i - 1])
        }
      }
    }
    // A page whose fingerprints are out of order: verify says so, and a lookup that stops at
    // the first fingerprint past its own loses keys.
    const w = walk(inline)
    const pi = w.shards[0].pages.findIndex((p) => p.count >= 8 && new Set(p.records.map((r) => r.fingerprint)).size === p.count)
    expect(pi).toBeGreaterThanOrEqual(0)
    const page = w.shards[0].pages[pi]
    const reversed = (p: Buffer): void => {
      const n = page.count
      const fps = Buffer.from(p.subarray(P_FINGERPRINTS_OFF, P_FINGERPRINTS_OFF + n))
      const offs = Buffer.from(p.subarray(P_FINGERPRINTS_OFF + n, P_FINGERPRINTS_OFF + 3 * n))
      for (let i = 0; i < n; i++) {
        p[P_FINGERPRINTS_OFF + i] = fps[n - 1 - i]
        p.writeUInt16LE(offs.readUInt16LE(2 * (n - 1 - i)), P_FINGERPRINTS_OFF + n + 2 * i)
      }
    }
    const unsorted = withPage(inline, 0, pi, reversed)
    const report = verify(unsorted)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/fingerprints out of order/)
    const onPage = w.records.filter((r) => r.page === pi)
    expect(onPage.filter((r) => lookup(unsorted, r.key) === undefined).length).toBeGreaterThan(0)
    // The same page in a version-1 table (no order promised) is scanned whole: every key is found.
    const v1 = withHeader(unsorted, (b) => b.writeUInt16LE(1, H_WRITE_VERSION_OFF))
    for (const r of onPage) expect(lookup(v1, r.key)).toEqual(lookup(inline, r.key))
    expect(lookupMany(v1, onPage.map((r) => r.key))).toEqual(onPage.map((r) => lookup(inline, r.key)))
    expect(verify(v1).ok).toBe(true)
  })

  must(37, 'with read_version 2 every offset carries its key’s fingerprint extension; version 1 tables still read', () => {
    for (const x of [walk(inline), walk(sharded), walk(jsonTable), walk(listTable)]) {
      expect(x.bytes.readUInt16LE(H_READ_VERSION_OFF)).toBe(2)
      for (const r of x.records) expect(r.extension).toBe((r.hashLow >>> 12) & 15)
    }
    // A wrong extension: verify says so, and the lookup skips the record unread.
    const w = walk(inline)
    const r = homeRecord(w)
    const entryAt = P_FINGERPRINTS_OFF + w.shards[0].pages[r.page].count + 2 * r.index
    const changed = withPage(inline, 0, r.page, (p) => p.writeUInt16LE(p.readUInt16LE(entryAt) ^ 0x1000, entryAt))
    expect(lookup(changed, r.key)).toBeUndefined()
    const report = verify(changed)
    expect(report.ok).toBe(false)
    expect(report.problems.join('\n')).toMatch(/fingerprint extension mismatch/)
    // A version-1 table (offsets without extensions, directories unsorted) reads the same.
    const v1 = withHeader(inline, (b) => {
      b.writeUInt16LE(1, H_READ_VERSION_OFF)
      b.writeUInt16LE(1, H_WRITE_VERSION_OFF)
      const s0 = w.shards[0]
      s0.pages.forEach((page, pi) => {
        const base = s0.entry.dataOffset + pi * PAGE_SIZE
        for (let i = 0; i < page.count; i++) {
          const at = base + P_FINGERPRINTS_OFF + page.count + 2 * i
          b.writeUInt16LE(b.readUInt16LE(at) & 0xfff, at)
        }
        sealChecksum(b.subarray(base, base + PAGE_SIZE), P_CHECKSUM_OFF, zlib.crc32)
      })
    })
    for (const rec of w.records.slice(0, 200)) expect(lookup(v1, rec.key)).toEqual(lookup(inline, rec.key))
    expect(lookup(v1, 'not a key of the table')).toBeUndefined()
    const keys = [...w.records.slice(0, 200).map((rec) => rec.key), 'not a key of the table']
    expect(lookupMany(v1, keys)).toEqual(keys.map((k) => lookup(inline, k)))
    expect(verify(v1).ok).toBe(true)
  })

  must(35, 'publishing never modifies a published file and leaves no temporary file', async () => {
    const dir = freshDir('publish')
    const file = path.join(dir, 'pub.pdict')
    const source =
      (suffix: string): RecordSource =>
      async (sink) => {
        for (let i = 0; i < 6000; i++) {
          const k = Buffer.from(`p${i}`)
          const v = Buffer.from(`value ${i} ${suffix} `.repeat(8))
          sink(k, 0, k.length, v, 0, v.length, 0, i + 1)
        }
        return { codec: CODEC_STRING, records: 6000, bytes: 0, describe: {} }
      }
    const opts = { inputs: ['gen'], onDuplicate: 'error' as const, memoryMiB: 64, expectedBytes: 0, shardBytes: 1 << 19, metadata: {} }
    await buildPageFile(source('old'), file, { ...opts, seed: 1 })
    const before = fs.readdirSync(dir).sort()
    const oldNames = walk(file).header.shards.map((s) => s.name)
    expect(oldNames.length).toBeGreaterThan(1)
    expect(before).toEqual(['pub.pdict', ...oldNames].sort())
    const old = open(file) // maps the old files
    try {
      await buildPageFile(source('new'), file, { ...opts, seed: 1 })
      const newNames = walk(file).header.shards.map((s) => s.name)
      expect(newNames.some((n) => oldNames.includes(n))).toBe(false)
      expect(fs.readdirSync(dir).sort()).toEqual(['pub.pdict', ...newNames].sort()) // old shards unlinked, no temporaries
      expect(old.get('p77')).toBe('value 77 old '.repeat(8)) // the old mapping still reads the old table
      expect(lookup(file, 'p77')).toBe('value 77 new '.repeat(8))
      for (const n of newNames) expect(n).toMatch(/^pub\.pdict\.[0-9a-f]{12}\.\d+\.pdshard$/)
    } finally {
      old.close()
    }
  }, 60_000)

  it('every MUST rule in docs/FORMAT.md has a test, and every test a rule', () => {
    const rows = table(section('MUST invariants'), '#')
    const numbers = rows.map((r) => Number(/^MUST-(\d+)$/.exec(r[0])?.[1]))
    expect(numbers).toEqual(numbers.map((_, i) => i + 1))
    expect([...tested].sort((a, b) => a - b)).toEqual(numbers)
  })
})
