/**
 * What a job module sees: the types a custom job (`--job <module>`) is written against.
 *
 *   export default async function (dict, file, ctx) {
 *     let longest = 0
 *     await ctx.scan({ key: 4 }, (found, buf, start, end) => {
 *       if (found) longest = Math.max(longest, end - start)
 *     })
 *     return { longest }            // any JSON value: it lands in the NDJSON record
 *   }
 */
import type { Dict } from '../read/dict.js'
import type { LineHandler, ScanOptions, ScanStats } from '../run/scan.js'

export interface JobContext {
  /** Aborted when the run is cancelled (Ctrl-C, an early break, close()); stop and throw. */
  readonly signal: AbortSignal
  /** 1-based id of the worker running the job; a replacement worker gets a new id. */
  readonly workerId: number
  /** The file's position in the input list (0-based). */
  readonly index: number
  /** The file as the caller named it: '-' for standard input, whose copy `file` points at. */
  readonly name: string
  /** The pool's `jobOptions` (a JSON value), or null. */
  readonly options: unknown
  /**
   * The built-in jobs' hot loop: reads `file` (or `opts.file`) in large chunks, finds each
   * line's key where it lies and looks it up without a string per line. `onLine` gets the
   * record's bytes `buf[start, end)` (no line end); on a hit `dict.lastValue` locates the
   * value's encoded bytes until the next line. Progress is reported as it reads.
   */
  scan(opts: ScanOptions, onLine?: LineHandler): Promise<ScanStats>
  /** Report bytes of the file handled so far, for the progress display (scan does it itself). */
  progress(bytes: number): void
}

/** A job module's default export. Its result must survive JSON (undefined becomes null). */
export type Job<R = unknown> = (dict: Dict, file: string, ctx: JobContext) => R | Promise<R>
