/**
 * Keys looked up together (getMany, and the `run` scanner's hot loop). One key at a time,
 * a lookup waits in full for its page to come from memory, and its own computing keeps the
 * CPU from starting the next key's load. A batch hashes every key first, then touches every
 * home page in a loop so short that the CPU has dozens of those loads in flight at once, and
 * only then compares keys, in pages that are in cache by now (BENCHMARKS.md has the figures).
 */
import { MAX_KEY_BYTES } from '../format/layout.js'
import { copyBytes } from '../bytes.js'

/** Keys per batch: enough to overlap the loads, few enough that their pages stay in cache. */
export const BATCH_KEYS = 512

/**
 * Where a batched lookup's answers land, key i by key i: found[i] is 1 when key i was found,
 * and its encoded value then lies at [valueStart[i], valueEnd[i]) of shard segment[i]'s
 * mapping (KeyBatch also keeps that mapping in valueBytes[i]).
 */
export class LookupAnswers {
  readonly found = new Uint8Array(BATCH_KEYS)
  readonly segment = new Int32Array(BATCH_KEYS)
  readonly valueStart = new Int32Array(BATCH_KEYS)
  readonly valueEnd = new Int32Array(BATCH_KEYS)
}

export class KeyBatch extends LookupAnswers {
  /** Keys added since clear(). */
  count = 0
  /** The keys' bytes, back to back. */
  bytes: Buffer = Buffer.allocUnsafe(BATCH_KEYS * 32)
  private used = 0
  /** Key i is bytes[start[i], start[i] + len[i]); len -1 = no key (never found). */
  readonly start = new Int32Array(BATCH_KEYS)
  readonly len = new Int32Array(BATCH_KEYS)

  // Filled by the dictionary's lookupBatch: its working values, then the answers.
  readonly low = new Uint32Array(BATCH_KEYS)
  readonly home = new Int32Array(BATCH_KEYS)
  /** For a found key i, the mapping its value is in: valueBytes[i][valueStart[i], valueEnd[i]). */
  readonly valueBytes: Uint8Array[] = new Array<Uint8Array>(BATCH_KEYS)

  get full(): boolean {
    return this.count === BATCH_KEYS
  }

  clear(): void {
    this.count = 0
    this.used = 0
  }

  /** Add the key src[start, end); returns its index. A key too long to be stored is added as no key. */
  add(src: Uint8Array, start: number, end: number): number {
    const len = end - start
    if (len > MAX_KEY_BYTES) return this.addNone()
    if (this.used + len > this.bytes.length) this.grow(len)
    const i = this.count++
    copyBytes(src, start, len, this.bytes, this.used)
    this.start[i] = this.used
    this.len[i] = len
    this.used += len
    return i
  }

  /** Add a string key, encoded straight into the batch; returns its index. */
  addString(key: string): number {
    // A UTF-16 unit is at most three UTF-8 bytes; a key past the limit is added as no key.
    if (this.used + 3 * Math.min(key.length, MAX_KEY_BYTES + 1) > this.bytes.length) this.grow(3 * (MAX_KEY_BYTES + 1))
    const len = encodeKey(key, this.bytes, this.used)
    if (len < 0) return this.addNone()
    const i = this.count++
    this.start[i] = this.used
    this.len[i] = len
    this.used += len
    return i
  }

  /** Add a place for a record that has no key (it is never found); returns its index. */
  addNone(): number {
    const i = this.count++
    this.start[i] = 0
    this.len[i] = -1
    return i
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + need))
    this.bytes.copy(bigger, 0, 0, this.used)
    this.bytes = bigger
  }
}

/**
 * Write the UTF-8 bytes of `key` at out[at] (room for 3 bytes a UTF-16 unit, up to
 * MAX_KEY_BYTES + 1 units, is the caller's); returns their length, or -1 when over
 * MAX_KEY_BYTES (such a key is in no table). ASCII, the common case, is copied by a loop.
 */
export function encodeKey(key: string, out: Buffer, at: number): number {
  const n = key.length
  if (n > MAX_KEY_BYTES) return -1 // every UTF-16 unit is at least one UTF-8 byte
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i)
    if (c >= 0x80) {
      const len = out.write(key, at, 'utf8')
      return len > MAX_KEY_BYTES ? -1 : len
    }
    out[at + i] = c
  }
  return n
}
