/**
 * Pass 2 of a page-file build: lay records out in pages, in bucket order, and write one
 * shard's pages sequentially. A record goes to its home page or, when that page is full,
 * to the next page with room (linear probing a page at a time); the page it leaves marks
 * itself PAGE_CONTINUES so a lookup knows to read on. docs/FORMAT.md, "Data pages".
 */
import fs from 'node:fs'
import zlib from 'node:zlib'
import { ioError } from '../errors.js'
import { copyBytesWide, viewOfBytes } from '../bytes.js'
import {
  DIRECTORY_BYTES_PER_RECORD,
  MAX_INLINE_VALUE_BYTES,
  MAX_SPILL_PAGES,
  PAGE_CONTINUES,
  PAGE_SIZE,
  P_CHECKSUM_OFF,
  P_COUNT_OFF,
  P_FINGERPRINTS_OFF,
  P_FLAGS_OFF,
  P_HEADER_BYTES,
  P_OVERFLOW_OFF,
  type ShardEntry,
  VALUE_REF_BYTES,
  OFFSET_BITS,
  fingerprintExtensionOf,
  fingerprintOf,
  overflowBitOf,
  varintSize,
  writeU64,
  writeVarint,
} from '../format/layout.js'

/** Thrown when a record would land more than MAX_SPILL_PAGES past its home: reseed. */
export class SpillTooLong extends Error {
  constructor(readonly spill: number) {
    super(`a page spill of ${spill} pages exceeds ${MAX_SPILL_PAGES}`)
  }
}

/** Bytes a record takes in a page, its directory entry included. */
export function recordPageBytes(keyLen: number, valueLen: number): number {
  const external = valueLen > MAX_INLINE_VALUE_BYTES
  const stored = external ? VALUE_REF_BYTES : valueLen
  return DIRECTORY_BYTES_PER_RECORD + varintSize(keyLen) + varintSize(valueLen * 2 + 1) + keyLen + stored
}

const WRITE_BUFFER_PAGES = 256 // 1 MiB of pages per write call
/** Bytes written between two early syncs (see EarlySync). */
const SYNC_EVERY_BYTES = 64 << 20

/**
 * Starts the disk writing early: after every SYNC_EVERY_BYTES written, an fdatasync in the
 * thread pool, on another core, while packing goes on; the fsync before publishing, which
 * must wait for every byte, then finds little left (5M keys: the final fsync 65-85 ms ->
 * 18-23 ms, pass 2 median 978 -> 937 ms over 8 interleaved runs). The syncs use a
 * descriptor of their own, closed by the last one to return, so closing the packer's never
 * races a sync in flight. Their results are not needed: a write-back error is reported to
 * every descriptor open on the file, so the final fsync on the packer's own still fails.
 */
class EarlySync {
  private fd = -1
  private inFlight = 0
  private unsynced = 0
  private closing = false

  constructor(private readonly path: string) {}

  wrote(bytes: number): void {
    this.unsynced += bytes
    if (this.unsynced < SYNC_EVERY_BYTES || this.closing) return
    this.unsynced = 0
    try {
      if (this.fd < 0) this.fd = fs.openSync(this.path, 'r')
    } catch {
      return // only an optimisation: the final fsync does the work
    }
    this.inFlight++
    fs.fdatasync(this.fd, () => {
      if (--this.inFlight === 0 && this.closing) this.closeFd()
    })
  }

  close(): void {
    this.closing = true
    if (this.inFlight === 0) this.closeFd()
  }

  private closeFd(): void {
    if (this.fd >= 0) fs.close(this.fd, () => {})
    this.fd = -1
  }
}
/**
 * Pages stay in memory until no later record can spill back to them: a record placed up to
 * MAX_SPILL_PAGES past its home sets a bit in its home page's overflow filter.
 */
const WINDOW_PAGES = MAX_SPILL_PAGES

/**
 * Writes one shard's data pages from `dataOffset` in `fd`. Records must arrive in
 * nondecreasing home-page order.
 */
export class ShardPacker {
  private page = 0 // index of the page being filled
  private readonly records = Buffer.alloc(PAGE_SIZE) // record bytes of the page being filled
  private readonly recordsView = viewOfBytes(this.records)
  private recordFill = 0
  private readonly fingerprints = new Uint8Array(PAGE_SIZE)
  /** Each record's fingerprint extension, already shifted into its offset's top bits. */
  private readonly extensions = new Uint16Array(PAGE_SIZE)
  private readonly offsets = new Uint16Array(PAGE_SIZE)
  /** flushPage's counting sort: where the next entry of each fingerprint goes. */
  private readonly fingerprintSlots = new Uint16Array(257)
  private count = 0
  private maxSpill = 0
  private keys = 0
  private readonly out = Buffer.alloc((WRITE_BUFFER_PAGES + WINDOW_PAGES) * PAGE_SIZE)
  private outPages = 0
  private written = 0 // pages written to the file so far
  private valueFd = -1
  private valueBytes = 0
  private valueChecksum = 0
  private readonly early: EarlySync

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly dataOffset: number,
    readonly firstBucket: number,
    readonly bucketCount: number,
    private readonly valueAreaPath: string,
  ) {
    this.early = new EarlySync(path)
  }

  /** Place one record whose home page (shard-local) is `home`. */
  add(home: number, hashLow: number, key: Uint8Array, keyStart: number, keyLen: number, value: Uint8Array, valueStart: number, valueLen: number): void {
    while (this.page < home) this.flushPage(false)
    const size = recordPageBytes(keyLen, valueLen)
    if (P_HEADER_BYTES + (this.count + 1) * DIRECTORY_BYTES_PER_RECORD + this.recordFill + size - DIRECTORY_BYTES_PER_RECORD > PAGE_SIZE) {
      this.flushPage(true)
    }
    const spill = this.page - home
    if (spill > 0) {
      if (spill > MAX_SPILL_PAGES) throw new SpillTooLong(spill)
      if (spill > this.maxSpill) this.maxSpill = spill
      // The home page is flushed but still in the window (spill <= WINDOW_PAGES).
      const bit = overflowBitOf(hashLow)
      const at = (home - this.written) * PAGE_SIZE + P_OVERFLOW_OFF + (bit >>> 3)
      this.out[at] |= 1 << (bit & 7)
    }
    const rec = this.records
    const external = valueLen > MAX_INLINE_VALUE_BYTES
    this.fingerprints[this.count] = fingerprintOf(hashLow)
    this.extensions[this.count] = fingerprintExtensionOf(hashLow) << OFFSET_BITS
    this.offsets[this.count] = this.recordFill
    let at = writeVarint(rec, this.recordFill, keyLen)
    at = writeVarint(rec, at, valueLen * 2 + (external ? 1 : 0))
    if (!external && value === key && valueStart === keyStart + keyLen) {
      // The build's records keep the value right after the key, as a page does: one copy.
      copyBytesWide(key, keyStart, keyLen + valueLen, rec, this.recordsView, at)
      at += keyLen + valueLen
    } else {
      copyBytesWide(key, keyStart, keyLen, rec, this.recordsView, at)
      at += keyLen
      if (external) {
        writeU64(rec, at, this.appendValue(value, valueStart, valueLen))
        at += VALUE_REF_BYTES
      } else {
        copyBytesWide(value, valueStart, valueLen, rec, this.recordsView, at)
        at += valueLen
      }
    }
    this.recordFill = at
    this.count++
    this.keys++
  }

  private appendValue(value: Uint8Array, start: number, len: number): number {
    const at = this.valueBytes
    try {
      if (this.valueFd < 0) this.valueFd = fs.openSync(this.valueAreaPath, 'w+', 0o600)
      let done = 0
      while (done < len) done += fs.writeSync(this.valueFd, value, start + done, len - done, at + done)
      this.valueChecksum = zlib.crc32(value.subarray(start, start + len), this.valueChecksum)
    } catch (err) {
      throw ioError(this.valueAreaPath, err, 'write the value area')
    }
    this.valueBytes += len
    return at
  }

  private flushPage(continues: boolean): void {
    const page = this.out.subarray(this.outPages * PAGE_SIZE, (this.outPages + 1) * PAGE_SIZE)
    const count = this.count
    const recordsEnd = P_HEADER_BYTES + count * DIRECTORY_BYTES_PER_RECORD + this.recordFill
    // Zero only what the directory and records do not cover: the header and the tail.
    page.fill(0, 0, P_HEADER_BYTES)
    page.fill(0, recordsEnd)
    page.writeUInt16LE(count, P_COUNT_OFF)
    page[P_FLAGS_OFF] = continues ? PAGE_CONTINUES : 0
    // The directory in ascending fingerprint order (write_version 2), by a counting sort that
    // keeps records of equal fingerprints in placement order, so the output is deterministic.
    // The records themselves stay in placement order: only the directory is sorted.
    const fingerprints = this.fingerprints
    const slot = this.fingerprintSlots
    slot.fill(0)
    for (let i = 0; i < count; i++) slot[fingerprints[i] + 1]++
    for (let f = 1; f < 257; f++) slot[f] += slot[f - 1]
    const recordsAt = P_HEADER_BYTES + count * DIRECTORY_BYTES_PER_RECORD
    const offsetsAt = P_FINGERPRINTS_OFF + count
    for (let i = 0; i < count; i++) {
      const fp = fingerprints[i]
      const j = slot[fp]++
      page[P_FINGERPRINTS_OFF + j] = fp
      const offset = (recordsAt + this.offsets[i]) | this.extensions[i]
      page[offsetsAt + 2 * j] = offset & 0xff
      page[offsetsAt + 2 * j + 1] = offset >>> 8
    }
    this.records.copy(page, recordsAt, 0, this.recordFill)
    this.count = 0
    this.recordFill = 0
    this.page++
    if (++this.outPages === WRITE_BUFFER_PAGES + WINDOW_PAGES) this.writeOut(WRITE_BUFFER_PAGES)
  }

  /** Checksum and write the first `pages` buffered pages; the rest move to the front. */
  private writeOut(pages: number): void {
    const bytes = pages * PAGE_SIZE
    for (let at = 0; at < bytes; at += PAGE_SIZE) {
      const page = this.out.subarray(at, at + PAGE_SIZE)
      page.writeUInt32LE(zlib.crc32(page), P_CHECKSUM_OFF)
    }
    const position = this.dataOffset + this.written * PAGE_SIZE
    try {
      let done = 0
      while (done < bytes) done += fs.writeSync(this.fd, this.out, done, bytes - done, position + done)
    } catch (err) {
      throw ioError(this.path, err, 'write the table')
    }
    this.early.wrote(bytes)
    this.out.copyWithin(0, bytes, this.outPages * PAGE_SIZE)
    this.written += pages
    this.outPages -= pages
  }

  /**
   * Flush the last pages (every bucket gets its page; tail pages hold the last spill), copy
   * the value area after the pages, and describe the shard. `name` is filled in by the caller.
   */
  finish(): ShardEntry {
    while (this.page < this.bucketCount || this.count > 0) this.flushPage(false)
    this.writeOut(this.outPages)
    this.early.close()
    const pageCount = this.page
    const valueOffset = this.dataOffset + pageCount * PAGE_SIZE
    if (this.valueFd >= 0) {
      copyRange(this.valueFd, this.valueAreaPath, this.fd, this.path, this.valueBytes, valueOffset)
      fs.closeSync(this.valueFd)
      fs.rmSync(this.valueAreaPath, { force: true })
      this.valueFd = -1
    }
    return {
      firstBucket: this.firstBucket,
      bucketCount: this.bucketCount,
      pageCount,
      maxSpill: this.maxSpill,
      keyCount: this.keys,
      dataOffset: this.dataOffset,
      valueOffset,
      valueLength: this.valueBytes,
      fileLength: valueOffset + this.valueBytes,
      valueChecksum: this.valueChecksum,
      name: '',
    }
  }

  /** Drop the value-area temp file of an abandoned build. */
  abandon(): void {
    this.early.close()
    if (this.valueFd >= 0) {
      fs.closeSync(this.valueFd)
      this.valueFd = -1
    }
    fs.rmSync(this.valueAreaPath, { force: true })
  }
}

function copyRange(fromFd: number, fromPath: string, toFd: number, toPath: string, length: number, toPosition: number): void {
  const buf = Buffer.allocUnsafe(Math.min(length, 4 << 20))
  let done = 0
  while (done < length) {
    let n: number
    try {
      n = fs.readSync(fromFd, buf, 0, Math.min(buf.length, length - done), done)
    } catch (err) {
      throw ioError(fromPath, err, 'read the value area')
    }
    if (n === 0) throw ioError(fromPath, new Error('value area shorter than written'), 'read the value area')
    try {
      let w = 0
      while (w < n) w += fs.writeSync(toFd, buf, w, n - w, toPosition + done + w)
    } catch (err) {
      throw ioError(toPath, err, 'write the table')
    }
    done += n
  }
}
