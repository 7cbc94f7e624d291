/**
 * What a run's jobs see beyond the pool's context: the line scanner. The pool loads this
 * module in each worker (its `contextUrl`) and adds `scan` to every job's ctx, so the pool
 * itself knows nothing of scanning.
 *
 *   export default async function (dict, file, ctx) {
 *     let longest = 0
 *     await ctx.scan({ key: 4 }, (found, buf, start, end) => {
 *       if (found) longest = Math.max(longest, end - start)
 *     })
 *     return { longest }            // any JSON value: it lands in the NDJSON record
 *   }
 */
import type { ContextExtension, PoolJobContext } from '../pool/job.js'
import type { Dict } from '../read/dict.js'
import type { LineHandler, ScanOptions, ScanStats } from './scan.js'

export interface JobContext extends PoolJobContext {
  /**
   * The built-in jobs' hot loop: reads `file` (or `opts.file`) in large chunks, finds each
   * line's key where it lies and looks it up without a string per line. `onLine` gets the
   * record's bytes `buf[start, end)` (no line end); on a hit `dict.lastValue` locates the
   * value's encoded bytes until the next line. Progress is reported as it reads.
   */
  scan(opts: ScanOptions, onLine?: LineHandler): Promise<ScanStats>
}

/** A job module's default export. Its result must survive JSON (undefined becomes null). */
export type Job<R = unknown> = (dict: Dict, file: string, ctx: JobContext) => R | Promise<R>

const addScanner: ContextExtension = (dict, base) => ({
  async scan(opts: ScanOptions, onLine?: LineHandler): Promise<ScanStats> {
    // Loaded on first use so a custom job that never scans does not pay for the scanner.
    const { scanFile } = await import('./scan.js')
    return scanFile(dict, opts.file ?? base.path, opts, onLine, base.signal, (bytes) => base.progress(bytes))
  },
})

export default addScanner
