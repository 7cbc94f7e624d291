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
import { copyWords, viewOfBytes } from '../bytes.js'
import { hashLow, pdhash64 } from '../format/hash.js'
import { readVarint, varintEnd } from '../format/layout.js'
import { ChunkPool, Partition } from './partition.js'
import { type LoadedPartition, type PartitionLoader } from './partition-loader.js'
import { SpillFile } from './spill-file.js'
import { type RecordCallback, encodedRecordSize, skipVarint, writeRecord } from './spill-record.js'

/**
 * Each partition fills chunks of this size: small enough that every partition holding one
 * stays well inside the memory bound, large enough that spills are few big writes.
 */
const MIN_CHUNK_BYTES = 64 << 10
const MAX_CHUNK_BYTES = 1 << 20

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
