/**
 * The pool's options as the library takes them, checked once at the boundary (the Pool
 * constructor) so a bad value fails there, naming the option, not later inside a worker.
 */
import { availableParallelism } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PagedictError } from '../errors.js'
import { type RunSpec, checkRunSpec } from '../run/spec.js'

/** How far a run has come, for a progress display. Bytes are raw (compressed for gzip) bytes. */
export interface PoolProgress {
  filesDone: number
  filesTotal: number
  bytesDone: number
  /** Sum of the files' sizes; standard input counts once it has been spooled. */
  bytesTotal: number
  elapsedMs: number
}

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

export interface ResolvedPoolOptions {
  table: string
  jobUrl: string
  jobOptions: unknown
  /** The built-in job's spec, when `job` was one: the pool names outputs from it. */
  spec: RunSpec | undefined
  workers: number
  threads: boolean
  retries: number
  onProgress: ((progress: PoolProgress) => void) | undefined
}

/** Upper bound on workers: far beyond any machine here, low enough to catch a typo. */
export const MAX_WORKERS = 1024
export const MAX_RETRIES = 100

/** The built-in jobs are a job module like any other. */
const BUILTIN_JOB_URL = new URL('../run/job.js', import.meta.url).href

function optionError(option: string, message: string): PagedictError {
  return new PagedictError('E_OPTION', `${option}: ${message}`, { option })
}

function integerIn(options: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = options[name]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw optionError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value) ?? String(value)}`)
  }
  return value
}

/** Check every option; throws PagedictError E_OPTION naming the first bad one. */
export function resolvePoolOptions(input: unknown): ResolvedPoolOptions {
  if (typeof input !== 'object' || input === null) throw optionError('options', 'must be an object { table, job, ... }')
  const options = input as Record<string, unknown>
  const known = new Set(['table', 'job', 'jobOptions', 'workers', 'threads', 'retries', 'onProgress'])
  for (const name of Object.keys(options)) if (!known.has(name)) throw optionError(name, `unknown option; known: ${[...known].join(', ')}`)

  const table = options.table
  if (typeof table !== 'string' || table === '') throw optionError('table', 'must be the path of a table file')

  let jobUrl: string
  let spec: RunSpec | undefined
  const job = options.job
  if (job instanceof URL) {
    if (job.protocol !== 'file:') throw optionError('job', `must be a file: URL, got ${job.protocol}`)
    jobUrl = job.href
  } else if (typeof job === 'string' && job !== '') {
    jobUrl = job.startsWith('file:') ? new URL(job).href : pathToFileURL(isAbsolute(job) ? job : resolve(job)).href
  } else if (typeof job === 'object' && job !== null) {
    spec = checkRunSpec(job, 'job')
    jobUrl = BUILTIN_JOB_URL
  } else {
    throw optionError('job', 'must be a job module (path or file: URL) or a built-in job such as { emit: "count" }')
  }

  let jobOptions: unknown = options.jobOptions ?? null
  if (spec !== undefined) {
    if (options.jobOptions !== undefined) throw optionError('jobOptions', 'is for job modules; a built-in job takes its options in `job`')
    jobOptions = spec
  } else {
    let text: string | undefined
    try {
      text = JSON.stringify(jobOptions)
    } catch (err) {
      throw optionError('jobOptions', `must be a JSON value (${(err as Error).message})`)
    }
    if (text === undefined) throw optionError('jobOptions', 'must be a JSON value')
  }

  const threads = options.threads ?? false
  if (typeof threads !== 'boolean') throw optionError('threads', `must be a boolean, got ${typeof threads}`)
  const onProgress = options.onProgress
  if (onProgress !== undefined && typeof onProgress !== 'function') throw optionError('onProgress', 'must be a function')

  return {
    table: resolve(table),
    jobUrl,
    jobOptions,
    spec,
    workers: integerIn(options, 'workers', availableParallelism(), 1, MAX_WORKERS),
    threads,
    retries: integerIn(options, 'retries', 1, 0, MAX_RETRIES),
    onProgress: onProgress as ResolvedPoolOptions['onProgress'],
  }
}
