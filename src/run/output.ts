/**
 * A job's output file, written as bytes through one reused buffer. Writes are synchronous:
 * the worker has nothing else to do meanwhile, and one large write per MiB costs less than
 * the promise machinery of an async one.
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs'
import { ioError } from '../errors.js'

/** Bytes gathered before a write: large enough that the syscall cost vanishes per line. */
const OUTPUT_BUFFER = 1 << 20

export class OutputFile {
  buf = Buffer.allocUnsafe(OUTPUT_BUFFER)
  pos = 0
  /** Bytes written to the file so far, the buffered ones included. */
  get length(): number {
    return this.flushed + this.pos
  }
  private flushed = 0
  private fd: number

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w')
    } catch (err) {
      throw ioError(path, err, 'create the output file')
    }
  }

  /** Make room for `n` more bytes at `pos`; afterwards `buf[pos, pos + n)` may be written. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    this.flush()
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2))
  }

  /** Append `src[start, end)`. */
  put(src: Uint8Array, start: number, end: number): void {
    const n = end - start
    this.reserve(n)
    this.buf.set(src.subarray(start, end), this.pos)
    this.pos += n
  }

  byte(b: number): void {
    if (this.pos === this.buf.length) this.flush()
    this.buf[this.pos++] = b
  }

  flush(): void {
    let off = 0
    try {
      while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off)
    } catch (err) {
      throw ioError(this.path, err, 'write')
    }
    this.flushed += this.pos
    this.pos = 0
  }

  /** Write what is buffered and close the file. */
  close(): void {
    try {
      this.flush()
    } finally {
      closeSync(this.fd)
      this.fd = -1
    }
  }

  /** The job failed or was aborted: a partial output must not pass for a whole one. */
  discard(): void {
    if (this.fd >= 0) closeSync(this.fd)
    this.fd = -1
    try {
      unlinkSync(this.path)
    } catch (err) {
      // Already gone is what we wanted; anything else is worth the caller's attention.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(this.path, err, 'remove the partial output')
    }
  }
}
