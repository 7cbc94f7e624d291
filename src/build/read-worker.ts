/**
 * The worker thread of a page-file build's pass 1 (src/build/worker-input.ts): reads and
 * parses the inputs with the same code the main thread would use (src/build/input.ts), so
 * errors and their messages are the same, and hands the records over in the spill format
 * (the hashes left zero), a ring slot at a time. The main thread hashes each key and copies
 * the record to its partition: the two halves of pass 1 run on two cores.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { viewOfBytes } from '../bytes.js'
import { tableInput } from './input.js'
import { encodedRecordSize, writeRecord } from './spill-record.js'
import type { ReaderData, ToMain } from './worker-input.js'

const data = workerData as ReaderData
const port = parentPort!
const post = (m: ToMain, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer)
const state = new Int32Array(data.control)
const ring = Buffer.from(data.ring)
const ringView = viewOfBytes(ring)
const slotBytes = data.slotBytes
let slot = 0
let fill = 0

/** Wait until the main thread has handed slot i back (it is 1 while in use), then take it. */
function take(i: number): void {
  Atomics.wait(state, i, 1)
  state[i] = 1
}

function handOver(): void {
  post({ slot, length: fill })
  slot = (slot + 1) % data.slots
  fill = 0
  take(slot)
}

async function main(): Promise<void> {
  take(0)
  const source = tableInput({
    ...data.options,
    onProgress: data.progress ? (done, total, phase) => post({ progress: [done, total ?? -1, phase] }) : undefined,
  })
  const summary = await source((key, ks, ke, value, vs, ve, input, line) => {
    const size = encodedRecordSize(input, line, ke - ks, ve - vs)
    if (size > slotBytes) {
      // A record longer than a slot travels alone, after the records before it.
      if (fill > 0) handOver()
      const own = Buffer.allocUnsafe(size)
      writeRecord(own, viewOfBytes(own), 0, 0, 0, input, line, key, ks, ke - ks, value, vs, ve - vs)
      post({ record: own.buffer as ArrayBuffer, offset: own.byteOffset }, own.byteOffset === 0 ? [own.buffer as ArrayBuffer] : undefined)
      return
    }
    if (fill + size > slotBytes) handOver()
    fill = writeRecord(ring, ringView, slot * slotBytes + fill, 0, 0, input, line, key, ks, ke - ks, value, vs, ve - vs) - slot * slotBytes
  })
  if (fill > 0) post({ slot, length: fill })
  post({ done: summary })
}

main().catch((err: unknown) => {
  const e = err as Record<string, unknown>
  post({ error: { name: String(e?.name ?? 'Error'), message: String(e?.message ?? err), code: e?.code as string | undefined, path: e?.path as string | undefined, line: e?.line as number | undefined, option: e?.option as string | undefined } })
})
