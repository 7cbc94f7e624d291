/**
 * The scanner's batched lookups: records' keys are collected as they are split, looked up
 * BATCH_KEYS at a time with dict.lookupBatch (src/read/batch.ts says why that is faster), and
 * only then handed, in file order, to the line handler. A batch never outlives the block
 * handler call that filled it: the block's buffer is reused after that call returns.
 */
import { BATCH_KEYS, KeyBatch } from '../read/batch.js'
import type { Dict } from '../read/dict.js'

/** Called once per record, as in scan.ts: found, and the record `buf[start, end)`. */
type Handler = (found: boolean, buf: Buffer, start: number, end: number) => void

export class LineBatch {
  private readonly keys = new KeyBatch()
  private readonly lineStart = new Int32Array(BATCH_KEYS)
  private readonly lineEnd = new Int32Array(BATCH_KEYS)

  constructor(
    private readonly dict: Dict & Required<Pick<Dict, 'lookupBatch'>>,
    private readonly onLine: Handler | undefined,
  ) {}

  /** A record `[start, end)` of the block whose key is `key[keyStart, keyEnd)`. */
  add(key: Uint8Array, keyStart: number, keyEnd: number, start: number, end: number): void {
    const i = this.keys.add(key, keyStart, keyEnd)
    this.lineStart[i] = start
    this.lineEnd[i] = end
  }

  /** A record without the key field: never found, but still handed to the handler in order. */
  addNone(start: number, end: number): void {
    const i = this.keys.addNone()
    this.lineStart[i] = start
    this.lineEnd[i] = end
  }

  get full(): boolean {
    return this.keys.full
  }

  /** Look the batch up, hand its records to the handler in order; returns how many were found. */
  flush(buf: Buffer): number {
    const b = this.keys
    if (b.count === 0) return 0
    this.dict.lookupBatch(b)
    let matched = 0
    const onLine = this.onLine
    const v = this.dict.lastValue
    for (let i = 0; i < b.count; i++) {
      const found = b.found[i] === 1
      if (found) matched++
      if (onLine === undefined) continue
      if (found) {
        v.bytes = b.valueBytes[i]
        v.start = b.valueStart[i]
        v.end = b.valueEnd[i]
      }
      onLine(found, buf, this.lineStart[i], this.lineEnd[i])
    }
    b.clear()
    return matched
  }
}

/** The batched path's dictionary, when it has one (the page file; LMDB looks up one at a time). */
export function batchable(dict: Dict): (Dict & Required<Pick<Dict, 'lookupBatch'>>) | undefined {
  return typeof dict.lookupBatch === 'function' ? (dict as Dict & Required<Pick<Dict, 'lookupBatch'>>) : undefined
}
