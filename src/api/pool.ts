/**
 * The library's Pool: `new Pool({ table, job })` runs a job module, or a built-in job given
 * as a RunSpec, over many data files on a pool of workers that share the mapped table. It
 * resolves the job (src/run/resolve.ts) and hands the files to a JobPool: the local pool of
 * worker processes (src/pool).
 */
import { LocalPool } from '../pool/pool.js'
import { checkFileList, optionError } from '../pool/options.js'
import type { JobPool, PoolProgress, PoolResult } from '../pool/types.js'
import { type ResolvedJob, resolveJob } from '../run/resolve.js'
import type { RunSpec } from '../run/spec.js'

export interface PoolOptions {
  /** The table every worker opens once, at start. */
  table: string
  /**
   * A job module (a path, relative to the working directory, or a file: URL) whose default
   * export is `async (dict, file, ctx) => result`; or a built-in job such as
   * `{ emit: 'count', key: 4 }` (see RunSpec).
   */
  job: string | URL | RunSpec
  /** A JSON value handed to a custom job module as `ctx.options`. */
  jobOptions?: unknown
  /** Worker count, default: the CPUs available (os.availableParallelism()). */
  workers?: number
  /** Worker threads instead of child processes. */
  threads?: boolean
  /** Times a file is retried after its worker died (default 1); a throwing job is not retried. */
  retries?: number
  /** Called as files finish and while they are read (a few times a second per worker). */
  onProgress?: (progress: PoolProgress) => void
}

const KNOWN = ['table', 'job', 'jobOptions', 'workers', 'threads', 'retries', 'onProgress']

export class Pool implements JobPool {
  readonly #job: ResolvedJob
  readonly #pool: JobPool

  constructor(options: PoolOptions) {
    if (typeof options !== 'object' || options === null) throw optionError('options', 'must be an object { table, job, ... }')
    for (const name of Object.keys(options)) if (!KNOWN.includes(name)) throw optionError(name, `unknown option; known: ${KNOWN.join(', ')}`)
    const { job, jobOptions, ...rest } = options
    this.#job = resolveJob(job, jobOptions)
    const { jobUrl, contextUrl } = this.#job
    this.#pool = new LocalPool({ ...rest, job: jobUrl, jobOptions: this.#job.jobOptions, contextUrl })
  }

  /**
   * Run the job over `files` ('-' is standard input). Yields one result per file, in input
   * order. Throws when no worker can start (the table does not open, the job does not load)
   * or on bad arguments. Breaking out of the loop cancels the files not yet done.
   */
  async *run<R = unknown>(files: Iterable<string>): AsyncGenerator<PoolResult<R>, void, undefined> {
    const names = checkFileList(files)
    this.#job.check(names)
    yield* this.#pool.run<R>(names)
  }

  /**
   * Stop the current run: hand out no more files, abort the running jobs (their workers are
   * killed if they do not stop within a grace period). The run's iterator then yields what
   * was done, and the rest as `cancelled` failures.
   */
  cancel(): void {
    this.#pool.cancel()
  }

  /** Cancel any run, end every worker, remove temporary files. */
  async close(): Promise<void> {
    await this.#pool.close()
  }
}
