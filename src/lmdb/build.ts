/**
 * Builds a table into a single-file LMDB environment (the `--backend lmdb` writer).
 *
 * The records are sorted first (sorter.ts), then loaded in key order with MDB_APPEND in one
 * write transaction, the metadata written in the same transaction, and the file published
 * atomically: written beside the target under a temporary name, fsynced, renamed over the
 * target, and the directory fsynced. A failed build removes its temporary files and leaves an
 * old table untouched.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { PagedictError, duplicateKeyError, inputError, ioError } from '../errors.js'
import { tempNames } from '../build/publish.js'
import { CODEC_NAMES, MAX_KEY_BYTES, MAX_VALUE_BYTES, type CodecId } from '../format/layout.js'
import type { OnDuplicate, RecordSource } from '../build/options.js'
import { KeyRange, LMDB_FORMAT_VERSION, META_EMPTY_KEY, lmdbError, openEnv, writeInfo, type LmdbEnv } from './schema.js'
import { RecordSorter, type SortedRecord } from './sorter.js'

export interface LmdbBuildOptions {
  onDuplicate: OnDuplicate
  /** Input paths by input index, for error messages. */
  inputs: string[]
  /** Build options recorded in the table's metadata. */
  metadata: Record<string, unknown>
  /** Bytes of records held in memory before a sorted run is spilled to disk (default 256 MiB). */
  memoryBytes?: number
}

export interface LmdbBuildResult {
  keys: number
  bytes: number
  codec: CodecId
}

const DEFAULT_MEMORY_BYTES = 256 << 20
const APPEND = { append: true }

export async function buildLmdbTable(output: string, source: RecordSource, opts: LmdbBuildOptions): Promise<LmdbBuildResult> {
  const target = resolve(output)
  // The page file's temp naming (.<table>.tmp-<pid>-…): the next build of either backend
  // removes what a killed build left.
  const tmp = tempNames(output).prefix
  const sorter = new RecordSorter(tmp, opts.memoryBytes ?? DEFAULT_MEMORY_BYTES)
  let env: LmdbEnv | undefined
  // fail before reading any input; lmdb-js would otherwise create a missing directory
  try {
    if (!statSync(dirname(target)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' })
  } catch (err) {
    throw ioError(output, err, 'write the table')
  }
  try {
    const summary = await source((key, ks, ke, value, vs, ve, input, line) => {
      if (ke - ks > MAX_KEY_BYTES) {
        throw inputError(opts.inputs[input], line, `key of ${ke - ks} bytes is longer than the limit of ${MAX_KEY_BYTES}`, 'E_KEY_TOO_LONG')
      }
      if (ve - vs > MAX_VALUE_BYTES) {
        throw inputError(opts.inputs[input], line, `value of ${ve - vs} bytes is longer than the limit of ${MAX_VALUE_BYTES}`, 'E_VALUE_TOO_LONG')
      }
      sorter.add(key, ks, ke, value, vs, ve, input, line)
    })
    // LMDB needs a map at least as big as the file; twice the payload plus a per-record
    // allowance covers a fully packed B-tree, and the map still grows on demand if short.
    env = openEnv(tmp, 'build', Math.max(1 << 20, 2 * (sorter.payloadBytes + 32 * sorter.count)))
    const loaded = env
    let keys: number
    try {
      keys = loaded.root.transactionSync(() => {
        const n = load(loaded, sorter, opts)
        writeInfo(loaded.meta, {
          format_version: LMDB_FORMAT_VERSION,
          codec: CODEC_NAMES[summary.codec],
          keys: n,
          build_time: Date.now(),
          inputs: opts.inputs,
          build: { ...opts.metadata, ...summary.describe, on_duplicate: opts.onDuplicate },
        })
        return n
      })
      await loaded.root.close()
    } catch (err) {
      throw err instanceof PagedictError ? err : lmdbError(output, err, 'write the LMDB table')
    }
    env = undefined
    publish(tmp, target)
    return { keys, bytes: statSync(target).size, codec: summary.codec }
  } catch (err) {
    if (env) await env.root.close().catch(() => undefined)
    for (const f of [tmp, `${tmp}-lock`]) {
      try {
        removeQuietly(f)
      } catch {
        // the build's own error is the one to report; a leftover temp file is named after it
      }
    }
    throw err
  } finally {
    sorter.cleanup()
  }
}

/** Write the sorted records; returns the number of distinct keys. */
function load(env: LmdbEnv, sorter: RecordSorter, opts: LmdbBuildOptions): number {
  const { onDuplicate, inputs } = opts
  const range = new KeyRange()
  const prev = Buffer.alloc(MAX_KEY_BYTES)
  let prevLen = -1
  let groupInput = 0
  let groupLine = 0
  let groupRepeats = 0
  let keys = 0
  // Under 'error' the whole input is checked and the duplicate whose repeat comes first in the
  // input is reported, the one a streaming check would have stopped at.
  let dup: { key: string; firstInput: number; firstLine: number; input: number; line: number } | undefined
  sorter.forEachSorted((r: SortedRecord) => {
    const len = r.keyEnd - r.keyStart
    if (len === prevLen && r.buf.compare(prev, 0, len, r.keyStart, r.keyEnd) === 0) {
      if (onDuplicate === 'error' && groupRepeats++ === 0 && (!dup || r.input < dup.input || (r.input === dup.input && r.line < dup.line))) {
        dup = { key: r.buf.toString('utf8', r.keyStart, r.keyEnd), firstInput: groupInput, firstLine: groupLine, input: r.input, line: r.line }
      }
      if (onDuplicate === 'last') put(env, range, r, false)
      return
    }
    r.buf.copy(prev, 0, r.keyStart, r.keyEnd)
    prevLen = len
    groupInput = r.input
    groupLine = r.line
    groupRepeats = 0
    keys++
    put(env, range, r, true)
  })
  if (dup) {
    throw duplicateKeyError(inputs, dup, { input: dup.firstInput, line: dup.firstLine }, dup.key)
  }
  return keys
}

/** Append a new key, or (append = false) overwrite the last one written under 'last'. */
function put(env: LmdbEnv, range: KeyRange, r: SortedRecord, append: boolean): void {
  const value = r.buf.subarray(r.valueStart, r.valueEnd)
  // LMDB has no zero-length keys: the empty key's value lives in the meta database
  if (r.keyEnd === r.keyStart) {
    env.meta.putSync(META_EMPTY_KEY, value)
    return
  }
  range.bytes = r.buf
  range.start = r.keyStart
  range.end = r.keyEnd
  // lmdb-js types putSync as void; it returns false when LMDB refuses (a key out of order)
  const ok: unknown = append ? env.data.putSync(range, value, APPEND) : env.data.putSync(range, value)
  if (ok === false) throw new PagedictError('E_CORRUPT', 'LMDB refused a key out of order while loading; this is a bug in pagedict')
}

/**
 * Move the finished file into place. The old table's lock file is replaced too: LMDB readers
 * take the current transaction id from the lock file, so a new data file must never be read
 * through a lock file initialised from the old one. Readers still holding the old file keep
 * their (now unlinked) file and lock file and go on working.
 */
function publish(tmp: string, target: string): void {
  const lock = `${target}-lock`
  try {
    const fd = openSync(tmp, 'r+')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    removeQuietly(`${tmp}-lock`)
    renameSync(tmp, target)
    removeQuietly(lock)
    // a fresh, empty lock file lets readers open the table without write access to the directory
    try {
      closeSync(openSync(lock, 'wx', 0o664))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const dir = openSync(dirname(target), 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
  } catch (err) {
    throw ioError(target, err, 'publish the LMDB table')
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(path, err, 'remove a temporary file')
  }
}
