/**
 * The worker entry: a child process forked by the pool (the default) or a worker thread.
 * It opens the table once, loads the job module once, then runs one file at a time as the
 * parent hands them out. It imports little on purpose: start-up time is paid per worker,
 * and again for every replacement after a crash.
 */
import { parentPort } from 'node:worker_threads'
import { PagedictError } from '../errors.js'
import { open } from '../read/open.js'
import type { Dict } from '../read/dict.js'
import type { ContextExtension, PoolJob, PoolJobContext } from './job.js'
import { type FromWorker, type InitMessage, type JobMessage, type ToWorker, serializeError } from './messages.js'

/** Progress messages are throttled to this interval: enough for a smooth display, no flood. */
const PROGRESS_INTERVAL_MS = 200

const port = parentPort
const send: (msg: FromWorker) => void = port ? (msg) => port.postMessage(msg) : (msg) => process.send?.(msg)

let dict: Dict | undefined
let job: PoolJob | undefined
let extend: ContextExtension | undefined
let settings: InitMessage | undefined
let running: { id: number; controller: AbortController } | undefined

async function start(msg: InitMessage): Promise<void> {
  settings = msg
  try {
    dict = open(msg.table)
    const mod = (await import(msg.jobUrl)) as { default?: unknown }
    if (typeof mod.default !== 'function') {
      throw new PagedictError('E_OPTION', `job: ${msg.jobUrl} has no default export function (dict, file, ctx) => result`, { option: 'job' })
    }
    job = mod.default as PoolJob
    if (msg.contextUrl !== undefined) {
      const ext = (await import(msg.contextUrl)) as { default?: unknown }
      if (typeof ext.default !== 'function') throw new PagedictError('E_OPTION', `contextUrl: ${msg.contextUrl} has no default export function`, { option: 'contextUrl' })
      extend = ext.default as ContextExtension
    }
    send({ type: 'ready' })
  } catch (err) {
    send({ type: 'init-failed', error: serializeError(err) })
    finish(1)
  }
}

async function runJob(msg: JobMessage): Promise<void> {
  const controller = new AbortController()
  running = { id: msg.id, controller }
  let lastProgress = 0
  const base: PoolJobContext = {
    signal: controller.signal,
    workerId: settings!.workerId,
    index: msg.index,
    name: msg.name,
    path: msg.path,
    options: settings!.jobOptions ?? null,
    progress(bytes: number) {
      const now = Date.now()
      if (now - lastProgress < PROGRESS_INTERVAL_MS) return
      lastProgress = now
      send({ type: 'progress', id: msg.id, bytes })
    },
  }
  try {
    const ctx = extend ? Object.assign(base, extend(dict!, base)) : base
    const result = await job!(dict!, msg.path, ctx)
    // The JSON round trip gives threads and processes the same results (processes send JSON
    // anyway) and turns an unserialisable result into this file's error, not a dead worker.
    const text = JSON.stringify(result)
    send({ type: 'done', id: msg.id, result: text === undefined ? null : JSON.parse(text) })
  } catch (err) {
    send({ type: 'failed', id: msg.id, error: serializeError(err), aborted: controller.signal.aborted })
  } finally {
    running = undefined
  }
}

function onMessage(msg: ToWorker): void {
  switch (msg.type) {
    case 'init':
      void start(msg)
      break
    case 'job':
      void runJob(msg)
      break
    case 'abort':
      if (running?.id === msg.id) running.controller.abort()
      break
    case 'close':
      dict?.close()
      dict = undefined
      finish(0)
      break
  }
}

/** End this worker: the process, or only this thread (process.exit in a thread ends the thread). */
function finish(code: number): void {
  process.exit(code)
}

if (port) {
  // A job's console.log must not mix into the run's output on stdout (processes get the
  // same through their stdio setting in handle.ts).
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write
  port.on('message', onMessage)
} else {
  process.on('message', (msg) => onMessage(msg as ToWorker))
  // A parent that is gone (killed, crashed) closes the channel: nothing is left to work for.
  process.on('disconnect', () => process.exit(0))
  // Ctrl-C at a terminal signals the whole process group; the parent decides what stops and
  // tells this worker, so the signal itself must not kill it mid-write.
  process.on('SIGINT', () => undefined)
}
