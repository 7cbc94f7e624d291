/**
 * Pass 1 of a page-file build: hash every record and append it to the partition that owns
 * its hash range. Partitions live in memory until the memory bound is reached, then spill to
 * files, so a small table never touches the disk and a huge one never outgrows the bound.
 *
 * Partition k owns the records whose high hash half h satisfies
 *   floor(h × count / 2^32) = k,
 * a contiguous range of h and therefore (bucketOf is monotonic in h) a contiguous range of
 * buckets: packing the partitions in order packs the buckets in order. Duplicate keys hash
 * alike and always meet in one partition, which makes --on-duplicate exact.
 *
 * The records' byte format is in spill-record.ts.
 */
import fs from 'node:fs'
import { ioError } from '../errors.js'
import { copyWords, viewOfBytes } from '../bytes.js'
import { hashLow, pdhash64 } from '../format/hash.js'
import { readVarint, varintEnd } from '../format/layout.js'
import { type LoadedPartition, type PartitionLoader } from './partition-loader.js'
import { type RecordCallback, emitRecord, encodedRecordSize, recordSizeAt, skipVarint, writeRecord } from './spill-record.js'

/**
 * Each partition fills chunks of this size: small enough that every partition holding one
 * stays well inside the memory bound, large enough that spills are few big writes.
 */
const MIN_CHUNK_BYTES = 64 << 10
const MAX_CHUNK_BYTES = 1 << 20

/**
 * Chunks handed back by spills, handed out again: pass 1 then allocates about its memory
 * bound once, instead of a stream of buffers that would only be freed at the next GC.
 */
class ChunkPool {
  private free: Buffer[] = []

  constructor(readonly chunkBytes: number) {}

  take(size: number): Buffer {
    if (size <= this.chunkBytes) return this.free.pop() ?? Buffer.allocUnsafe(this.chunkBytes)
    return Buffer.allocUnsafe(size) // one outsized record: its own buffer, not pooled
  }

  give(chunk: Buffer): void {
    if (chunk.length === this.chunkBytes) this.free.push(chunk)
  }

  clear(): void {
    this.free = []
  }
}

/**
 * Software write-combining. Records go first to a small staging area per partition, all of
 * them side by side in one buffer that stays in the CPU caches, and move to the partition's
 * chunk a whole area at a time. Written straight to the chunks, every record started a new
 * cache line in one of a hundred-odd places no prefetcher follows, and its stores waited on
 * memory (5M keys: about 55 ns a record more with 128 partitions than with one). Measured
 * per record at 128 partitions: 147 ns direct, 124 ns with 512-byte areas, 108 with 2048,
 * 107-120 with 4096 and 8192 (past the L2 cache).
 */
const STAGE_BYTES = 2048
/** All staging areas together stay about this size (an L2 cache), down to MIN_STAGE_BYTES each. */
const STAGE_TOTAL_BYTES = 256 << 10
const MIN_STAGE_BYTES = 512

/** A chunk of length 0: a partition that holds none, so its first record takes a new one. */
const NO_CHUNK = Buffer.alloc(0)
const NO_VIEW = viewOfBytes(NO_CHUNK)

/** One hash range's records: in-memory chunks, then (after spills) segments of the spill file. */
export class Partition {
  /** Chunks in use, the last being filled. */
  chunks: Buffer[] = []
  /** Bytes used in each chunk but the last. */
  fills: number[] = []
  /** The last chunk and the bytes used in it: plain fields, as Partitioner#add is hot. */
  chunk: Buffer = NO_CHUNK
  view: DataView = NO_VIEW
  fill = 0
  memoryBytes = 0
  fileBytes = 0
  /** Where its spilled bytes are in the spill file: offset, length, offset, length, ... */
  segments: number[] = []
  records = 0
  /** Records not yet moved to the chunk (their bytes are in memoryBytes already). */
  stageFill = 0

  constructor(
    /** A name for files derived from this partition (a split's spill file). */
    readonly name: string,
    private readonly file: SpillFile,
    readonly hashStart: number, // inclusive, as a 32-bit unsigned value
    readonly hashEnd: number, // exclusive, may be 2^32
    private readonly pool: ChunkPool,
    /** This partition's staging area, a slice of one buffer all partitions share. */
    readonly stage: Buffer,
    readonly stageView: DataView,
  ) {}

  /** Move the staged records to the chunk, whole: a record never straddles two chunks. */
  flushStage(): void {
    const n = this.stageFill
    if (n === 0) return
    if (this.fill + n > this.chunk.length) this.newChunk(n)
    this.stage.copy(this.chunk, this.fill, 0, n)
    this.fill += n
    this.stageFill = 0
  }

  /** Start a chunk with room for `size` bytes; it becomes `chunk`, with `fill` 0. */
  newChunk(size: number): Buffer {
    if (this.chunks.length > 0) this.fills.push(this.fill)
    const chunk = this.pool.take(size)
    this.chunks.push(chunk)
    this.chunk = chunk
    this.view = viewOfBytes(chunk)
    this.fill = 0
    return chunk
  }

  /** Bytes used in chunk i. */
  filled(i: number): number {
    return i === this.chunks.length - 1 ? this.fill : this.fills[i]
  }

  private dropChunks(): void {
    this.stageFill = 0
    this.chunks = []
    this.fills = []
    this.chunk = NO_CHUNK
    this.view = NO_VIEW
    this.fill = 0
    this.memoryBytes = 0
  }

  /** Append the chunks to the spill file, as one segment. */
  spill(): void {
    this.flushStage()
    if (this.memoryBytes === 0) return
    let at = -1
    for (let i = 0; i < this.chunks.length; i++) {
      const offset = this.file.append(this.chunks[i], this.filled(i))
      if (at < 0) at = offset
    }
    this.segments.push(at, this.memoryBytes)
    this.fileBytes += this.memoryBytes
    for (const c of this.chunks) this.pool.give(c)
    this.dropChunks()
  }

  /** The partition's bytes, read into `out` (grown when too small); returns the buffer used. */
  load(out: Buffer): Buffer {
    this.flushStage()
    const total = this.fileBytes + this.memoryBytes
    if (out.length < total) out = Buffer.allocUnsafe(Math.max(total, Math.floor(out.length * 1.5)))
    let pos = 0
    for (let s = 0; s < this.segments.length; s += 2) {
      this.file.read(out, pos, this.segments[s + 1], this.segments[s])
      pos += this.segments[s + 1]
    }
    for (let i = 0; i < this.chunks.length; i++) pos += this.chunks[i].copy(out, pos, 0, this.filled(i))
    return out
  }

  get bytes(): number {
    return this.fileBytes + this.memoryBytes
  }

  /**
   * Call `each` for every record in order without loading the partition whole: each spilled
   * segment (whole records) is read in pieces (grown only to fit one record), then the
   * in-memory chunks.
   */
  forEachRecord(each: RecordCallback): void {
    this.flushStage()
    let buf = Buffer.allocUnsafe(4 << 20)
    let have = 0
    const drain = (final: boolean): void => {
      let pos = 0
      for (;;) {
        const size = recordSizeAt(buf, pos, have)
        if (size < 0 || pos + size > have) break
        emitRecord(buf, pos, each)
        pos += size
      }
      if (final && pos !== have) throw new Error(`${this.file.path}: spill file ends inside a record`)
      buf.copy(buf, 0, pos, have)
      have -= pos
    }
    for (let s = 0; s < this.segments.length; s += 2) {
      let filePos = this.segments[s]
      const end = filePos + this.segments[s + 1]
      while (filePos < end) {
        if (have === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2)
          buf.copy(bigger, 0, 0, have)
          buf = bigger
        }
        const n = Math.min(buf.length - have, end - filePos)
        this.file.read(buf, have, n, filePos)
        have += n
        filePos += n
        drain(false)
      }
      drain(true)
    }
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i].subarray(0, this.filled(i))
      let pos = 0
      while (pos < c.length) pos += emitRecord(c, pos, each)
    }
  }

  release(): void {
    this.dropChunks()
    this.segments = []
    this.fileBytes = 0
  }
}

/**
 * The one file all partitions of a Partitioner spill to, held open: each spill appends every
 * partition's chunks, one segment per partition. A file per partition cost a file creation
 * per partition and spill, and an unlink each (5M keys, 128 partitions, 3 spills: median
 * build 1964 -> 1848 ms over 5 interleaved runs, both passes about 50 ms faster).
 * It is created at the first spill, so a build that fits in memory writes none.
 */
class SpillFile {
  private fd = -1
  private end = 0

  constructor(readonly path: string) {}

  /** Append buf[0, n); returns the offset it was written at. */
  append(buf: Buffer, n: number): number {
    const at = this.end
    try {
      if (this.fd < 0) this.fd = fs.openSync(this.path, 'w+', 0o600)
      let done = 0
      while (done < n) done += fs.writeSync(this.fd, buf, done, n - done, at + done)
    } catch (err) {
      throw ioError(this.path, err, 'write a build spill file')
    }
    this.end += n
    return at
  }

  /** Read `length` bytes at `position` into out at `at`. */
  read(out: Buffer, at: number, length: number, position: number): void {
    try {
      let done = 0
      while (done < length) {
        const n = fs.readSync(this.fd, out, at + done, length - done, position + done)
        if (n === 0) throw new Error('spill file shorter than written')
        done += n
      }
    } catch (err) {
      throw ioError(this.path, err, 'read a build spill file')
    }
  }

  remove(): void {
    if (this.fd < 0) return
    fs.closeSync(this.fd)
    this.fd = -1
    fs.rmSync(this.path, { force: true })
  }
}

export interface PartitionStats {
  records: number
  keyBytes: number
  /** Bytes every record will take in a page (directory entry included), summed. */
  pageBytes: number
  /** Bytes of values too long to stay inline, summed (they go to the value area). */
  valueAreaBytes: number
}

export class Partitioner {
  readonly parts: Partition[]
  private readonly pool: ChunkPool
  private readonly file: SpillFile
  private memoryBytes = 0
  /** Bytes of each partition's staging area. */
  private readonly stageBytes: number
  /** partOf's arithmetic: the first hash, partitions per hash value, and every range's start then the last end. */
  private readonly first: number
  private readonly scale: number
  private readonly bounds: Float64Array
  readonly stats: PartitionStats = { records: 0, keyBytes: 0, pageBytes: 0, valueAreaBytes: 0 }

  /**
   * @param count number of hash ranges
   * @param filePrefix path prefix of the spill files (in a directory the caller removes)
   * @param memoryLimit bytes of records held in memory before everything spills
   * @param recordPageBytes bytes a record of (key, value) lengths costs in a page
   */
  constructor(
    count: number,
    filePrefix: string,
    private readonly memoryLimit: number,
    private readonly seedLow: number,
    private readonly seedHigh: number,
    private readonly recordPageBytes: (keyLen: number, valueLen: number) => number,
    private readonly inlineLimit: number,
    hashStart = 0,
    hashEnd = 4294967296,
  ) {
    this.parts = []
    const span = hashEnd - hashStart
    this.first = hashStart
    this.scale = count / span
    this.bounds = new Float64Array(count + 1)
    this.file = new SpillFile(`${filePrefix}.spill`)
    this.pool = new ChunkPool(Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, Math.floor(memoryLimit / count / 2))))
    this.stageBytes = Math.max(MIN_STAGE_BYTES, Math.min(STAGE_BYTES, Math.floor(STAGE_TOTAL_BYTES / count)))
    const stages = Buffer.allocUnsafe(count * this.stageBytes)
    for (let k = 0; k < count; k++) {
      const lo = hashStart + Math.ceil((span * k) / count)
      const hi = hashStart + Math.ceil((span * (k + 1)) / count)
      const stage = stages.subarray(k * this.stageBytes, (k + 1) * this.stageBytes)
      this.parts.push(new Partition(`${filePrefix}-${k}`, this.file, lo, hi, this.pool, stage, viewOfBytes(stage)))
      this.bounds[k] = lo
      this.bounds[k + 1] = hi
    }
  }

  /** Add one record; hashes with the build's seed unless the hash is given (a re-split). */
  add(
    key: Uint8Array,
    keyStart: number,
    keyEnd: number,
    value: Uint8Array,
    valueStart: number,
    valueEnd: number,
    inputIndex: number,
    line: number,
    knownHigh = -1,
    knownLow = 0,
  ): void {
    let high = knownHigh
    let low = knownLow
    if (high < 0) {
      high = pdhash64(key, keyStart, keyEnd, this.seedLow, this.seedHigh)
      low = hashLow
    }
    const keyLen = keyEnd - keyStart
    const valueLen = valueEnd - valueStart
    const size = encodedRecordSize(inputIndex, line, keyLen, valueLen)
    const part = this.partOf(high)
    if (size <= this.stageBytes) {
      if (part.stageFill + size > this.stageBytes) part.flushStage()
      part.stageFill = writeRecord(part.stage, part.stageView, part.stageFill, high, low, inputIndex, line, key, keyStart, keyLen, value, valueStart, valueLen)
    } else {
      // A long record goes straight to the chunk, after the records staged before it.
      part.flushStage()
      if (part.fill + size > part.chunk.length) part.newChunk(size)
      part.fill = writeRecord(part.chunk, part.view, part.fill, high, low, inputIndex, line, key, keyStart, keyLen, value, valueStart, valueLen)
    }
    this.account(part, size, keyLen, valueLen)
  }

  /**
   * Add one record already in the spill format, but for its hashes (filled in here), at `pos`
   * in `src`, whose DataView is `view`: the input read by a worker thread (read-worker.ts).
   * Returns the position after it.
   */
  addEncoded(src: Buffer, view: DataView, pos: number): number {
    let at = skipVarint(src, pos + 8) // input index
    at = skipVarint(src, at) // line
    let keyLen = src[at++]
    if (keyLen >= 0x80) {
      keyLen = readVarint(src, at - 1, src.length)
      at = varintEnd
    }
    let valueLen = src[at++]
    if (valueLen >= 0x80) {
      valueLen = readVarint(src, at - 1, src.length)
      at = varintEnd
    }
    const size = at - pos + keyLen + valueLen
    // Hashed here, not in the worker: its parsing alone takes as long as this thread's share.
    const high = pdhash64(src, at, at + keyLen, this.seedLow, this.seedHigh)
    view.setUint32(pos, high, true)
    view.setUint32(pos + 4, hashLow, true)
    const part = this.partOf(high)
    if (size <= this.stageBytes) {
      if (part.stageFill + size > this.stageBytes) part.flushStage()
      copyWords(view, pos, size, part.stageView, part.stageFill) // size >= 12: the hashes alone are 8
      part.stageFill += size
    } else {
      part.flushStage()
      if (part.fill + size > part.chunk.length) part.newChunk(size)
      src.copy(part.chunk, part.fill, pos, pos + size)
      part.fill += size
    }
    this.account(part, size, keyLen, valueLen)
    return pos + size
  }

  private account(part: Partition, size: number, keyLen: number, valueLen: number): void {
    part.memoryBytes += size
    part.records++
    this.memoryBytes += size
    const s = this.stats
    s.records++
    s.keyBytes += keyLen
    s.pageBytes += this.recordPageBytes(keyLen, valueLen)
    if (valueLen > this.inlineLimit) s.valueAreaBytes += valueLen
    if (this.memoryBytes > this.memoryLimit) this.spillAll()
  }

  private partOf(high: number): Partition {
    // Ranges are near-equal, so a scaled guess lands on the right one or a neighbour.
    const bounds = this.bounds
    const last = bounds.length - 2
    let k = Math.min(last, Math.floor((high - this.first) * this.scale))
    while (high < bounds[k]) k--
    while (high >= bounds[k + 1]) k++
    return this.parts[k]
  }

  spillAll(): void {
    for (const p of this.parts) p.spill()
    this.memoryBytes = 0
  }

  /** Bytes a partition holds (memory and file). */
  sizeOf(k: number): number {
    return this.parts[k].memoryBytes + this.parts[k].fileBytes
  }

  /**
   * Parse partition k into arrays. Its bytes stay (memory or file) until release(). The
   * result lives in `into`'s reused buffers: valid until the next load into it. Reuse keeps
   * the build's memory at one partition: freed buffers would wait for a GC.
   */
  load(k: number, into: PartitionLoader): LoadedPartition {
    const part = this.parts[k]
    return into.parse(part, part.records)
  }

  forEachRecord(k: number, each: RecordCallback): void {
    this.parts[k].forEachRecord(each)
  }

  release(): void {
    for (const p of this.parts) p.release()
    this.file.remove()
    this.pool.clear()
    this.memoryBytes = 0
  }
}
