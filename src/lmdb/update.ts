/**
 * In-place updates of an LMDB table (`pagedict put` / `pagedict delete`); only this backend can
 * do them. Each call is one write transaction: all of it lands, or (on any error) none of it.
 * LMDB's copy-on-write pages and reader table make it safe while other processes read the
 * table: they keep their snapshot until their current event-loop turn ends.
 */
import { statSync } from 'node:fs'
import { PagedictError, ioError } from '../errors.js'
import { CODEC_JSON, CODEC_LIST, CODEC_NAMES, CODEC_NONE, MAX_KEY_BYTES, MAX_VALUE_BYTES, type CodecId } from '../format/layout.js'
import { decodeValue } from '../format/values.js'
import { isOpenForReading } from './dict.js'
import { META_EMPTY_KEY, lmdbError, openEnv, readInfo, writeInfo, type LmdbEnv, type LmdbTableInfo } from './schema.js'

export type UpdateKey = Uint8Array | string

/** Insert or replace each [key, encoded value]; returns how many entries changed (new or different). */
export function putEntries(path: string, entries: Iterable<[UpdateKey, Uint8Array]>): number {
  return update(path, (env, info, codec) => {
    let changed = 0
    for (const [key, value] of entries) {
      const k = checkKey(path, key)
      checkValue(path, k, value, codec)
      const old = k.length === 0 ? env.meta.getBinaryFast(META_EMPTY_KEY) : env.data.getBinaryFast(k)
      // compare the value's own length: the reusable buffer's byteLength is its capacity
      if (old !== undefined && Buffer.compare(old.subarray(0, old.length), value) === 0) continue
      if (old === undefined) info.keys++
      if (k.length === 0) env.meta.putSync(META_EMPTY_KEY, value)
      else env.data.putSync(k, value)
      changed++
    }
    return changed
  })
}

/** Remove each key; returns how many were present. */
export function deleteKeys(path: string, keys: Iterable<UpdateKey>): number {
  return update(path, (env, info) => {
    let removed = 0
    for (const key of keys) {
      const k = checkKey(path, key)
      if (k.length === 0 ? env.meta.removeSync(META_EMPTY_KEY) : env.data.removeSync(k)) {
        removed++
        info.keys--
      }
    }
    return removed
  })
}

function update(path: string, change: (env: LmdbEnv, info: LmdbTableInfo, codec: CodecId) => number): number {
  let st
  try {
    st = statSync(path)
  } catch (err) {
    throw ioError(path, err, 'open the table')
  }
  if (isOpenForReading(st.dev, st.ino)) {
    throw new PagedictError(
      'E_READONLY',
      `${path}: the table is open for reading in this process, and lmdb-js shares that read-only environment; close() it before updating in place`,
      { path },
    )
  }
  const env = openEnv(path, 'update')
  try {
    return env.root.transactionSync(() => {
      const info = readInfo(path, env.meta)
      const n = change(env, info, CODEC_NAMES.indexOf(info.codec) as CodecId)
      if (n > 0) writeInfo(env.meta, { ...info, update_time: Date.now() })
      return n
    })
  } catch (err) {
    throw err instanceof PagedictError ? err : lmdbError(path, err, 'update the LMDB table')
  } finally {
    // no asynchronous writes were queued, so the root closes before this returns
    void env.root.close()
  }
}

function checkKey(path: string, key: UpdateKey): Uint8Array {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
  if (bytes.length > MAX_KEY_BYTES) {
    throw new PagedictError('E_KEY_TOO_LONG', `${path}: key of ${bytes.length} bytes is longer than the limit of ${MAX_KEY_BYTES}`, {
      path,
      got: bytes.length,
      expected: MAX_KEY_BYTES,
    })
  }
  return bytes
}

/** A value must decode with the table's codec, so every later read of it succeeds. */
function checkValue(path: string, key: Uint8Array, value: Uint8Array, codec: CodecId): void {
  const subject = `${path}: value for key ${JSON.stringify(Buffer.from(key).toString('utf8'))}`
  if (value.length > MAX_VALUE_BYTES) {
    throw new PagedictError('E_VALUE_TOO_LONG', `${subject} is ${value.length} bytes, over the limit of ${MAX_VALUE_BYTES}`, { path })
  }
  if (codec === CODEC_NONE && value.length !== 0) {
    throw new PagedictError('E_INPUT', `${subject}: a key-set table takes no values, got ${value.length} bytes`, { path })
  }
  if (codec === CODEC_LIST || codec === CODEC_JSON) {
    try {
      decodeValue(codec, value, 0, value.length)
    } catch {
      throw new PagedictError('E_INPUT', `${subject} is not an encoded ${CODEC_NAMES[codec]} value; encode it with encodeValue()`, { path })
    }
  }
}
