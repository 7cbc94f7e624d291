/**
 * The local pool's options, checked once at the boundary (the LocalPool constructor) so a
 * bad value fails there, naming the option, not later inside a worker.
 */
import { availableParallelism } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PagedictError } from '../errors.js'
import type { PoolProgress } from './types.js'

export interface LocalPoolOptions {
  /** The table every worker opens once, at start. */
  table: string
  /**
   * A job module (a path, relative to the working directory, or a file: URL) whose default
   * export is `async (dict, file, ctx) => result`.
   */
  job: string | URL
  /** A JSON value handed to the job as `ctx.options`. */
  jobOptions?: unknown
  /** A module whose default export adds members to each job's ctx (see ContextExtension). */
  contextUrl?: string | URL
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
  contextUrl: string | undefined
  workers: number
  threads: boolean
  retries: number
  onProgress: ((progress: PoolProgress) => void) | undefined
}

/** Upper bound on workers: far beyond any machine here, low enough to catch a typo. */
export const MAX_WORKERS = 1024
export const MAX_RETRIES = 100

export function optionError(option: string, message: string): PagedictError {
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

/** A module named by a path (relative to the working directory) or a file: URL, as a URL string. */
export function moduleUrl(value: unknown, option: string): string {
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw optionError(option, `must be a file: URL, got ${value.protocol}`)
    return value.href
  }
  if (typeof value === 'string' && value !== '') {
    return value.startsWith('file:') ? new URL(value).href : pathToFileURL(isAbsolute(value) ? value : resolve(value)).href
  }
  throw optionError(option, 'must be a module: a path or a file: URL')
}

/** A value that crosses to workers as JSON; throws naming `option` when it cannot. */
export function checkJson(value: unknown, option: string): unknown {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw optionError(option, `must be a JSON value (${(err as Error).message})`)
  }
  if (text === undefined) throw optionError(option, 'must be a JSON value')
  return value
}

/** The files of a run: non-empty paths, standard input ('-') at most once. */
export function checkFileList(files: Iterable<unknown>): string[] {
  const names = [...files]
  names.forEach((name, i) => {
    if (typeof name !== 'string' || name === '') throw new PagedictError('E_OPTION', `files[${i}]: must be a file path, got ${JSON.stringify(name)}`, { option: 'files' })
  })
  if (names.filter((n) => n === '-').length > 1) throw optionError('files', "'-' (standard input) is given more than once")
  return names as string[]
}

const KNOWN = ['table', 'job', 'jobOptions', 'contextUrl', 'workers', 'threads', 'retries', 'onProgress']

/** Check every option; throws PagedictError E_OPTION naming the first bad one. */
export function resolvePoolOptions(input: unknown): ResolvedPoolOptions {
  if (typeof input !== 'object' || input === null) throw optionError('options', 'must be an object { table, job, ... }')
  const options = input as Record<string, unknown>
  for (const name of Object.keys(options)) if (!KNOWN.includes(name)) throw optionError(name, `unknown option; known: ${KNOWN.join(', ')}`)

  const table = options.table
  if (typeof table !== 'string' || table === '') throw optionError('table', 'must be the path of a table file')
  const threads = options.threads ?? false
  if (typeof threads !== 'boolean') throw optionError('threads', `must be a boolean, got ${typeof threads}`)
  const onProgress = options.onProgress
  if (onProgress !== undefined && typeof onProgress !== 'function') throw optionError('onProgress', 'must be a function')

  return {
    table: resolve(table),
    jobUrl: moduleUrl(options.job, 'job'),
    jobOptions: checkJson(options.jobOptions ?? null, 'jobOptions'),
    contextUrl: options.contextUrl === undefined ? undefined : moduleUrl(options.contextUrl, 'contextUrl'),
    workers: integerIn(options, 'workers', availableParallelism(), 1, MAX_WORKERS),
    threads,
    retries: integerIn(options, 'retries', 1, 0, MAX_RETRIES),
    onProgress: onProgress as ResolvedPoolOptions['onProgress'],
  }
}
