/**
 * The LMDB table as a {@link Dict}: read-only, any number of processes at once (LMDB's reader
 * table in `<table>-lock` sees to that), keys in byte order.
 *
 * Value bytes and lmdb-js: LMDB copies a value into one reusable buffer per process, so
 * `lastValue.bytes` (and lookupRange's result) is valid until the next read of ANY LMDB table
 * in this process, `size` and `info()` included. getBytes() returns a copy, safe to keep.
 *
 * Snapshots: lmdb-js keeps one read transaction for the current event-loop turn, so lookups in
 * one synchronous run see one consistent table; puts committed by another process become
 * visible after the turn ends.
 *
 * Lock file: a reader registers in `<table>-lock` (the build creates it; LMDB creates it when
 * missing). A reader that may not write it (no permission, read-only file system) still opens
 * the table, unregistered: fine for a table nobody updates, but an in-place put/delete may then
 * reuse pages under it.
 */
import { statSync } from 'node:fs'
import { PagedictError, ioError } from '../errors.js'
import { CODEC_NAMES, LMDB_MAGIC, MAX_KEY_BYTES, type CodecId, type CodecName } from '../format/layout.js'
import { decodeValue, type Value } from '../format/values.js'
import type { Dict, DictInfo, Key, ValueLocation } from '../read/dict.js'
import { KeyRange, LMDB_MAGIC_OFF, LMDB_V1_MAGIC_OFF, META_EMPTY_KEY, lmdbError, openEnv, readInfo, type LmdbEnv } from './schema.js'

/**
 * Whether a file's first bytes are an LMDB meta page: LMDB_MAGIC at byte 24 (data format 2,
 * what lmdb-js v3 writes) or at byte 16 (format 1, LMDB 0.9), so open() can route either to
 * this backend, which then names the format it cannot read. Needs at least 28 bytes.
 */
export function isLmdbFile(firstBytes: Uint8Array): boolean {
  if (firstBytes.length < LMDB_MAGIC_OFF + 4) return false
  const view = new DataView(firstBytes.buffer, firstBytes.byteOffset, firstBytes.byteLength)
  return view.getUint32(LMDB_MAGIC_OFF, true) === LMDB_MAGIC || view.getUint32(LMDB_V1_MAGIC_OFF, true) === LMDB_MAGIC
}

/**
 * Tables open for reading in this process, by device and inode. lmdb-js shares one environment
 * per file per process, so an update here would get the read-only one; update.ts asks first.
 */
const openForReading = new Map<string, number>()

export function isOpenForReading(dev: number, ino: number): boolean {
  return (openForReading.get(`${dev}:${ino}`) ?? 0) > 0
}

/** The smallest non-empty key: iteration starts here (lmdb-js would otherwise skip keys below 0x05). */
const FIRST_KEY = new Uint8Array([0])

export function openLmdb(path: string): Dict {
  const env = openEnv(path, 'read')
  try {
    const info = readInfo(path, env.meta)
    const st = statSync(path)
    const id = `${st.dev}:${st.ino}`
    openForReading.set(id, (openForReading.get(id) ?? 0) + 1)
    return new LmdbDict(path, env, info.codec, id)
  } catch (err) {
    void env.root.close()
    throw err instanceof PagedictError ? err : lmdbError(path, err, 'read the LMDB table')
  }
}

class LmdbDict implements Dict {
  readonly backend = 'lmdb' as const
  readonly lastValue: ValueLocation = { bytes: new Uint8Array(0), start: 0, end: 0 }
  private readonly codecId: CodecId
  private readonly range = new KeyRange()
  private closed = false

  constructor(
    readonly path: string,
    private readonly env: LmdbEnv,
    readonly codec: CodecName,
    private readonly id: string,
  ) {
    this.codecId = CODEC_NAMES.indexOf(codec) as CodecId
  }

  get size(): number {
    this.check()
    const stats = this.env.data.getStats() as { entryCount: number }
    return stats.entryCount + (this.env.meta.getBinaryFast(META_EMPTY_KEY) === undefined ? 0 : 1)
  }

  get(key: Key): Value | undefined {
    const bytes = this.fetch(key)
    return bytes === undefined ? undefined : decodeValue(this.codecId, bytes, 0, bytes.length)
  }

  has(key: Key): boolean {
    return this.fetch(key) !== undefined
  }

  getMany(keys: readonly Key[]): (Value | undefined)[] {
    return keys.map((k) => this.get(k))
  }

  getBytes(key: Key): Uint8Array | undefined {
    const bytes = this.fetch(key)
    // slice copies exactly the value: the reusable buffer's byteLength is its whole capacity
    return bytes === undefined ? undefined : Uint8Array.prototype.slice.call(bytes, 0, bytes.length)
  }

  lookupRange(bytes: Uint8Array, start: number, end: number): boolean {
    this.check()
    let found: Buffer | undefined
    if (end === start) found = this.env.meta.getBinaryFast(META_EMPTY_KEY)
    else if (end - start <= MAX_KEY_BYTES) {
      const range = this.range
      range.bytes = bytes
      range.start = start
      range.end = end
      found = this.env.data.getBinaryFast(range)
      range.bytes = FIRST_KEY // do not pin the caller's chunk
    }
    if (found === undefined) return false
    this.lastValue.bytes = found
    this.lastValue.start = 0
    this.lastValue.end = found.length
    return true
  }

  *entries(): IterableIterator<[string, Value]> {
    this.check()
    const empty = this.env.meta.getBinary(META_EMPTY_KEY)
    if (empty !== undefined) yield ['', decodeValue(this.codecId, empty, 0, empty.length)]
    for (const { key, value } of this.env.data.getRange({ start: FIRST_KEY })) {
      yield [key as unknown as string, decodeValue(this.codecId, value, 0, value.length)]
    }
  }

  *keys(): IterableIterator<string> {
    this.check()
    if (this.env.meta.getBinaryFast(META_EMPTY_KEY) !== undefined) yield ''
    // the key encoder's readKey decodes keys as UTF-8 strings
    for (const key of this.env.data.getKeys({ start: FIRST_KEY })) yield key as unknown as string
  }

  [Symbol.iterator](): IterableIterator<[string, Value]> {
    return this.entries()
  }

  info(): DictInfo {
    this.check()
    const { format_version, keys: _recorded, codec, ...rest } = readInfo(this.path, this.env.meta)
    let bytes: number
    try {
      bytes = statSync(this.path).size
    } catch (err) {
      throw ioError(this.path, err, 'stat the table')
    }
    const stats = this.env.data.getStats() as { pageSize: number; treeDepth: number }
    return {
      path: this.path,
      backend: 'lmdb',
      format_version,
      keys: this.size,
      bytes,
      codec,
      ...rest,
      page_size: stats.pageSize,
      tree_depth: stats.treeDepth,
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    const n = (openForReading.get(this.id) ?? 1) - 1
    if (n > 0) openForReading.set(this.id, n)
    else openForReading.delete(this.id)
    // a read-only root closes synchronously: it has no writes to wait for
    void this.env.root.close()
  }

  /** The encoded value bytes of `key` in lmdb-js's reusable buffer, or undefined. */
  private fetch(key: Key): Buffer | undefined {
    this.check()
    if (typeof key === 'string') {
      if (key.length === 0) return this.env.meta.getBinaryFast(META_EMPTY_KEY)
      // a string of more than MAX_KEY_BYTES/3 UTF-16 units may be too long for any stored key
      if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return undefined
      return this.env.data.getBinaryFast(key)
    }
    if (key.length === 0) return this.env.meta.getBinaryFast(META_EMPTY_KEY)
    if (key.length > MAX_KEY_BYTES) return undefined
    return this.env.data.getBinaryFast(key)
  }

  private check(): void {
    if (this.closed) throw new PagedictError('E_IO', `${this.path}: the table is closed`, { path: this.path })
  }
}
