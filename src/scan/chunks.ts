/**
 * Reading input files in large blocks into one reused Buffer: the bottom layer under the
 * table parsers (src/scan/csv.ts, src/scan/json-object.ts, src/build/input.ts) and the
 * data-file loop of `pagedict run`.
 *
 * A parser gets `buf[start, end)` and returns how far it consumed; the unconsumed tail (a
 * partial line or record) is moved to the front and presented again with more data after
 * it. Gzip is recognised by its first two bytes, never by the file name, and goes through
 * node:zlib into the same loop. Plain files are read straight into the block buffer (no
 * copy); gzip and standard input are copied in from their streams.
 */
import { open, stat, type FileHandle } from 'node:fs/promises'
import { pipeline, Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { inputError, ioError, PagedictError } from '../errors.js'

/** Bytes asked of each read: 1 MiB amortises the syscall and the per-block work. */
export const DEFAULT_CHUNK_SIZE = 1 << 20
/** Longest unconsumed tail (a line or record) the reader will hold before giving up. */
export const DEFAULT_MAX_CARRY = 64 << 20
/** Room kept beyond a chunk so a typical partial line never forces the buffer to grow. */
const SLACK = 64 << 10
/** zlib's output piece size: larger pieces mean fewer stream callbacks per MiB. */
const GUNZIP_CHUNK = 256 << 10

/**
 * Receives `buf[start, end)` and returns the position up to which it consumed the bytes
 * (start <= result <= end). At `eof` it must consume everything. The buffer is reused:
 * anything kept past the call must be copied.
 */
export type BlockHandler = (buf: Buffer, start: number, end: number, eof: boolean) => number

export interface ReadBlocksOptions {
  /** Bytes per read (default 1 MiB). Tiny sizes are for tests of block boundaries. */
  chunkSize?: number
  /** Longest tail the handler may leave unconsumed (default 64 MiB); longer is E_INPUT. */
  maxCarry?: number
  /** Called with the count of raw bytes (compressed bytes for gzip) after each read. */
  onBytes?: (n: number) => void
  signal?: AbortSignal
  /** The 1-based line where the unconsumed tail starts, for the "line too long" message. */
  lineAt?: () => number
}

export interface ReadResult {
  /** Raw bytes read: the compressed size for gzip input. */
  bytes: number
  gzip: boolean
}

/** Read `path` ('-' is standard input) block by block into `onBlock`. */
export async function readBlocks(path: string, onBlock: BlockHandler, opts: ReadBlocksOptions = {}): Promise<ReadResult> {
  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK_SIZE)
  const pump = new BlockPump(path, onBlock, chunkSize, Math.max(1, opts.maxCarry ?? DEFAULT_MAX_CARRY), opts.lineAt)
  const count = (n: number): void => {
    pump.bytes += n
    opts.onBytes?.(n)
  }
  if (path === '-') {
    await pumpStream(pump, process.stdin, count, opts.signal, true)
    return { bytes: pump.bytes, gzip: pump.gzip }
  }
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw ioError(path, err, 'open')
  }
  try {
    // Sniff with the first read; a plain file then simply goes on reading after it.
    // The sniffed bytes are counted once: by the stream for gzip, here for a plain file.
    while (pump.fill < 2 && (await pump.readFrom(handle, () => {}, opts.signal)) > 0);
    pump.gzip = pump.fill >= 2 && pump.buf[0] === 0x1f && pump.buf[1] === 0x8b
    if (!pump.gzip) count(pump.fill)
    if (pump.gzip) {
      // The sniffed bytes go first, then the stream continues from the file position.
      const head = Buffer.from(pump.buf.subarray(0, pump.fill))
      pump.fill = 0
      const rest = handle.createReadStream({ autoClose: false, highWaterMark: chunkSize })
      await pumpStream(pump, concat(head, rest), count, opts.signal, false)
    } else {
      pump.present(false)
      while ((await pump.readFrom(handle, count, opts.signal)) > 0) pump.present(false)
      pump.present(true)
    }
  } finally {
    await handle.close()
  }
  return { bytes: pump.bytes, gzip: pump.gzip }
}

/** File size in bytes for progress; undefined for standard input. */
export async function inputSize(path: string): Promise<number | undefined> {
  if (path === '-') return undefined
  try {
    return (await stat(path)).size
  } catch (err) {
    throw ioError(path, err, 'read')
  }
}

/**
 * Length of a UTF-8 byte order mark at `buf[start]`: 3 or 0, or -1 when fewer than 3 bytes
 * are there, they could still be one, and more input is coming.
 */
export function bomLength(buf: Uint8Array, start: number, end: number, eof: boolean): number {
  const n = end - start
  if (n >= 1 && buf[start] !== 0xef) return 0
  if (n >= 2 && buf[start + 1] !== 0xbb) return 0
  if (n >= 3) return buf[start + 2] === 0xbf ? 3 : 0
  return eof ? 0 : -1
}

/**
 * A block handler that first skips a UTF-8 byte order mark at the very start of the input,
 * then hands every block to `handler` from the position after it.
 */
export function skippingBom(handler: BlockHandler): BlockHandler {
  let first = true
  return (buf, start, end, eof) => {
    if (!first) return handler(buf, start, end, eof)
    const bom = bomLength(buf, start, end, eof)
    if (bom < 0) return start
    first = false
    return handler(buf, start + bom, end, eof)
  }
}

/**
 * Position just after the last '\n' in `buf[start, end)`, or `start` when there is none: the
 * complete lines of a block. Buffer#lastIndexOf is memrchr, so this is cheap per block.
 */
export function completeLinesEnd(buf: Buffer, start: number, end: number): number {
  if (end <= start) return start
  const nl = buf.lastIndexOf(10, end - 1)
  return nl >= start ? nl + 1 : start
}

/**
 * Call `onLine(buf, lineStart, lineEnd, lineNumber)` for every line of `path`, the line end
 * excluding its '\n' and the '\r' of a CRLF. A final line without '\n' is a line too. Lines
 * are 1-based and counted for every line, blank ones included.
 */
export async function readLines(
  path: string,
  onLine: (buf: Buffer, start: number, end: number, line: number) => void,
  opts: ReadBlocksOptions = {},
): Promise<ReadResult & { lines: number }> {
  let line = 1
  const result = await readBlocks(
    path,
    skippingBom((buf, start, end, eof) => {
      let pos = start
      while (pos < end) {
        // indexOf searches to the buffer's end, so a hit past `end` (stale bytes) is a miss.
        let nl = buf.indexOf(10, pos)
        if (nl < 0 || nl >= end) {
          if (!eof) break
          nl = end
        }
        onLine(buf, pos, nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl, line++)
        pos = nl + 1
      }
      return Math.min(pos, end)
    }),
    { ...opts, lineAt: () => line },
  )
  return { ...result, lines: line - 1 }
}

/** The reused block buffer and the carry rules. */
class BlockPump {
  buf: Buffer
  fill = 0
  bytes = 0
  gzip = false
  /**
   * After a presentation that consumed nothing, the next one waits for twice the bytes, so a
   * record spanning many reads is rescanned a logarithmic number of times, not once per read.
   */
  private minFill = 0
  private readonly cap: number

  constructor(
    readonly path: string,
    private readonly onBlock: BlockHandler,
    private readonly chunkSize: number,
    private readonly maxCarry: number,
    private readonly lineAt: (() => number) | undefined,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize + Math.min(SLACK, chunkSize))
    this.cap = maxCarry + chunkSize
  }

  /** One read into the free space; returns the bytes read (0 at end of file). */
  async readFrom(handle: FileHandle, count: (n: number) => void, signal: AbortSignal | undefined): Promise<number> {
    signal?.throwIfAborted()
    const want = Math.min(this.chunkSize, this.buf.length - this.fill)
    let n: number
    try {
      n = (await handle.read(this.buf, this.fill, want, null)).bytesRead
    } catch (err) {
      throw ioError(this.path, err, 'read')
    }
    this.fill += n
    count(n)
    return n
  }

  /** Hand the buffered bytes to the handler and keep its unconsumed tail. */
  present(eof: boolean): void {
    if (!eof && this.fill < this.minFill) return
    const used = this.onBlock(this.buf, 0, this.fill, eof)
    if (!(used >= 0 && used <= this.fill)) throw new RangeError(`block handler returned ${used}, outside 0..${this.fill}`)
    if (eof) {
      if (used !== this.fill) throw new PagedictError('E_INPUT', `${this.path}: unexpected end of input`, { path: this.path })
      this.fill = 0
      return
    }
    const tail = this.fill - used
    if (tail > this.maxCarry) {
      const line = this.lineAt?.()
      const reason = `a line or record is longer than ${this.maxCarry} bytes`
      throw line === undefined ? new PagedictError('E_INPUT', `${this.path}: ${reason}`, { path: this.path }) : inputError(this.path, line, reason)
    }
    if (used > 0 && tail > 0) this.buf.copyWithin(0, used, this.fill)
    this.fill = tail
    this.minFill = used === 0 ? Math.min(tail * 2, this.cap) : 0
    const need = Math.max(this.minFill, tail + this.chunkSize)
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.cap, Math.max(need, this.buf.length * 2)))
      this.buf.copy(grown, 0, 0, tail)
      this.buf = grown
    }
  }

  /** Copy a stream piece in, presenting whenever the buffer is full. */
  push(piece: Buffer): void {
    let off = 0
    while (off < piece.length) {
      if (this.fill === this.buf.length) this.present(false)
      const n = piece.copy(this.buf, this.fill, off)
      this.fill += n
      off += n
    }
  }
}

async function* concat(head: Buffer, rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield head
  yield* rest
}

/**
 * Feed a byte stream (standard input, or a gzip file) through the pump. `eager` presents each
 * piece as it arrives, for standard input typed or piped by another process.
 */
async function pumpStream(pump: BlockPump, raw: AsyncIterable<Buffer>, count: (n: number) => void, signal: AbortSignal | undefined, eager: boolean): Promise<void> {
  const path = pump.path
  const it = raw[Symbol.asyncIterator]()
  let head: Buffer = Buffer.alloc(0)
  // Gather at least two bytes to sniff (a pipe may deliver one byte first).
  while (head.length < 2) {
    const r = await nextPiece(path, it)
    if (r === undefined) break
    count(r.length)
    head = head.length === 0 ? r : Buffer.concat([head, r])
  }
  const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
  pump.gzip = gzip
  let source: AsyncIterator<Buffer>
  if (gzip) {
    const counted = (async function* () {
      yield head
      for (let r = await nextPiece(path, it); r !== undefined; r = await nextPiece(path, it)) {
        count(r.length)
        yield r
      }
    })()
    // pipeline() forwards an error from either side into the gunzip stream we iterate.
    const gunzip = pipeline(Readable.from(counted), createGunzip({ chunkSize: GUNZIP_CHUNK }), () => {})
    source = (gunzip as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  } else {
    pump.push(head)
    if (eager) pump.present(false)
    source = it
  }
  try {
    for (;;) {
      signal?.throwIfAborted()
      const piece = await nextPiece(path, source)
      if (piece === undefined) break
      if (!gzip) count(piece.length)
      pump.push(piece)
      if (eager) pump.present(false)
    }
    pump.present(false)
    pump.present(true)
  } finally {
    // On an error, stop the streams (a gunzip in flight, a file read stream) before the
    // caller closes the file.
    await source.return?.()
    if (source !== it) await it.return?.()
  }
}

/** The next piece of a stream, with zlib failures as E_INPUT and file failures as E_IO. */
async function nextPiece(path: string, it: AsyncIterator<Buffer>): Promise<Buffer | undefined> {
  try {
    const r = await it.next()
    return r.done ? undefined : r.value
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new PagedictError('E_INPUT', `${path}: corrupt gzip data (${(err as Error).message})`, { path, cause: err })
    }
    if (err instanceof PagedictError) throw err
    throw ioError(path, err, 'read')
  }
}
