/**
 * The spill record: how pass 1 writes a record into a partition's chunks and spill file, and
 * how it is read back whole. A record is: u32 hashHigh, u32 hashLow, varint input index,
 * varint line, varint key length, varint value length, key bytes, value bytes.
 */
import { copyBytesWide } from '../bytes.js'
import { readVarint, varintEnd, varintSize, writeVarint } from '../format/layout.js'

/** (buf, keyStart, keyEnd, valueEnd, hashHigh, hashLow, inputIndex, line) of one record. */
export type RecordCallback = (buf: Buffer, keyStart: number, keyEnd: number, valueEnd: number, hashHigh: number, hashLow: number, inputIndex: number, line: number) => void

/** The position after the varint at `pos`, which the build wrote (so it is sound). */
export function skipVarint(buf: Uint8Array, pos: number): number {
  while (buf[pos] >= 0x80) pos++
  return pos + 1
}

/** Bytes of a spill record with these fields. */
export function encodedRecordSize(inputIndex: number, line: number, keyLen: number, valueLen: number): number {
  return 8 + varintSize(inputIndex) + varintSize(line) + varintSize(keyLen) + varintSize(valueLen) + keyLen + valueLen
}

/** Write one spill record at `at` in `out` (whose DataView is `view`); returns its end. */
export function writeRecord(out: Buffer, view: DataView, at: number, high: number, low: number, inputIndex: number, line: number, key: Uint8Array, keyStart: number, keyLen: number, value: Uint8Array, valueStart: number, valueLen: number): number {
  view.setUint32(at, high, true)
  view.setUint32(at + 4, low, true)
  at = writeVarint(out, at + 8, inputIndex)
  at = writeVarint(out, at, line)
  at = writeVarint(out, at, keyLen)
  at = writeVarint(out, at, valueLen)
  copyBytesWide(key, keyStart, keyLen, out, view, at)
  copyBytesWide(value, valueStart, valueLen, out, view, at + keyLen)
  return at + keyLen + valueLen
}

/** Size of the record at `pos` if its header is complete within `have` bytes, else -1. */
export function recordSizeAt(buf: Buffer, pos: number, have: number): number {
  if (pos + 8 > have) return -1
  if (readVarint(buf, pos + 8, have) < 0 || readVarint(buf, varintEnd, have) < 0) return -1
  const keyLen = readVarint(buf, varintEnd, have)
  if (keyLen < 0) return -1
  const valueLen = readVarint(buf, varintEnd, have)
  if (valueLen < 0) return -1
  return varintEnd - pos + keyLen + valueLen
}

/** Hand the record at `pos` to `each`; returns its size. */
export function emitRecord(buf: Buffer, pos: number, each: RecordCallback): number {
  const end = buf.length
  const high = buf.readUInt32LE(pos)
  const low = buf.readUInt32LE(pos + 4)
  const input = readVarint(buf, pos + 8, end)
  const line = readVarint(buf, varintEnd, end)
  const keyLen = readVarint(buf, varintEnd, end)
  const valueLen = readVarint(buf, varintEnd, end)
  const keyStart = varintEnd
  each(buf, keyStart, keyStart + keyLen, keyStart + keyLen + valueLen, high, low, input, line)
  return keyStart + keyLen + valueLen - pos
}
