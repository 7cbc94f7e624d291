/**
 * The local pool: workers that each open the table once, and a queue of data files handed out
 * largest first as workers free up. Results come back in the order of the input files,
 * whatever the order of completion.
 *
 * Faults stay with their file. A worker that dies (a crash, process.exit, a kill, out of
 * memory) is replaced and its file retried up to `retries` times, then reported failed; a
 * job that throws is a failed file at once (a retry would throw again). Every file yields
 * exactly one result: a retried file's first attempt is never reported.
 */
import { PagedictError } from '../errors.js'
import { startWorker, type WorkerHandle } from './handle.js'
import type { FromWorker, SerializedError } from './messages.js'
import { type LocalPoolOptions, type ResolvedPoolOptions, checkFileList, resolvePoolOptions } from './options.js'
import { type Task, RunState, cancelledError } from './run-state.js'
import { StdinSpool } from './stdin.js'
import type { JobPool, PoolResult } from './types.js'

/** How long an aborted job may take to stop before its worker is killed. */
const ABORT_GRACE_MS = 1500

interface Slot {
  id: number
  handle: WorkerHandle
  ready: boolean
  closing: boolean
  task: Task | undefined
  /** The id of the dispatch `task` was sent with; answers to other ids are stale. */
  dispatch: number
  exited: Promise<void>
}

export class LocalPool implements JobPool {
  readonly #opts: ResolvedPoolOptions
  readonly #slots = new Set<Slot>()
  #nextWorkerId = 1
  #nextDispatch = 1
  #run: RunState | undefined
  /** The first start-up failure (table does not open, job does not load): no more spawning. */
  #startFailure: PagedictError | undefined
  #closed = false
  readonly #spool = new StdinSpool()

  constructor(options: LocalPoolOptions) {
    this.#opts = resolvePoolOptions(options)
  }

  /**
   * Run the job over `files` ('-' is standard input). Yields one result per file, in input
   * order. Throws when no worker can start (the table does not open, the job does not load)
   * or on bad arguments. Breaking out of the loop cancels the files not yet done.
   */
  async *run<R = unknown>(files: Iterable<string>): AsyncGenerator<PoolResult<R>, void, undefined> {
    if (this.#closed) throw new PagedictError('E_OPTION', 'run: the pool is closed')
    if (this.#run) throw new PagedictError('E_OPTION', 'run: a run is already going on this pool; wait for it to finish')
    const names = checkFileList(files)

    const run = new RunState(names, this.#opts.onProgress)
    this.#run = run
    let next = 0
    for (const slot of this.#slots) slot.handle.ref(true)
    try {
      // Workers start while the files are sized: start-up and stat calls overlap.
      this.#warm(names.length)
      await run.prepare(this.#spool)
      this.#fill()
      while (next < names.length) {
        const result = run.take(next)
        if (result) {
          next++
          yield result as PoolResult<R>
          continue
        }
        if (run.fatal) throw run.fatal
        await run.changed()
      }
    } finally {
      if (next < names.length) this.#cancelRun(run)
      this.#run = undefined
      // Idle workers must not keep the process alive when the caller forgets close().
      for (const slot of this.#slots) slot.handle.ref(false)
      await this.#spool.discard()
    }
  }

  /**
   * Stop the current run: hand out no more files, abort the running jobs (their workers are
   * killed if they do not stop within a grace period). The run's iterator then yields what
   * was done, and the rest as `cancelled` failures.
   */
  cancel(): void {
    if (this.#run) this.#cancelRun(this.#run)
  }

  /** Cancel any run, end every worker, remove temporary files. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.cancel()
    // Held until each worker is gone: a job stuck in a loop is killed, never left orphaned.
    for (const slot of this.#slots) slot.handle.ref(true)
    for (const slot of this.#slots) this.#endWorker(slot)
    await Promise.all([...this.#slots].map((slot) => slot.exited))
    await this.#spool.discard()
  }

  #cancelRun(run: RunState): void {
    if (run.cancelled) return
    run.cancel()
    for (const slot of this.#slots) {
      if (slot.task?.run !== run) continue
      slot.handle.send({ type: 'abort', id: slot.dispatch })
      const dispatch = slot.dispatch
      setTimeout(() => {
        if (slot.dispatch === dispatch && slot.task) slot.handle.kill()
      }, ABORT_GRACE_MS).unref()
    }
  }

  /** Idle workers close at once; a busy one is aborted and killed after the grace period. */
  #endWorker(slot: Slot): void {
    slot.closing = true
    if (!slot.task) {
      slot.handle.send({ type: 'close' })
      // A worker stuck in start-up (a slow job module) must not hold close() up forever.
      setTimeout(() => slot.handle.kill(), ABORT_GRACE_MS).unref()
      return
    }
    slot.handle.send({ type: 'abort', id: slot.dispatch })
    setTimeout(() => slot.handle.kill(), ABORT_GRACE_MS).unref()
  }

  /** Hand queued files to idle workers, and start workers while files wait for one. */
  #fill(): void {
    const run = this.#run
    if (!run || run.cancelled || this.#closed) return
    for (const slot of this.#slots) {
      if (run.queue.length === 0) break
      if (slot.ready && !slot.closing && !slot.task) this.#dispatch(slot, run.queue.shift()!)
    }
    let waiting = 0 // workers starting or idle, each about to take a file
    for (const slot of this.#slots) if (!slot.closing && !slot.task) waiting++
    while (!this.#startFailure && this.#slots.size < this.#opts.workers && waiting < run.queue.length) {
      this.#spawn()
      waiting++
    }
    if (this.#startFailure && this.#slots.size === 0 && run.queue.length > 0) run.fail(this.#startFailure)
  }

  /** Start workers for up to `files` files before the queue exists. */
  #warm(files: number): void {
    while (!this.#startFailure && this.#slots.size < Math.min(this.#opts.workers, files)) this.#spawn()
  }

  #dispatch(slot: Slot, task: Task): void {
    task.attempts++
    task.bytes = 0
    slot.task = task
    slot.dispatch = this.#nextDispatch++
    slot.handle.send({ type: 'job', id: slot.dispatch, index: task.index, name: task.name, path: task.path })
  }

  #spawn(): void {
    let gone!: () => void
    const slot: Slot = {
      id: this.#nextWorkerId++,
      handle: undefined as unknown as WorkerHandle,
      ready: false,
      closing: false,
      task: undefined,
      dispatch: 0,
      exited: new Promise((resolve) => (gone = resolve)),
    }
    slot.handle = startWorker(this.#opts.threads, {
      message: (msg) => this.#onMessage(slot, msg),
      exit: (how) => {
        this.#onExit(slot, how)
        gone()
      },
    })
    this.#slots.add(slot)
    const { table, jobUrl, jobOptions, contextUrl } = this.#opts
    slot.handle.send({ type: 'init', workerId: slot.id, table, jobUrl, jobOptions, contextUrl })
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'ready':
        slot.ready = true
        if (slot.closing) slot.handle.send({ type: 'close' })
        else this.#fill()
        return
      case 'init-failed':
        this.#startFailure ??= toError(msg.error)
        return
      case 'progress':
        if (slot.task && msg.id === slot.dispatch) slot.task.run.progress(slot.task, msg.bytes)
        return
      case 'done':
      case 'failed': {
        const task = slot.task
        if (!task || msg.id !== slot.dispatch) return
        slot.task = undefined
        if (msg.type === 'done') task.run.settle(task, { file: task.name, index: task.index, ok: true, result: msg.result, attempts: task.attempts })
        else task.run.settle(task, { file: task.name, index: task.index, ok: false, error: toError(msg.error, task.name), attempts: task.attempts, cancelled: msg.aborted && task.run.cancelled })
        if (slot.closing) slot.handle.send({ type: 'close' })
        else this.#fill()
        return
      }
    }
  }

  #onExit(slot: Slot, how: string): void {
    this.#slots.delete(slot)
    if (!slot.ready && !slot.closing) {
      this.#startFailure ??= new PagedictError('E_JOB', `worker ${slot.id} ${how} while starting (opening ${this.#opts.table}, loading the job)`)
    }
    const task = slot.task
    slot.task = undefined
    if (task) {
      const run = task.run
      if (run.cancelled) {
        run.settle(task, { file: task.name, index: task.index, ok: false, error: cancelledError(task.name), attempts: task.attempts, cancelled: true })
      } else if (task.attempts <= this.#opts.retries) {
        run.retry(task)
      } else {
        const tries = task.attempts === 1 ? 'once' : `${task.attempts} times`
        const error = new PagedictError('E_JOB', `${task.name}: the worker died (${how}) while running this file; tried ${tries}`, { path: task.name })
        run.settle(task, { file: task.name, index: task.index, ok: false, error, attempts: task.attempts, cancelled: false })
      }
    }
    this.#fill()
  }
}

/** Rebuild a worker's error; a PagedictError keeps its code, anything else becomes E_JOB. */
function toError(e: SerializedError, path?: string): PagedictError {
  const code = e.name === 'PagedictError' && e.code ? (e.code as PagedictError['code']) : 'E_JOB'
  return new PagedictError(code, e.message, { path, cause: e })
}
