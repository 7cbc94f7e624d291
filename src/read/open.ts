/**
 * open(): recognise a table by its bytes and return the lookup interface. For a page file
 * this is O(1) whatever the size: read and check the header region and each shard's header
 * page, and keep each file open; the segments map their files on first lookup (segment.ts).
 * No data page is read.
 */
import fs from 'node:fs'
import path from 'node:path'
import { crc32 } from '../format/crc32.js'
import { PagedictError, ioError } from '../errors.js'
import { PAGE_SIZE, type ShardEntry, type TableHeader, checkShardHeader, checkTablePrefix } from '../format/layout.js'
import type { Dict } from './dict.js'
import { isPageFile, readTableHeader } from './header.js'
import { isLmdbFile, openLmdb } from '../lmdb/dict.js'
import { PageFileDict } from './pagefile.js'
import { Segment, WindowBudget, readAt } from './segment.js'

/**
 * A table republished between reading its file and opening its shards has unlinked those
 * shards; the new table file is then in place, so opening again reads a whole table.
 */
const REPUBLISH_RETRIES = 3

export function open(file: string): Dict {
  for (let attempt = 1; ; attempt++) {
    try {
      return openOnce(file)
    } catch (err) {
      if (!(err instanceof ShardMissing) || attempt > REPUBLISH_RETRIES || !replacedSince(file, err.tableIno)) {
        throw err instanceof ShardMissing ? err.error : err
      }
    }
  }
}

class ShardMissing extends Error {
  constructor(
    readonly error: PagedictError,
    readonly tableIno: number,
  ) {
    super(error.message)
  }
}

function replacedSince(file: string, ino: number): boolean {
  try {
    return fs.statSync(file).ino !== ino
  } catch {
    return false
  }
}

/**
 * Open flags for a table or shard file: O_NONBLOCK so that a FIFO (a careless path, or a shard
 * name a hostile table points at one) is refused below instead of blocking open() for good.
 * It changes nothing for a regular file.
 */
const READ_NONBLOCK = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0)

function notRegular(file: string, what: string): PagedictError {
  return new PagedictError('E_IO', `${file}: cannot open ${what}: not a regular file`, { path: file })
}

function openOnce(file: string): Dict {
  // One read gets what the LMDB check needs (64 bytes) and, usually, the whole header
  // region: the header is read from this copy, not through the mapping, so open() touches
  // no page of the mapping.
  const first = Buffer.allocUnsafe(PAGE_SIZE)
  let head: Buffer
  let fd = -1
  let size = 0
  let ino = 0
  try {
    fd = fs.openSync(file, READ_NONBLOCK)
    const st = fs.fstatSync(fd)
    if (!st.isFile() && !st.isDirectory()) throw notRegular(file, 'the table')
    size = st.size
    ino = st.ino
    head = first.subarray(0, fs.readSync(fd, first, 0, PAGE_SIZE, 0))
  } catch (err) {
    if (fd >= 0) fs.closeSync(fd)
    throw err instanceof PagedictError ? err : ioError(file, err, 'open the table')
  }
  if (isLmdbFile(head)) {
    // lmdb-js itself loads on this first use (src/lmdb/schema.ts): page-file workers never pay for it.
    fs.closeSync(fd)
    return openLmdb(file)
  }
  let owned = false
  try {
    if (!isPageFile(head)) {
      throw new PagedictError('E_MAGIC', `${file}: not a pagedict table (neither a page file nor LMDB); build one with \`pagedict build\``, { path: file })
    }
    if (size < PAGE_SIZE) {
      throw new PagedictError('E_TRUNCATED', `${file}: truncated table: ${size} bytes, shorter than its header page`, { path: file, got: size })
    }
    const headerBytes = checkTablePrefix(head, file)
    const region = headerBytes > head.length && headerBytes <= size ? readAt(fd, headerBytes, file) : head
    const header = readTableHeader(region, file, size)
    const budget = new WindowBudget()
    let segments: Segment[]
    if (header.shards[0].name === '') {
      // Nothing is mapped yet: the segment keeps the descriptor and maps on first lookup.
      segments = [new Segment(fd, file, header.shards[0], budget)]
      owned = true
    } else segments = openShards(header, file, ino, budget)
    const bytes = size + header.shards.reduce((n, s) => n + (s.name === '' ? 0 : s.fileLength), 0)
    return new PageFileDict(file, header, segments, bytes)
  } finally {
    if (!owned) fs.closeSync(fd)
  }
}

function openShards(header: TableHeader, file: string, tableIno: number, budget: WindowBudget): Segment[] {
  const dir = path.dirname(path.resolve(file))
  const segments: Segment[] = []
  try {
    header.shards.forEach((s, index) => segments.push(openShard(header, file, tableIno, budget, dir, s, index)))
  } catch (err) {
    for (const seg of segments) seg.release()
    throw err
  }
  return segments
}

function openShard(header: TableHeader, file: string, tableIno: number, budget: WindowBudget, dir: string, s: ShardEntry, index: number): Segment {
  const shardFile = path.join(dir, s.name)
  let fd = -1
  try {
    try {
      fd = fs.openSync(shardFile, READ_NONBLOCK)
    } catch (err) {
      const missing = new PagedictError('E_TRUNCATED', `${file}: shard ${index} (${s.name}) is missing: ${(err as Error).message}; rebuild the table`, { path: shardFile, cause: err })
      throw new ShardMissing(missing, tableIno)
    }
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw notRegular(shardFile, `shard ${index} of ${file}`)
    const size = st.size
    if (size !== s.fileLength) {
      throw new PagedictError(size < s.fileLength ? 'E_TRUNCATED' : 'E_CORRUPT', `${shardFile}: shard ${index} is ${size} bytes, the table says ${s.fileLength}; rebuild the table`, {
        path: shardFile,
        got: size,
        expected: s.fileLength,
      })
    }
    // The header page is read and checked at the shard's first use (segment.ts): the
    // descriptor opened here keeps this build's file even if a rebuild unlinks it, and open()
    // reads one page whatever the number of shards (cold, each read is a disk access).
    const checkHeader = (page: Buffer): void => checkShardHeader(page, shardFile, index, header.buildId, s, crc32)
    const seg = new Segment(fd, shardFile, s, budget, checkHeader)
    fd = -1 // the segment has it
    return seg
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}

