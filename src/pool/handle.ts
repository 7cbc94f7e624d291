/**
 * One worker as the pool sees it, a child process or a worker thread behind one small
 * interface: send a message, hear messages, learn once how it ended, kill it.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FromWorker, ToWorker } from './messages.js'

/** The compiled worker entry beside this file (dist/pool/child.js). */
const ENTRY = new URL('./child.js', import.meta.url)

export interface WorkerEvents {
  message(msg: FromWorker): void
  /** Called exactly once, when the worker has ended; `how` reads like "killed by SIGKILL". */
  exit(how: string): void
}

export interface WorkerHandle {
  send(msg: ToWorker): void
  /** End the worker at once (SIGKILL for a process, terminate() for a thread). */
  kill(): void
  /** Whether the worker keeps the parent's event loop alive (an idle pool should not). */
  ref(keepAlive: boolean): void
}

export function startWorker(threads: boolean, events: WorkerEvents): WorkerHandle {
  return threads ? startThread(events) : startProcess(events)
}

function startProcess(events: WorkerEvents): WorkerHandle {
  let ended = false
  let lastError = ''
  const end = (how: string): void => {
    if (ended) return
    ended = true
    events.exit(lastError ? `${how} (${lastError})` : how)
  }
  const child = fork(fileURLToPath(ENTRY), [], {
    // The parent's flags (a debugger, a test runner's loaders) are not the worker's business,
    // and leaving them out keeps start-up fast and the same everywhere.
    execArgv: [],
    // A job's console.log goes to stderr: stdout may be carrying the run's output bytes.
    // Standard input is read by the parent alone (it spools '-' to a file).
    stdio: ['ignore', 2, 2, 'ipc'],
    serialization: 'json',
  })
  child.on('message', (msg) => events.message(msg as FromWorker))
  child.on('exit', (code, signal) => end(signal ? `killed by ${signal}` : `exit code ${code}`))
  child.on('error', (err) => {
    lastError = err.message
    // A child that never started has no pid and may never emit 'exit'.
    if (child.pid === undefined) end('could not start')
  })
  return {
    send(msg) {
      if (ended || !child.connected) return
      // A send can race the child's death; the 'exit' event reports that death, so the
      // error only adds detail to it.
      child.send(msg, (err) => {
        if (err) lastError = err.message
      })
    },
    kill() {
      if (!ended) child.kill('SIGKILL')
    },
    ref(keepAlive) {
      if (keepAlive) {
        child.ref()
        child.channel?.ref()
      } else {
        child.unref()
        child.channel?.unref()
      }
    },
  }
}

function startThread(events: WorkerEvents): WorkerHandle {
  let ended = false
  let lastError = ''
  // A thread's stdout goes to the parent's stdout; the worker sends it to stderr itself
  // (child.ts): piping it here would keep the parent alive after the pool goes idle.
  const worker = new Worker(ENTRY, { execArgv: [] })
  worker.on('message', (msg) => events.message(msg as FromWorker))
  // An uncaught error (or ERR_WORKER_OUT_OF_MEMORY) arrives here just before 'exit'.
  worker.on('error', (err) => {
    lastError = err.message
  })
  worker.on('exit', (code) => {
    if (ended) return
    ended = true
    events.exit(lastError ? `exit code ${code} (${lastError})` : `exit code ${code}`)
  })
  return {
    send(msg) {
      if (!ended) worker.postMessage(msg)
    },
    kill() {
      if (!ended) void worker.terminate()
    },
    ref(keepAlive) {
      if (keepAlive) worker.ref()
      else worker.unref()
    },
  }
}
