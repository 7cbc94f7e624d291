/**
 * Pass 2 reads partitions back one at a time: PartitionLoader parses a partition's spill
 * records (spill-record.ts) into one flat array of fields per record, in buffers it reuses.
 */
import { viewOfBytes } from '../bytes.js'
import { readVarint, varintEnd } from '../format/layout.js'
import type { Partition } from './partition.js'

/**
 * The records of one partition, parsed: REC_STRIDE u32 fields per record in `rec` (record i's
 * field F is rec[i * REC_STRIDE + F]), over one buffer. One record's fields share a cache line:
 * pass 2 visits records in bucket order, a random order, and parallel arrays cost a cache miss
 * per field there.
 */
export interface LoadedPartition {
  buf: Buffer
  count: number
  rec: Uint32Array
}

export const REC_STRIDE = 8
export const R_HIGH = 0
export const R_LOW = 1
/** Offset of the record's key in buf; the value follows the key. */
export const R_KEY_AT = 2
export const R_KEY_LEN = 3
export const R_VALUE_LEN = 4
export const R_INPUT = 5
export const R_LINE = 6

/** Reused buffers for loading one partition at a time. */
export class PartitionLoader {
  private buf: Buffer = Buffer.allocUnsafe(1 << 20)
  private view = viewOfBytes(this.buf)
  private rec = new Uint32Array(0)

  /** Read back the records written by Partitioner#add. The build wrote them: bounds are ours. */
  parse(part: Partition, count: number): LoadedPartition {
    const buf = part.load(this.buf)
    if (buf !== this.buf) {
      this.buf = buf
      this.view = viewOfBytes(buf)
    }
    if (this.rec.length < count * REC_STRIDE) this.rec = new Uint32Array(Math.max(count * REC_STRIDE, Math.floor(this.rec.length * 1.5)))
    const rec = this.rec
    const view = this.view
    const end = part.bytes
    let pos = 0
    for (let i = 0, r = 0; i < count; i++, r += REC_STRIDE) {
      rec[r + R_HIGH] = view.getUint32(pos, true)
      rec[r + R_LOW] = view.getUint32(pos + 4, true)
      // One-byte varints inline (the common case); longer ones through readVarint. Written
      // out four times on purpose: a helper (returning the end through a module variable, or
      // storing into rec) parsed 25-35% slower (1.46M records: 20 ns a record, 25-27 with it).
      pos += 8
      let input = buf[pos++]
      if (input >= 0x80) {
        input = readVarint(buf, pos - 1, end)
        pos = varintEnd
      }
      let line = buf[pos++]
      if (line >= 0x80) {
        line = readVarint(buf, pos - 1, end)
        pos = varintEnd
      }
      let keyLen = buf[pos++]
      if (keyLen >= 0x80) {
        keyLen = readVarint(buf, pos - 1, end)
        pos = varintEnd
      }
      let valueLen = buf[pos++]
      if (valueLen >= 0x80) {
        valueLen = readVarint(buf, pos - 1, end)
        pos = varintEnd
      }
      rec[r + R_INPUT] = input
      rec[r + R_LINE] = line
      rec[r + R_KEY_AT] = pos
      rec[r + R_KEY_LEN] = keyLen
      rec[r + R_VALUE_LEN] = valueLen
      pos += keyLen + valueLen
    }
    return { buf, count, rec }
  }
}
