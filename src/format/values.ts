/**
 * Value codecs: how a value's bytes are laid out, for every backend alike (the page file
 * and LMDB store the same encoded bytes, so both decode to the same values).
 *
 *   none   (0) no bytes; the table is a key set and a present key reads as `true`
 *   string (1) the UTF-8 bytes of one string
 *   list   (2) varint count, then for each string a varint byte length and its UTF-8 bytes
 *   json   (3) the UTF-8 text of one JSON value
 */
import { PagedictError } from '../errors.js'
import { CODEC_JSON, CODEC_LIST, CODEC_NONE, CODEC_STRING, type CodecId, readVarint, varintEnd, varintSize, writeVarint } from './layout.js'

/** What `get` returns: a string, a list of strings, any JSON value, or `true` for a key set. */
export type Value = string | string[] | unknown

const textDecoder = new TextDecoder('utf-8', { fatal: false })

function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  // Buffer#utf8Slice is the fastest decoder in Node for short strings; Uint8Array views of a
  // mapping are Buffers already, other Uint8Arrays take the TextDecoder path.
  if (Buffer.isBuffer(bytes)) return bytes.toString('utf8', start, end)
  return textDecoder.decode(bytes.subarray(start, end))
}

function badValue(why: string): PagedictError {
  return new PagedictError('E_CORRUPT', `corrupt value: ${why}`)
}

/** Decode the value bytes `bytes[start, end)` written with `codec`. */
export function decodeValue(codec: CodecId, bytes: Uint8Array, start: number, end: number): Value {
  switch (codec) {
    case CODEC_STRING:
      return decodeUtf8(bytes, start, end)
    case CODEC_NONE:
      return true
    case CODEC_LIST:
      return decodeList(bytes, start, end)
    case CODEC_JSON:
      try {
        return JSON.parse(decodeUtf8(bytes, start, end))
      } catch {
        throw badValue('stored JSON does not parse')
      }
  }
}

/** The strings of a list value; every length is checked against `end`. */
export function decodeList(bytes: Uint8Array, start: number, end: number): string[] {
  const count = readVarint(bytes, start, end)
  if (count < 0 || count > end - start) throw badValue('list count out of range')
  let pos = varintEnd
  const out: string[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const len = readVarint(bytes, pos, end)
    if (len < 0 || varintEnd + len > end) throw badValue('list item runs past the value')
    pos = varintEnd
    out[i] = decodeUtf8(bytes, pos, pos + len)
    pos += len
  }
  return out
}

/** Encode a list of strings; the bytes `decodeList` reads back. */
export function encodeList(items: readonly string[]): Buffer {
  const parts = items.map((s) => Buffer.from(s, 'utf8'))
  let size = varintSize(parts.length)
  for (const p of parts) size += varintSize(p.length) + p.length
  const out = Buffer.allocUnsafe(size)
  let pos = writeVarint(out, 0, parts.length)
  for (const p of parts) {
    pos = writeVarint(out, pos, p.length)
    p.copy(out, pos)
    pos += p.length
  }
  return out
}

/** Which codec a library `build(entries)` call uses for a JavaScript value. */
export function codecForValue(value: unknown): CodecId {
  if (value === undefined || value === true) return CODEC_NONE
  if (typeof value === 'string') return CODEC_STRING
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return CODEC_LIST
  return CODEC_JSON
}

/** Encode a JavaScript value with `codec`; throws E_INPUT when it does not fit the codec. */
export function encodeValue(codec: CodecId, value: unknown): Buffer {
  switch (codec) {
    case CODEC_NONE:
      if (value !== undefined && value !== true && value !== null) {
        throw new PagedictError('E_INPUT', `a key-set table takes no values, got ${typeof value}`)
      }
      return Buffer.alloc(0)
    case CODEC_STRING:
      if (typeof value !== 'string') throw new PagedictError('E_INPUT', `a string table takes string values, got ${typeof value}`)
      return Buffer.from(value, 'utf8')
    case CODEC_LIST:
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
        throw new PagedictError('E_INPUT', 'a list table takes arrays of strings')
      }
      return encodeList(value)
    case CODEC_JSON: {
      const text = JSON.stringify(value)
      if (text === undefined) throw new PagedictError('E_INPUT', `value is not representable as JSON (${typeof value})`)
      return Buffer.from(text, 'utf8')
    }
  }
}
