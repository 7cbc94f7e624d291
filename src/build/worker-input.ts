/**
 * Pass 1 on two cores: a worker thread (read-worker.ts) reads and parses the inputs while
 * the main thread hashes each key and copies the record to its partition. 5M keys, pass 1:
 * 1140-1210 ms in one thread, 835-870 ms with the worker (hashing in the worker instead left
 * it the slower side: 1035-1270 ms). It needs the second core: on a machine whose other core
 * is busy the gain shrinks toward nothing.
 *
 * The records cross in a ring of slots in a SharedArrayBuffer: the worker fills a slot and
 * posts its number; the main thread distributes the slot's records and hands it back. When
 * every slot is taken the worker blocks (Atomics.wait), so memory stays bounded whatever the
 * speed of either side. Messages keep their order, so records reach the partitions in input
 * order, as --on-duplicate needs.
 *
 * Only where it is safe and pays: input files (the CLI, build({ input })); standard input is
 * read by the main thread, as before; and only from the compiled package, where the worker's
 * .js file exists (the test suite runs the TypeScript sources, which fall back to one thread;
 * the CLI tests run dist/ and so this path).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { PagedictError, type PagedictErrorCode } from '../errors.js'
import { viewOfBytes } from '../bytes.js'
import type { BuildOptions, InputSummary } from './options.js'
import type { Partitioner } from './partitioner.js'

const ENTRY = new URL('./read-worker.js', import.meta.url)
const SLOTS = 8
const SLOT_BYTES = 256 << 10

/** The worker's options: the build's, minus the progress callback (a flag instead). */
export interface ReaderData {
  options: Omit<BuildOptions, 'onProgress'>
  progress: boolean
  ring: SharedArrayBuffer
  control: SharedArrayBuffer
  slots: number
  slotBytes: number
}

export type ToMain =
  | { slot: number; length: number }
  | { record: ArrayBuffer; offset: number }
  | { progress: [number, number, string] }
  | { done: InputSummary }
  | { error: { name: string; message: string; code?: string; path?: string; line?: number; option?: string } }

/** Whether this build can read its input in a worker thread. */
export function canReadInWorker(options: BuildOptions | undefined): options is BuildOptions {
  if (options === undefined) return false
  const inputs = typeof options.input === 'string' ? [options.input] : options.input
  return !inputs.includes('-') && ENTRY.protocol === 'file:' && ENTRY.pathname.endsWith('.js') && fs.existsSync(fileURLToPath(ENTRY))
}

/** Read `options`' inputs in a worker, adding every record to `parts`; resolves with the summary. */
export function readInWorker(options: BuildOptions, parts: Partitioner): Promise<InputSummary> {
  const ring = new SharedArrayBuffer(SLOTS * SLOT_BYTES)
  const control = new SharedArrayBuffer(SLOTS * 4)
  const state = new Int32Array(control)
  const ringBuf = Buffer.from(ring)
  const ringView = viewOfBytes(ringBuf)
  const { onProgress, ...rest } = options
  const data: ReaderData = { options: rest, progress: onProgress !== undefined, ring, control, slots: SLOTS, slotBytes: SLOT_BYTES }
  return new Promise((resolve, reject) => {
    // No execArgv: flags meant for the main script (--input-type, say) can make a worker fail.
    const worker = new Worker(ENTRY, { workerData: data, execArgv: [] })
    let settled = false
    const fail = (err: unknown): void => {
      if (settled) return
      settled = true
      void worker.terminate()
      reject(err)
    }
    worker.on('message', (m: ToMain) => {
      if (settled) return
      try {
        if ('slot' in m) {
          const end = m.slot * SLOT_BYTES + m.length
          for (let pos = m.slot * SLOT_BYTES; pos < end; ) pos = parts.addEncoded(ringBuf, ringView, pos)
          Atomics.store(state, m.slot, 0)
          Atomics.notify(state, m.slot)
        } else if ('record' in m) {
          const own = Buffer.from(m.record, m.offset)
          parts.addEncoded(own, viewOfBytes(own), 0)
        } else if ('progress' in m) {
          const [done, total, phase] = m.progress
          onProgress?.(done, total < 0 ? undefined : total, phase)
        } else if ('done' in m) {
          settled = true
          resolve(m.done)
        } else {
          const e = m.error
          fail(e.code !== undefined ? new PagedictError(e.code as PagedictErrorCode, e.message, { path: e.path, line: e.line, option: e.option }) : Object.assign(new Error(e.message), { name: e.name }))
        }
      } catch (err) {
        fail(err) // the main thread's side failed (a spill could not be written)
      }
    })
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the input reader thread stopped (exit code ${code})`)))
  })
}
