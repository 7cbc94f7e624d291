/**
 * Puts a build's records in key order in bounded memory: records are copied into memory until
 * the budget is reached, then sorted and spilled as a run file; at the end the runs are merged.
 *
 * Why sort at all: LMDB loads keys in order with MDB_APPEND (no tree search, pages filled to the
 * brim: a 1M-key table is ~30% smaller than one loaded in input order), and equal keys arrive
 * next to each other, in input order, with their origins, so duplicates are resolved exactly
 * across the whole input without an index of every key seen.
 *
 * A record, in memory and in run files: u16 key length, u32 value length, u32 input index,
 * u32 line (all little-endian), the key bytes, the value bytes.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'

const HEADER = 14
const CHUNK_BYTES = 4 << 20
/** Index bytes per record in memory: chunk, offset, key length, sort prefix, sort order. */
const INDEX_BYTES = 4 + 4 + 2 + 8 + 4
const IO_BYTES = 1 << 20

/** One record handed to the consumer; its bytes are valid until the consumer returns. */
export interface SortedRecord {
  buf: Buffer
  keyStart: number
  keyEnd: number
  valueStart: number
  valueEnd: number
  input: number
  line: number
}

function copyBytes(src: Uint8Array, start: number, end: number, dst: Buffer, pos: number): void {
  if (end - start <= 32) for (let i = start; i < end; i++) dst[pos++] = src[i]
  else dst.set(src.subarray(start, end), pos)
}

/** Compare a[as, as+al) with b[bs, bs+bl) the way LMDB orders keys: bytes, then length. */
function compareKeys(a: Uint8Array, as: number, al: number, b: Uint8Array, bs: number, bl: number): number {
  const n = al < bl ? al : bl
  for (let i = 0; i < n; i++) {
    const d = a[as + i] - b[bs + i]
    if (d !== 0) return d
  }
  return al - bl
}

export class RecordSorter {
  /** Run files written so far; removed by cleanup(). */
  readonly runFiles: string[] = []
  /** Records and key+value bytes taken in. */
  count = 0
  payloadBytes = 0

  private chunks: Buffer[] = []
  private chunk = -1
  private chunkPos = 0
  private n = 0
  private recChunk = new Uint32Array(1024)
  private recOff = new Uint32Array(1024)
  private keyLen = new Uint16Array(1024)
  private prefix = new Float64Array(1024)
  private used = 0

  constructor(
    private readonly tmpBase: string,
    private readonly budget: number,
  ) {}

  add(key: Uint8Array, ks: number, ke: number, value: Uint8Array, vs: number, ve: number, input: number, line: number): void {
    const size = HEADER + (ke - ks) + (ve - vs)
    if (this.n > 0 && this.used + size + INDEX_BYTES > this.budget) this.spill()
    if (this.chunk < 0 || this.chunkPos + size > this.chunks[this.chunk].length) this.nextChunk(size)
    const buf = this.chunks[this.chunk]
    let pos = this.chunkPos
    if (this.n === this.recOff.length) this.growIndex()
    this.recChunk[this.n] = this.chunk
    this.recOff[this.n] = pos
    this.keyLen[this.n] = ke - ks
    // the first 6 key bytes as a number settle most comparisons without a byte loop
    let p = 0
    for (let i = 0; i < 6; i++) p = p * 256 + (ks + i < ke ? key[ks + i] : 0)
    this.prefix[this.n++] = p
    buf.writeUInt16LE(ke - ks, pos)
    buf.writeUInt32LE(ve - vs, pos + 2)
    buf.writeUInt32LE(input, pos + 6)
    buf.writeUInt32LE(line, pos + 10)
    pos += HEADER
    copyBytes(key, ks, ke, buf, pos)
    copyBytes(value, vs, ve, buf, pos + (ke - ks))
    this.chunkPos = pos + (ke - ks) + (ve - vs)
    this.used += size + INDEX_BYTES
    this.count++
    this.payloadBytes += size - HEADER
  }

  /** Calls `visit` for every record in key order; equal keys come in input order. */
  forEachSorted(visit: (r: SortedRecord) => void): void {
    if (this.runFiles.length === 0) {
      const rec: SortedRecord = { buf: Buffer.alloc(0), keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, input: 0, line: 0 }
      for (const i of this.sortedOrder()) {
        const buf = this.chunks[this.recChunk[i]]
        const at = this.recOff[i]
        rec.buf = buf
        readRecord(buf, at, rec)
        visit(rec)
      }
      return
    }
    if (this.n > 0) this.spill()
    mergeRuns(this.runFiles, visit)
  }

  /** Remove the run files (safe to call more than once). */
  cleanup(): void {
    for (const f of this.runFiles.splice(0)) {
      try {
        unlinkSync(f)
      } catch {
        // already gone: cleanup runs on both the success and the failure path
      }
    }
    this.chunks = []
  }

  private nextChunk(size: number): void {
    // reuse chunks kept from before the last spill; an oversized record gets a chunk of its own
    this.chunk++
    if (this.chunk < this.chunks.length && this.chunks[this.chunk].length >= size) {
      this.chunkPos = 0
      return
    }
    this.chunks.length = this.chunk
    this.chunks.push(Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size)))
    this.chunkPos = 0
  }

  private growIndex(): void {
    const grow = <T extends Uint32Array | Uint16Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(a.length * 2)
      b.set(a)
      return b
    }
    this.recChunk = grow(this.recChunk, (n) => new Uint32Array(n))
    this.recOff = grow(this.recOff, (n) => new Uint32Array(n))
    this.keyLen = grow(this.keyLen, (n) => new Uint16Array(n))
    this.prefix = grow(this.prefix, (n) => new Float64Array(n))
  }

  private sortedOrder(): Uint32Array {
    const { chunks, recChunk, recOff, keyLen, prefix } = this
    const order = new Uint32Array(this.n)
    for (let i = 0; i < order.length; i++) order[i] = i
    // ties fall back to arrival order, so equal keys stay in input order
    return order.sort(
      (a, b) =>
        prefix[a] - prefix[b] ||
        compareKeys(chunks[recChunk[a]], recOff[a] + HEADER, keyLen[a], chunks[recChunk[b]], recOff[b] + HEADER, keyLen[b]) ||
        a - b,
    )
  }

  private spill(): void {
    const path = `${this.tmpBase}.run${this.runFiles.length}`
    this.runFiles.push(path)
    const fd = openSync(path, 'wx', 0o600)
    try {
      const out = Buffer.allocUnsafe(IO_BYTES)
      let pos = 0
      for (const i of this.sortedOrder()) {
        const buf = this.chunks[this.recChunk[i]]
        const at = this.recOff[i]
        const size = HEADER + buf.readUInt16LE(at) + buf.readUInt32LE(at + 2)
        if (pos + size > out.length) {
          writeAll(fd, out, pos)
          pos = 0
        }
        if (size > out.length) writeAll(fd, buf.subarray(at, at + size), size)
        else {
          buf.copy(out, pos, at, at + size)
          pos += size
        }
      }
      writeAll(fd, out, pos)
    } finally {
      closeSync(fd)
    }
    this.n = 0
    this.used = 0
    this.chunk = -1
    // keep the regular chunks for the next run; drop any oversized one
    this.chunks = this.chunks.filter((c) => c.length === CHUNK_BYTES)
  }
}

function writeAll(fd: number, buf: Uint8Array, len: number): void {
  for (let done = 0; done < len; ) done += writeSync(fd, buf, done, len - done)
}

function readRecord(buf: Buffer, at: number, rec: SortedRecord): void {
  const kl = buf.readUInt16LE(at)
  rec.input = buf.readUInt32LE(at + 6)
  rec.line = buf.readUInt32LE(at + 10)
  rec.keyStart = at + HEADER
  rec.keyEnd = rec.valueStart = at + HEADER + kl
  rec.valueEnd = rec.valueStart + buf.readUInt32LE(at + 2)
}

/** Reads one run file's records in order through a buffer that grows to fit the largest record. */
class RunReader {
  readonly rec: SortedRecord = { buf: Buffer.allocUnsafe(IO_BYTES), keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, input: 0, line: 0 }
  private start = 0
  private end = 0
  private filePos = 0
  private size = 0

  constructor(
    private readonly fd: number,
    readonly index: number,
  ) {}

  /** Advance to the next record; false at the end of the run. */
  next(): boolean {
    this.start += this.size
    if (!this.fill(HEADER)) return false
    const buf = this.rec.buf
    this.size = HEADER + buf.readUInt16LE(this.start) + buf.readUInt32LE(this.start + 2)
    if (!this.fill(this.size)) throw new Error(`run file ${this.index} ends inside a record`)
    readRecord(this.rec.buf, this.start, this.rec)
    return true
  }

  private fill(need: number): boolean {
    if (this.end - this.start >= need) return true
    let buf = this.rec.buf
    if (need > buf.length) {
      const bigger = Buffer.allocUnsafe(need)
      buf.copy(bigger, 0, this.start, this.end)
      buf = this.rec.buf = bigger
    } else buf.copy(buf, 0, this.start, this.end)
    this.end -= this.start
    this.start = 0
    while (this.end < need) {
      const got = readSync(this.fd, buf, this.end, buf.length - this.end, this.filePos)
      if (got === 0) return false
      this.end += got
      this.filePos += got
    }
    return true
  }
}

/** k-way merge of sorted runs with a binary heap; runs are in input order, so ties go to the lower run. */
function mergeRuns(files: string[], visit: (r: SortedRecord) => void): void {
  const fds = files.map((f) => openSync(f, 'r'))
  try {
    const less = (a: RunReader, b: RunReader): boolean => {
      const d = compareKeys(a.rec.buf, a.rec.keyStart, a.rec.keyEnd - a.rec.keyStart, b.rec.buf, b.rec.keyStart, b.rec.keyEnd - b.rec.keyStart)
      return d < 0 || (d === 0 && a.index < b.index)
    }
    const heap = fds.map((fd, i) => new RunReader(fd, i)).filter((r) => r.next())
    const siftDown = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && less(heap[l], heap[m])) m = l
        if (r < heap.length && less(heap[r], heap[m])) m = r
        if (m === i) return
        ;[heap[i], heap[m]] = [heap[m], heap[i]]
        i = m
      }
    }
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i)
    while (heap.length > 0) {
      visit(heap[0].rec)
      if (!heap[0].next()) {
        const last = heap.pop()!
        if (heap.length === 0) break
        heap[0] = last
      }
      siftDown(0)
    }
  } finally {
    for (const fd of fds) closeSync(fd)
  }
}
