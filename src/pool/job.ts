/**
 * What the pool gives every job, whatever the job is: the context a worker builds for each
 * file. A run's own jobs see more (the line scanner): the module named by the pool's
 * `contextUrl` adds it (src/run/context.ts), so the pool itself knows no job.
 */
import type { Dict } from '../read/dict.js'

export interface PoolJobContext {
  /** Aborted when the run is cancelled (Ctrl-C, an early break, close()); stop and throw. */
  readonly signal: AbortSignal
  /** 1-based id of the worker running the job; a replacement worker gets a new id. */
  readonly workerId: number
  /** The file's position in the input list (0-based). */
  readonly index: number
  /** The file as the caller named it: '-' for standard input, whose copy `file` points at. */
  readonly name: string
  /** The path the job reads: `name`, or the spooled copy of standard input. */
  readonly path: string
  /** The pool's `jobOptions` (a JSON value), or null. */
  readonly options: unknown
  /** Report bytes of the file handled so far, for the progress display. */
  progress(bytes: number): void
}

/**
 * The default export of a context module: given the table and the pool's context for one
 * file, return the members to add to it. Called once per file, in the worker.
 */
export type ContextExtension = (dict: Dict, base: PoolJobContext) => object

/** A job module's default export, generic over the context it is given. */
export type PoolJob<C extends PoolJobContext = PoolJobContext, R = unknown> = (dict: Dict, file: string, ctx: C) => R | Promise<R>
