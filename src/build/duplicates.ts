/**
 * --on-duplicate in pass 2: equal keys hash alike, so they meet in one bucket of one
 * partition, where Duplicates finds them after the bucket sort (pack-partitions.ts).
 */
import { PagedictError, duplicateKeyError } from '../errors.js'
import { type LoadedPartition, REC_STRIDE, R_HIGH, R_INPUT, R_KEY_AT, R_KEY_LEN, R_LINE, R_LOW } from './partition-loader.js'
import type { PageFileBuildOptions } from './pagefile.js'

/** Marks a record in the bucket order that is not to be packed. */
export const DROPPED = 0xffffffff

/** The duplicate that comes first in the input, under --on-duplicate error. */
export interface DuplicateFound {
  first?: { input: number; line: number; error: PagedictError }
}

/**
 * Finds equal keys within one bucket. A 256-slot table keyed by 8 hash bits chains the
 * bucket's records, so the check is linear in the bucket, not quadratic.
 */
export class Duplicates {
  private readonly heads = new Int32Array(256).fill(-1)
  private chain = new Int32Array(64)

  constructor(
    private readonly part: LoadedPartition,
    private readonly opts: PageFileBuildOptions,
    private readonly found: DuplicateFound,
  ) {}

  /**
   * Mark dropped records in order[from, to) with DROPPED. Under 'error' the later copy is
   * dropped too and the duplicate noted: the build fails after the pass, naming the repeat
   * that comes first in the input, whatever the hash order (so the message is reproducible).
   */
  settle(order: Uint32Array, from: number, to: number): void {
    const p = this.part
    const rec = p.rec
    if (this.chain.length < to - from) this.chain = new Int32Array(to - from)
    for (let j = from; j < to; j++) {
      const i = order[j]
      const r = i * REC_STRIDE
      const slot = rec[r + R_LOW] & 255
      let prev = this.heads[slot]
      while (prev >= 0) {
        const pi = order[from + prev]
        const pr = pi * REC_STRIDE
        if (pi !== DROPPED && rec[pr + R_HIGH] === rec[r + R_HIGH] && rec[pr + R_LOW] === rec[r + R_LOW] && sameKey(p, pi, i)) {
          if (this.opts.onDuplicate === 'error') this.note(pi, i)
          if (this.opts.onDuplicate !== 'last') {
            order[j] = DROPPED
          } else {
            order[from + prev] = DROPPED
          }
          break
        }
        prev = this.chain[prev]
      }
      if (order[j] !== DROPPED) {
        this.chain[j - from] = this.heads[slot]
        this.heads[slot] = j - from
      }
    }
    this.heads.fill(-1)
  }

  private note(first: number, again: number): void {
    const p = this.part
    const best = this.found.first
    const input = p.rec[again * REC_STRIDE + R_INPUT]
    const line = p.rec[again * REC_STRIDE + R_LINE]
    if (best !== undefined && (best.input < input || (best.input === input && best.line <= line))) return
    this.found.first = { input, line, error: this.duplicate(first, again) }
  }

  private duplicate(first: number, again: number): PagedictError {
    const p = this.part
    const a = again * REC_STRIDE
    const f = first * REC_STRIDE
    const key = p.buf.toString('utf8', p.rec[a + R_KEY_AT], p.rec[a + R_KEY_AT] + p.rec[a + R_KEY_LEN])
    return duplicateKeyError(this.opts.inputs, { input: p.rec[a + R_INPUT], line: p.rec[a + R_LINE] }, { input: p.rec[f + R_INPUT], line: p.rec[f + R_LINE] }, key)
  }
}

function sameKey(p: LoadedPartition, a: number, b: number): boolean {
  const len = p.rec[a * REC_STRIDE + R_KEY_LEN]
  if (len !== p.rec[b * REC_STRIDE + R_KEY_LEN]) return false
  const buf = p.buf
  const x = p.rec[a * REC_STRIDE + R_KEY_AT]
  const y = p.rec[b * REC_STRIDE + R_KEY_AT]
  for (let i = 0; i < len; i++) if (buf[x + i] !== buf[y + i]) return false
  return true
}
