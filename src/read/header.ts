/**
 * Reading and checking a page-file table's header region and its shard files: what open()
 * does before any lookup, and what the builder asks of a table it is about to replace.
 */
import fs from 'node:fs'
import path from 'node:path'
import { crc32 } from '../format/crc32.js'
import { PagedictError, ioError } from '../errors.js'
import {
  H_CHECKSUM_OFF,
  TABLE_MAGIC,
  type TableHeader,
  checkTablePrefix,
  decodeTableHeader,
  hex,
} from '../format/layout.js'
import { isLmdbFile } from '../lmdb/dict.js'

/** Is this the start of a table file of either backend? */
export function isTableFile(first: Uint8Array): boolean {
  return isPageFile(first) || isLmdbFile(first)
}

export function isPageFile(first: Uint8Array): boolean {
  return first.length >= 8 && TABLE_MAGIC.equals(first.subarray(0, 8))
}

/**
 * Check and decode the header region at the start of `bytes` (a mapping or a read of the
 * table file): magic, version, checksum, then every field. `fileLength` is the file's size.
 */
export function readTableHeader(bytes: Buffer, file: string, fileLength: number): TableHeader {
  if (fileLength < 4096) {
    if (fileLength >= 8 && isPageFile(bytes)) {
      throw new PagedictError('E_TRUNCATED', `${file}: truncated table: ${fileLength} bytes, shorter than its header page`, { path: file, got: fileLength })
    }
    checkTablePrefix(bytes, file) // throws E_MAGIC
  }
  const headerBytes = checkTablePrefix(bytes, file)
  if (headerBytes > fileLength) {
    throw new PagedictError('E_TRUNCATED', `${file}: truncated table: ${fileLength} bytes, its header alone needs ${headerBytes}`, {
      path: file,
      got: fileLength,
      expected: headerBytes,
    })
  }
  const region = Buffer.from(bytes.subarray(0, headerBytes)) // a copy: the checksum is zeroed in it
  const stored = region.readUInt32LE(H_CHECKSUM_OFF)
  region.writeUInt32LE(0, H_CHECKSUM_OFF)
  const actual = crc32(region)
  if (stored !== actual) {
    throw new PagedictError('E_CHECKSUM', `${file}: header checksum is ${hex(stored)}, computed ${hex(actual)}; the table is damaged, rebuild it`, {
      path: file,
      got: stored,
      expected: actual,
    })
  }
  const header = decodeTableHeader(region, file)
  const inline = header.shards[0].name === ''
  const expected = inline ? header.shards[0].fileLength : headerBytes
  if (fileLength !== expected) {
    throw new PagedictError(
      fileLength < expected ? 'E_TRUNCATED' : 'E_CORRUPT',
      `${file}: table file is ${fileLength} bytes, its header says ${expected}; ${fileLength < expected ? 'it was truncated' : 'it has trailing bytes'}, rebuild it`,
      { path: file, got: fileLength, expected },
    )
  }
  return header
}

/** Read just the header region of a table file (no mapping). */
export function readHeaderFromFile(file: string): TableHeader {
  let fd = -1
  try {
    fd = fs.openSync(file, 'r')
    const size = fs.fstatSync(fd).size
    const first = Buffer.alloc(Math.min(size, 4096))
    fs.readSync(fd, first, 0, first.length, 0)
    let region = first
    if (size >= 4096 && isPageFile(first)) {
      const headerBytes = checkTablePrefix(first, file)
      region = Buffer.alloc(Math.min(headerBytes, size))
      fs.readSync(fd, region, 0, region.length, 0)
    }
    return readTableHeader(region, file, size)
  } catch (err) {
    if (err instanceof PagedictError) throw err
    throw ioError(file, err, 'read the table')
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}

/** The external shard files of the page-file table at `file`; [] when it has none or is unreadable. */
export function tableShardPaths(file: string): string[] {
  try {
    const header = readHeaderFromFile(file)
    const dir = path.dirname(path.resolve(file))
    return header.shards.filter((s) => s.name !== '').map((s) => path.join(dir, s.name))
  } catch {
    return [] // not a page file (an LMDB table) or damaged: nothing of ours to unlink
  }
}
