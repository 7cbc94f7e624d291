/**
 * What every pool gives its caller, whichever runs the jobs: the local pool of worker
 * processes (pool.ts) or a pool that spreads the files over hosts (src/cluster). The CLI and
 * the library's Pool talk to a JobPool and never ask which one they hold.
 */
import type { PagedictError } from '../errors.js'

/** One data file's outcome, yielded once per file in the order of the input list. */
export type PoolResult<R = unknown> =
  | { file: string; index: number; ok: true; result: R; attempts: number }
  | { file: string; index: number; ok: false; error: PagedictError; attempts: number; cancelled: boolean }

/** How far a run has come, for a progress display. Bytes are raw (compressed for gzip) bytes. */
export interface PoolProgress {
  filesDone: number
  filesTotal: number
  bytesDone: number
  /** Sum of the files' sizes; standard input counts once it has been spooled. */
  bytesTotal: number
  elapsedMs: number
  /** Hosts taking jobs, for a pool that spreads over hosts; absent for the local pool. */
  hosts?: number
}

export interface JobPool {
  /**
   * Run the job over `files` ('-' is standard input). Yields one result per file, in input
   * order. Throws when no worker can start or on bad arguments. Breaking out of the loop
   * cancels the files not yet done.
   */
  run<R = unknown>(files: Iterable<string>): AsyncGenerator<PoolResult<R>, void, undefined>
  /** Hand out no more files and abort the running ones; the run yields the rest as cancelled. */
  cancel(): void
  /** Cancel any run, end every worker, remove temporary files. */
  close(): Promise<void>
}
