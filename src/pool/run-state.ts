/**
 * The book-keeping of one `pool.run(files)`: the queue of files, the results waiting to be
 * yielded in input order, and the counts behind progress. The pool (pool.ts) decides what
 * runs where; this decides nothing, it records.
 */
import { stat } from 'node:fs/promises'
import { PagedictError, ioError } from '../errors.js'
import type { PoolProgress, PoolResult } from './types.js'
import type { StdinSpool } from './stdin.js'

/** One data file on its way through the pool. */
export interface Task {
  run: RunState
  index: number
  /** The name the caller gave ('-' for standard input). */
  name: string
  /** What the worker reads. */
  path: string
  size: number
  /** Dispatches so far, the current one included. */
  attempts: number
  /** Bytes the current attempt has read, for progress. */
  bytes: number
}

/** Stat this many files at once: enough to hide latency, few enough not to hog the fd table. */
const STAT_CONCURRENCY = 64

export function cancelledError(file: string): PagedictError {
  return new PagedictError('E_JOB', `${file}: cancelled before it finished`, { path: file })
}

export class RunState {
  /** Files not yet handed out, largest first. */
  queue: Task[] = []
  cancelled = false
  /** Set when no worker can run (every start-up failed): the iterator throws it. */
  fatal: PagedictError | undefined
  readonly #results: (PoolResult | undefined)[]
  readonly #inFlight = new Set<Task>()
  readonly #started = Date.now()
  #wake: (() => void) | undefined
  #filesDone = 0
  #bytesDone = 0
  #bytesTotal = 0

  constructor(
    readonly names: readonly string[],
    private readonly onProgress: ((p: PoolProgress) => void) | undefined,
  ) {
    this.#results = new Array(names.length)
  }

  /** Size every file (a missing one is a failed result at once) and queue the rest. */
  async prepare(spool: StdinSpool): Promise<void> {
    const tasks: Task[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < this.names.length) {
        const index = next++
        const name = this.names[index]
        try {
          tasks.push(await this.#sized(index, name, spool))
        } catch (err) {
          const error = err instanceof PagedictError ? err : ioError(name, err, 'read')
          this.settle(undefined, { file: name, index, ok: false, error, attempts: 0, cancelled: false })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, this.names.length) }, worker))
    tasks.sort((a, b) => b.size - a.size || a.index - b.index)
    this.queue = tasks
    // A cancel that came while sizing found an empty queue; cancel what was queued since.
    if (this.cancelled) this.cancel()
    this.#report()
  }

  async #sized(index: number, name: string, spool: StdinSpool): Promise<Task> {
    let path = name
    let size: number
    if (name === '-') {
      ;({ path, size } = await spool.take())
    } else {
      let s
      try {
        s = await stat(name)
      } catch (err) {
        throw ioError(name, err, 'read')
      }
      if (s.isDirectory()) throw ioError(name, Object.assign(new Error('is a directory'), { code: 'EISDIR' }), 'read')
      size = s.size
    }
    this.#bytesTotal += size
    return { run: this, index, name, path, size, attempts: 0, bytes: 0 }
  }

  /** The result at `index` if it has arrived; each is handed out once. */
  take(index: number): PoolResult | undefined {
    const result = this.#results[index]
    if (result) this.#results[index] = undefined
    return result
  }

  /** Resolves at the next settle, cancel or fatal error. */
  changed(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve))
  }

  settle(task: Task | undefined, result: PoolResult): void {
    if (task) {
      this.#inFlight.delete(task)
      this.#bytesDone += task.size
    }
    this.#results[result.index] = result
    this.#filesDone++
    this.#report()
    this.#notify()
  }

  /** The worker died: the file goes to the front of the queue for the next free worker. */
  retry(task: Task): void {
    this.#inFlight.delete(task)
    this.queue.unshift(task)
  }

  progress(task: Task, bytes: number): void {
    task.bytes = bytes
    this.#inFlight.add(task)
    this.#report()
  }

  /** No more files go out; the queued ones are cancelled results. Safe to repeat. */
  cancel(): void {
    this.cancelled = true
    for (const task of this.queue.splice(0)) {
      this.settle(undefined, { file: task.name, index: task.index, ok: false, error: cancelledError(task.name), attempts: task.attempts, cancelled: true })
    }
    this.#notify()
  }

  fail(error: PagedictError): void {
    this.fatal = error
    this.#notify()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #report(): void {
    if (!this.onProgress) return
    let bytes = this.#bytesDone
    for (const task of this.#inFlight) bytes += Math.min(task.bytes, task.size)
    this.onProgress({ filesDone: this.#filesDone, filesTotal: this.names.length, bytesDone: bytes, bytesTotal: this.#bytesTotal, elapsedMs: Date.now() - this.#started })
  }
}
