/**
 * One shard: its file, its geometry and its mappings, made on first use.
 *
 * Why not map the whole file in open(): @riaskov/mmap-io wraps a mapping in a Buffer whose
 * length V8 counts as external memory, and a Buffer that takes the isolate's external memory
 * more than 64 MiB past its last full GC starts a garbage collection (a scavenge and a
 * mark-compact, 2-5 ms in a fresh process, more on a bigger heap). So a dict first maps
 * windows of 16 MiB around what its lookups read, up to WINDOW_BUDGET bytes, which stays
 * below that limit; the lookup that needs more maps the shard whole (and pays that GC once,
 * as open() used to), and from then on every window is the whole mapping. Iteration and
 * verify ask for `buf` and map the shard whole at once.
 */
import fs from 'node:fs'
import { PagedictError, ioError } from '../errors.js'
import { MAX_SPILL_PAGES, PAGE_SIZE, type ShardEntry } from '../format/layout.js'
import { mapReadOnly } from './mmap.js'

/** log2 of a window's stride and alignment in the file: 16 MiB, a multiple of any page size. */
export const WINDOW_SHIFT = 24
const WINDOW_STRIDE = 2 ** WINDOW_SHIFT
/**
 * A window maps this much past its stride, so a home page in the window and the max_spill
 * pages after it lie in it, and so does a value of up to this size that starts in it.
 */
const WINDOW_OVERLAP = 256 * 1024
/** Window bytes one dict maps before it maps its shards whole: two windows. */
const WINDOW_BUDGET = 2 * (WINDOW_STRIDE + WINDOW_OVERLAP)

if (WINDOW_OVERLAP < (MAX_SPILL_PAGES + 1) * PAGE_SIZE) throw new Error('window overlap smaller than a probe')

/** A mapping of part (or all) of a shard's file. */
export interface Window {
  readonly buf: Buffer
  /** File offset of buf[0]. */
  readonly start: number
  /** Where data page 0 would be in buf: the segment's data_offset − start (negative past window 0). */
  readonly dataOffset: number
}

/** What the segments of one dict may still map in windows. */
export class WindowBudget {
  bytes = WINDOW_BUDGET
}

/** Closes the descriptor of a segment that was dropped without close() and never mapped whole. */
const unclosed = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd)
  } catch {
    // already gone: nothing to release
  }
})

export class Segment {
  readonly firstBucket: number
  readonly bucketCount: number
  readonly pageCount: number
  readonly maxSpill: number
  readonly dataOffset: number
  readonly valueOffset: number
  readonly valueLength: number
  readonly keyCount: number
  readonly fileLength: number
  /**
   * The window of each 16 MiB of the file, by file offset >>> WINDOW_SHIFT; undefined until
   * mapped. Once the shard is mapped whole, every entry is that mapping.
   */
  readonly windows: (Window | undefined)[]
  private whole: Window | undefined
  /** The shard file, open until it is mapped whole or the dict is closed. */
  private fd: number

  /** Takes over `fd`, an open descriptor of `file`, whose length is s.fileLength. */
  constructor(
    fd: number,
    readonly file: string,
    s: ShardEntry,
    private readonly budget: WindowBudget,
    /**
     * Checks the shard file's header page (open.ts), before anything of the file is used: open()
     * leaves it to the first use, so opening a table of many shards reads one page, not one per
     * shard. Undefined for an inline shard, whose header open() has checked.
     */
    private headerCheck?: (page: Buffer) => void,
  ) {
    this.fd = fd
    this.firstBucket = s.firstBucket
    this.bucketCount = s.bucketCount
    this.pageCount = s.pageCount
    this.maxSpill = s.maxSpill
    this.dataOffset = s.dataOffset
    this.valueOffset = s.valueOffset
    this.valueLength = s.valueLength
    this.keyCount = s.keyCount
    this.fileLength = s.fileLength
    this.windows = Array.from({ length: Math.ceil(s.fileLength / WINDOW_STRIDE) }, () => undefined)
    unclosed.register(this, fd, this)
  }

  /** The whole file, mapped on first use. */
  get buf(): Buffer {
    return (this.whole ?? this.mapWhole()).buf
  }

  /** The window that holds home page `home` and the max_spill pages after it. */
  windowOf(home: number): Window {
    const at = this.dataOffset + home * PAGE_SIZE
    return this.windows[at >>> WINDOW_SHIFT] ?? this.map(at, at + (MAX_SPILL_PAGES + 1) * PAGE_SIZE)
  }

  /** A window that holds the file's bytes [start, end). */
  windowFor(start: number, end: number): Window {
    const w = this.windows[start >>> WINDOW_SHIFT]
    return w !== undefined && end <= w.start + w.buf.length ? w : this.map(start, end)
  }

  /** Read and check the shard's header page, once (the first mapping does it anyway). */
  checkHeader(): void {
    const check = this.headerCheck
    if (check === undefined) return
    check(readAt(this.descriptor(), PAGE_SIZE, this.file))
    this.headerCheck = undefined
  }

  private map(start: number, end: number): Window {
    if (this.whole !== undefined) return this.whole
    this.checkHeader()
    end = Math.min(end, this.fileLength)
    const from = start - (start % WINDOW_STRIDE)
    const to = Math.min(this.fileLength, from + WINDOW_STRIDE + WINDOW_OVERLAP)
    if (from === 0 && to === this.fileLength) return this.mapWhole() // a small file: one mapping is all of it
    if (end > to || to - from > this.budget.bytes) return this.mapWhole()
    this.budget.bytes -= to - from
    const win = windowOver(mapReadOnly(this.descriptor(), to - from, this.file, from), from, this.dataOffset)
    this.windows[from / WINDOW_STRIDE] = win
    return win
  }

  private mapWhole(): Window {
    this.checkHeader()
    const win = windowOver(mapReadOnly(this.descriptor(), this.fileLength, this.file, 0), 0, this.dataOffset)
    this.whole = win
    this.windows.fill(win)
    // From now on buf is a plain data property of this object, which shadows the accessor
    // above: code that reads seg.buf once per key pays no call for it.
    Object.defineProperty(this, 'buf', { value: win.buf, enumerable: true })
    this.release() // a mapping needs no descriptor
    return win
  }

  private descriptor(): number {
    if (this.fd < 0) throw new PagedictError('E_OPTION', `${this.file}: the table is closed`, { path: this.file })
    return this.fd
  }

  /** Close the file. Mappings already made stay valid. */
  release(): void {
    if (this.fd < 0) return
    unclosed.unregister(this)
    fs.closeSync(this.fd)
    this.fd = -1
  }
}

function windowOver(buf: Buffer, start: number, dataOffset: number): Window {
  return { buf, start, dataOffset: dataOffset - start }
}

/** The first `length` bytes of the open file `fd`, which has at least that many. */
export function readAt(fd: number, length: number, file: string): Buffer {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  try {
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, got)
      if (n === 0) break
      got += n
    }
  } catch (err) {
    throw ioError(file, err, 'read the table')
  }
  if (got < length) throw new PagedictError('E_TRUNCATED', `${file}: truncated: ${got} bytes where ${length} were expected; rebuild the table`, { path: file, got, expected: length })
  return buf
}
