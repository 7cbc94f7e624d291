/**
 * How a pagedict table lives in an LMDB environment (the `--backend lmdb` layout), and the one
 * place that opens such an environment. build.ts, dict.ts and update.ts import from here.
 *
 *   file      a single-file environment (noSubdir); LMDB keeps its lock table in `<file>-lock`
 *   main DB   holds only LMDB's own records of the two named databases below
 *   __pagedict_data__  key = the key's raw bytes (1 .. MAX_KEY_BYTES), value = the encoded value
 *                      bytes (src/format/values.ts), exactly what the page file stores
 *   __pagedict_meta__  "info"      → UTF-8 JSON {@link LmdbTableInfo}
 *                      "empty_key" → the value of the empty key, when the table has one
 *                      (LMDB cannot store a zero-length key)
 *
 * lmdb-js v3 bundles LMDB's data format 2 (the mdb.master3 line): a 24-byte page header, so the
 * meta page's magic sits at byte 24, and named databases are recorded under their name plus a
 * NUL byte. Stock LMDB 0.9 (format 1, magic at byte 16) cannot read these files.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants as osConstants } from 'node:os'
import type { Database, RootDatabase } from 'lmdb'
import { PagedictError, ioError } from '../errors.js'
import { CODEC_NAMES, LMDB_MAGIC, readU64, type CodecName } from '../format/layout.js'

/** Version of this layout (database names, meta records); info.format_version. */
export const LMDB_FORMAT_VERSION = 1
const DATA_DB = '__pagedict_data__'
const META_DB = '__pagedict_meta__'
const META_INFO = 'info'
export const META_EMPTY_KEY = 'empty_key'

/**
 * Reader slots in the lock file. Every opener asks for the same number because whoever
 * initialises the lock file fixes its size; a slot costs 64 bytes, and LMDB only scans slots
 * up to the high-water mark, so a generous table (64 KiB) costs nothing per read.
 */
const MAX_READERS = 1024

// LMDB data format 2 meta page (liblmdb/mdb.c, MDB_page_header + MDB_meta), native byte order.
const LMDB_DATA_VERSION = 2
const LMDB_PAGE_FLAGS_OFF = 18 // u16 mp_flags
const LMDB_P_META = 0x08
export const LMDB_MAGIC_OFF = 24 // u32 mm_magic
const LMDB_VERSION_OFF = 28 // u32 mm_version
const LMDB_PAGE_SIZE_OFF = 48 // u32 mm_dbs[FREE_DBI].md_pad = page size
const LMDB_ENV_FLAGS_OFF = 52 // u16 mm_dbs[FREE_DBI].md_flags = the environment's persistent flags
/** MDB_ENCRYPT in the environment flags: lmdb-js crashes (SIGSEGV) opening such a file without a key. */
const LMDB_ENCRYPT = 0x2000
const LMDB_FREE_ROOT_OFF = 88 // u64 mm_dbs[FREE_DBI].md_root
const LMDB_MAIN_ROOT_OFF = 136 // u64 mm_dbs[MAIN_DBI].md_root
const LMDB_LAST_PAGE_OFF = 144 // u64 mm_last_pg, the last page in use
/** Bytes of a meta page header this module reads (through mm_last_pg). */
const META_HEAD_BYTES = 152
/** LMDB 0.9 (data format 1) has a 16-byte page header: its magic is at byte 16. */
export const LMDB_V1_MAGIC_OFF = 16

/** What the meta database's "info" record holds. */
export interface LmdbTableInfo {
  format_version: number
  codec: CodecName
  /** Keys in the table, the empty key included; kept current by put/delete. */
  keys: number
  /** Milliseconds since the epoch. */
  build_time: number
  inputs: string[]
  /** The build options (BuildOptions as recorded by the caller). */
  build: Record<string, unknown>
  /** Milliseconds since the epoch of the last put/delete, when there was one. */
  update_time?: number
}

/**
 * A key given as `bytes[start, end)` of a larger buffer. It is a (zero-length) Uint8Array so
 * lmdb-js accepts it as a key; {@link keyEncoder} copies the range, so a lookup of a field
 * inside a data chunk allocates nothing.
 */
export class KeyRange extends Uint8Array {
  bytes: Uint8Array = new Uint8Array(0)
  start = 0
  end = 0
  constructor() {
    super(0)
  }
}

/**
 * lmdb-js key encoder: keys are raw bytes; strings are written as UTF-8 straight into lmdb-js's
 * key buffer (no intermediate Buffer), and keys read back are decoded as UTF-8.
 */
const keyEncoder = {
  writeKey(key: string | Uint8Array, target: Buffer, pos: number): number {
    if (typeof key === 'string') {
      // Buffer#write truncates silently; a RangeError makes lmdb-js retry with a fresh buffer
      const room = target.length - pos
      if (key.length * 3 > room && Buffer.byteLength(key, 'utf8') > room) throw new RangeError('key does not fit the key buffer')
      return pos + target.write(key, pos, 'utf8')
    }
    const range = key instanceof KeyRange
    const bytes = range ? key.bytes : key
    const start = range ? key.start : 0
    const end = range ? key.end : key.length
    if (pos + (end - start) > target.length) throw new RangeError('key does not fit the key buffer')
    // short keys: a byte loop beats a native set() call (and a subarray for a range)
    if (end - start <= 32) for (let i = start; i < end; i++) target[pos++] = bytes[i]
    else {
      target.set(range ? bytes.subarray(start, end) : bytes, pos)
      pos += end - start
    }
    return pos
  },
  readKey(buf: Uint8Array, start: number, end: number): string {
    return Buffer.isBuffer(buf) ? buf.toString('utf8', start, end) : Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8')
  },
}

type Store = Database<Uint8Array, Uint8Array | string>

/**
 * lmdb-js, loaded on first use: importing it costs ~30 ms (its native addon), which a process
 * that only reads page files should not pay at start-up. open() is synchronous, hence require.
 */
let lmdb: typeof import('lmdb') | undefined
function lmdbModule(): typeof import('lmdb') {
  return (lmdb ??= createRequire(import.meta.url)('lmdb') as typeof import('lmdb'))
}

export interface LmdbEnv {
  root: RootDatabase<Uint8Array, Uint8Array | string>
  data: Store
  meta: Store
}

type EnvMode = 'read' | 'update' | 'build'

/**
 * Open a table's environment. 'read' is read-only; 'update' commits durably; 'build' writes a
 * fresh file without syncing (the builder fsyncs the finished file itself) and creates the two
 * databases. A file that is not a pagedict LMDB table is refused before LMDB maps it.
 */
export function openEnv(path: string, mode: EnvMode, mapSize?: number): LmdbEnv {
  if (mode !== 'build') checkLmdbFile(path)
  let root: LmdbEnv['root']
  try {
    root = lmdbModule().open<Uint8Array, Uint8Array | string>(path, {
      noSubdir: true,
      readOnly: mode === 'read',
      // overlappingSync defers the flush past the commit; a CLI update must be durable on return
      overlappingSync: false,
      noSync: mode === 'build',
      compression: false,
      maxReaders: MAX_READERS,
      maxDbs: 4,
      ...(mapSize === undefined ? {} : { mapSize }),
    })
  } catch (err) {
    throw lmdbError(path, err, 'open the LMDB table')
  }
  const dbOptions = { keyEncoder, encoding: 'binary' as const, compression: false, create: mode === 'build' }
  let data: Store | undefined
  let meta: Store | undefined
  try {
    data = root.openDB<Uint8Array, Uint8Array | string>(DATA_DB, dbOptions)
    meta = root.openDB<Uint8Array, Uint8Array | string>(META_DB, dbOptions)
  } catch (err) {
    void root.close()
    throw lmdbError(path, err, 'open the LMDB table')
  }
  if (!data || !meta) {
    void root.close()
    throw new PagedictError('E_MAGIC', `${path}: an LMDB environment, but not a pagedict table (no ${data ? META_DB : DATA_DB} database)`, { path })
  }
  return { root, data, meta }
}

/** The meta "info" record, checked: a newer layout is refused, a missing one is corruption. */
export function readInfo(path: string, meta: Store): LmdbTableInfo {
  const bytes = meta.getBinary(META_INFO)
  let info: LmdbTableInfo | undefined
  try {
    info = bytes && (JSON.parse(Buffer.from(bytes).toString('utf8')) as LmdbTableInfo)
  } catch {
    info = undefined
  }
  if (!info || typeof info !== 'object' || !CODEC_NAMES.includes(info.codec) || !Number.isInteger(info.format_version)) {
    throw new PagedictError('E_CORRUPT', `${path}: the ${META_DB} "${META_INFO}" record is missing or not valid JSON; rebuild the table`, { path })
  }
  if (info.format_version > LMDB_FORMAT_VERSION) {
    throw new PagedictError('E_VERSION', `${path}: LMDB table format version ${info.format_version} is newer than this pagedict reads (${LMDB_FORMAT_VERSION}); upgrade pagedict`, {
      path,
      got: info.format_version,
      expected: LMDB_FORMAT_VERSION,
    })
  }
  return info
}

export function writeInfo(meta: Store, info: LmdbTableInfo): void {
  meta.putSync(META_INFO, Buffer.from(JSON.stringify(info), 'utf8'))
}

/**
 * Check both meta pages before LMDB maps the file: lmdb-js crashes the process (SIGSEGV) when
 * asked to open a file that is not LMDB, and creates a lock file beside it on the way.
 */
function checkLmdbFile(path: string): void {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    throw ioError(path, err, 'open the table')
  }
  const page0 = Buffer.alloc(META_HEAD_BYTES)
  const page1 = Buffer.alloc(META_HEAD_BYTES)
  let size: number
  try {
    readSync(fd, page0, 0, META_HEAD_BYTES, 0)
    const pageSize = page0.readUInt32LE(LMDB_PAGE_SIZE_OFF)
    if (pageSize >= 512 && pageSize <= 65536) readSync(fd, page1, 0, META_HEAD_BYTES, pageSize)
    // the size after the meta pages: a concurrent commit writes its pages before its meta page
    size = fstatSync(fd).size
  } catch (err) {
    throw ioError(path, err, 'read the table')
  } finally {
    closeSync(fd)
  }
  const head = page0.subarray(0, Math.min(size, META_HEAD_BYTES))
  const bad = (why: string) => new PagedictError('E_MAGIC', `${path}: not an LMDB table written by lmdb-js v3 (${why})`, { path })
  if (head.length < META_HEAD_BYTES || head.readUInt32LE(LMDB_MAGIC_OFF) !== LMDB_MAGIC) {
    if (head.length >= 32 && head.readUInt32LE(LMDB_V1_MAGIC_OFF) === LMDB_MAGIC) {
      throw new PagedictError('E_VERSION', `${path}: LMDB data format 1 (LMDB 0.9); this pagedict reads format ${LMDB_DATA_VERSION}; rebuild the table`, {
        path,
        got: 1,
        expected: LMDB_DATA_VERSION,
      })
    }
    throw bad('no LMDB magic at byte 24')
  }
  const version = head.readUInt32LE(LMDB_VERSION_OFF)
  if (version !== LMDB_DATA_VERSION) {
    throw new PagedictError('E_VERSION', `${path}: LMDB data format ${version}; this pagedict reads format ${LMDB_DATA_VERSION}`, { path, got: version, expected: LMDB_DATA_VERSION })
  }
  const pageSize = head.readUInt32LE(LMDB_PAGE_SIZE_OFF)
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw bad(`page size ${pageSize}`)
  if (size < 2 * pageSize) {
    throw new PagedictError('E_TRUNCATED', `${path}: ${size} bytes, shorter than LMDB's two meta pages (${2 * pageSize} bytes)`, { path, got: size, expected: 2 * pageSize })
  }
  for (const [at, page] of [[0, page0], [pageSize, page1]] as const) {
    if (!(page.readUInt16LE(LMDB_PAGE_FLAGS_OFF) & LMDB_P_META) || page.readUInt32LE(LMDB_MAGIC_OFF) !== LMDB_MAGIC) {
      throw bad(`meta page at byte ${at} is damaged`)
    }
    // LMDB trusts these without checking: a page size that differs between the meta pages
    // (SIGFPE, SIGBUS), an encryption flag (SIGSEGV), a tree rooted on a meta page (abort).
    // A root past the last page, or on a page of the wrong kind, LMDB refuses by itself.
    const roots = [readU64(page, LMDB_FREE_ROOT_OFF), readU64(page, LMDB_MAIN_ROOT_OFF)]
    if (page.readUInt32LE(LMDB_PAGE_SIZE_OFF) !== pageSize || (page.readUInt16LE(LMDB_ENV_FLAGS_OFF) & LMDB_ENCRYPT) !== 0 || roots.some((r) => r < 2)) {
      throw bad(`meta page at byte ${at} is damaged`)
    }
  }
  // LMDB maps the file and trusts its page numbers: a page past the end is a SIGBUS, not an error
  const needed = (Math.max(readU64(page0, LMDB_LAST_PAGE_OFF), readU64(page1, LMDB_LAST_PAGE_OFF)) + 1) * pageSize
  if (size < needed) {
    throw new PagedictError('E_TRUNCATED', `${path}: ${size} bytes, but its LMDB meta pages use ${needed}; the file was cut short, rebuild the table`, {
      path,
      got: size,
      expected: needed,
    })
  }
}

/** lmdb-js errors carry LMDB's return code: errno values, or MDB_* codes near -30790. */
export function lmdbError(path: string, err: unknown, doing: string): PagedictError {
  const rc = (err as { code?: unknown })?.code
  if (typeof rc === 'number' && rc > 0) {
    const name = Object.entries(osConstants.errno).find(([, n]) => n === rc)?.[0]
    return ioError(path, Object.assign(new Error((err as Error).message), { code: name }), doing)
  }
  if (rc === -30794) return new PagedictError('E_VERSION', `${path}: LMDB version mismatch: ${(err as Error).message}`, { path, cause: err })
  if (rc === -30793 || rc === -30796) return new PagedictError('E_CORRUPT', `${path}: LMDB reports the file damaged: ${(err as Error).message}`, { path, cause: err })
  return new PagedictError('E_IO', `${path}: cannot ${doing}: ${(err as Error)?.message ?? String(err)}`, { path, cause: err })
}
