/**
 * Atomic publish. A build writes only files of its own, named `.<table>.tmp-<pid>-<rand>…`
 * in the target directory (the same file system, so rename is atomic), fsyncs them, renames
 * new shards into place under new names, renames the table file over the target, fsyncs the
 * directory, and only then unlinks the old build's shards. A file that may be mapped is
 * never truncated or rewritten: readers of the old table keep their pages.
 *
 * A build that dies leaves only dot-files whose pid is dead; the next build of the same
 * table removes them.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { PagedictError, ioError } from '../errors.js'
import { SHARD_NAME_BYTES } from '../format/layout.js'

export interface TempNames {
  dir: string
  base: string
  /** Prefix of every temporary path of this build. */
  prefix: string
}

export function tempNames(output: string): TempNames {
  const dir = path.dirname(path.resolve(output))
  const base = path.basename(output)
  const prefix = path.join(dir, `.${base}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`)
  return { dir, base, prefix }
}

/** Remove temporary files of earlier builds of `output` whose process is gone. */
export function cleanLeftovers(output: string): string[] {
  const dir = path.dirname(path.resolve(output))
  const lead = `.${path.basename(output)}.tmp-`
  const removed: string[] = []
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch (err) {
    throw ioError(dir, err, 'list the output directory')
  }
  for (const name of names) {
    if (!name.startsWith(lead)) continue
    const pid = Number.parseInt(name.slice(lead.length), 10)
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue
    fs.rmSync(path.join(dir, name), { recursive: true, force: true })
    removed.push(name)
  }
  return removed
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The final file name of shard `index` of a build: new per build, never reused. */
export function shardFileName(base: string, buildId: Buffer, index: number): string {
  const id = buildId.toString('hex').slice(0, 12)
  const name = `${base}.${id}.${index}.pdshard`
  return Buffer.byteLength(name) <= SHARD_NAME_BYTES ? name : `pdshard.${buildId.toString('hex')}.${index}`
}

export function fsyncFile(fd: number, file: string): void {
  try {
    fs.fsyncSync(fd)
  } catch (err) {
    throw ioError(file, err, 'flush to disk')
  }
}

/** Write all of `buf` at `position` in the open file `fd` (`file` names it in errors). */
export function writeAt(fd: number, file: string, buf: Buffer, position: number): void {
  try {
    let done = 0
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done)
  } catch (err) {
    throw ioError(file, err, 'write the table')
  }
}

function fsyncDir(dir: string): void {
  let fd = -1
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Some file systems refuse fsync on a directory; the renames are still atomic there.
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}

/**
 * Refuse to replace a file that is not a table: a slip of `-o` must not eat an input.
 * Returns true when `output` exists (and is a table).
 */
export function checkReplaceable(output: string, isTable: (first: Buffer) => boolean): boolean {
  let fd: number
  try {
    fd = fs.openSync(output, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw ioError(output, err, 'open the existing output')
  }
  try {
    const first = Buffer.alloc(64)
    let n: number
    try {
      n = fs.readSync(fd, first, 0, 64, 0)
    } catch (err) {
      // EISDIR: -o names a directory (opening one for reading succeeds on Linux)
      throw ioError(output, err, 'replace the output')
    }
    if (n === 0 || isTable(first.subarray(0, n))) return true
  } finally {
    fs.closeSync(fd)
  }
  throw new PagedictError('E_OPTION', `${output}: exists and is not a pagedict table; refusing to replace it (remove it or choose another -o)`, {
    path: output,
    option: 'output',
  })
}

/**
 * Move the finished files into place: shards first (new names, nothing refers to them
 * yet), then the table file over the target, then unlink `oldShards`.
 */
export function publish(tableTemp: string, output: string, shards: { temp: string; final: string }[], oldShards: string[]): void {
  try {
    for (const s of shards) fs.renameSync(s.temp, s.final)
    fs.renameSync(tableTemp, output)
  } catch (err) {
    throw ioError(output, err, 'publish the table')
  }
  fsyncDir(path.dirname(path.resolve(output)))
  const keep = new Set(shards.map((s) => path.resolve(s.final)))
  for (const old of oldShards) if (!keep.has(path.resolve(old))) fs.rmSync(old, { force: true })
}
