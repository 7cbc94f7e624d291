/**
 * One partition of pass 1 (partitioner.ts): the records of one hash range, in a staging
 * area, then in-memory chunks, then (after spills) segments of the shared spill file.
 */
import { viewOfBytes } from '../bytes.js'
import { type RecordCallback, emitRecord, recordSizeAt } from './spill-record.js'
import type { SpillFile } from './spill-file.js'

/**
 * Chunks handed back by spills, handed out again: pass 1 then allocates about its memory
 * bound once, instead of a stream of buffers that would only be freed at the next GC.
 */
export class ChunkPool {
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
    /** This partition's staging area, a slice of one buffer all partitions share (why: STAGE_BYTES, partitioner.ts). */
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
