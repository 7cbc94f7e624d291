/**
 * The messages between the pool (src/pool/pool.ts, the parent) and a worker
 * (src/pool/child.ts), the same over a child-process IPC channel and a worker-thread port.
 *
 * Only control travels here: which file to run, how far it got, its small JSON result.
 * Output bytes never do; a job writes them to a file the parent reads afterwards.
 */

/** An error as it crosses the channel: Error objects do not survive JSON serialisation. */
export interface SerializedError {
  name: string
  message: string
  /** A PagedictError code (E_IO, ...) or a Node error code, kept so the parent can report it. */
  code?: string
  stack?: string
}

// ---- parent → worker ------------------------------------------------------------------------

/** The first message a worker gets: open the table, load the job, then answer `ready`. */
export interface InitMessage {
  type: 'init'
  workerId: number
  table: string
  /** A file: URL of the job module. */
  jobUrl: string
  /** JSON options handed to the job as `ctx.options`. */
  jobOptions: unknown
  /** A file: URL of a module that adds members to each job's ctx (ContextExtension), if any. */
  contextUrl: string | undefined
}

/** Run the job on one data file. A worker runs one job at a time. */
export interface JobMessage {
  type: 'job'
  /** Unique per dispatch, so a late answer to an aborted attempt cannot be mistaken for a retry's. */
  id: number
  /** The file's position in the input list. */
  index: number
  /** The file as the caller named it ('-' for standard input). */
  name: string
  /** The path to read: `name`, or the spooled copy of standard input. */
  path: string
}

/** Stop the running job: its `ctx.signal` aborts. */
export interface AbortMessage {
  type: 'abort'
  id: number
}

/** Close the table and exit. */
export interface CloseMessage {
  type: 'close'
}

export type ToWorker = InitMessage | JobMessage | AbortMessage | CloseMessage

// ---- worker → parent ------------------------------------------------------------------------

export interface ReadyMessage {
  type: 'ready'
}

/** The table did not open or the job module did not load; the worker exits after sending it. */
export interface InitFailedMessage {
  type: 'init-failed'
  error: SerializedError
}

/** Bytes of the file read so far (compressed bytes for gzip), sent a few times a second at most. */
export interface ProgressMessage {
  type: 'progress'
  id: number
  bytes: number
}

export interface DoneMessage {
  type: 'done'
  id: number
  /** The job's return value after a JSON round trip (undefined became null). */
  result: unknown
}

export interface FailedMessage {
  type: 'failed'
  id: number
  error: SerializedError
  /** True when the job ended because its signal was aborted. */
  aborted: boolean
}

export type FromWorker = ReadyMessage | InitFailedMessage | ProgressMessage | DoneMessage | FailedMessage

/** Flatten any thrown value into what crosses the channel. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, stack: err.stack }
  }
  return { name: 'Error', message: String(err) }
}
