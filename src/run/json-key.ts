/**
 * Finding a JSONL line's key by a field path ("user.id") in the line's bytes, without
 * JSON.parse and without a string per line: walk the object's members, skip the values that
 * are not on the path, and leave the key's bytes where they lie. Only a key string with
 * escapes (\" \u00e9 ...) is decoded, into a scratch buffer.
 *
 * A string value is the key as its UTF-8 text; a number, true or false as its JSON text
 * (so 42 looks up "42"). null, an object, an array, a missing field or a line that is not
 * a JSON object has no key: the line is a miss. The walk stops at the key, so a malformed
 * tail after it goes unnoticed; that is the price of not parsing every line.
 */
import { isSpace } from '../scan/json-object.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const LBRACE = 0x7b
const RBRACE = 0x7d
const LBRACKET = 0x5b
const RBRACKET = 0x5d

function skipSpace(buf: Uint8Array, pos: number, end: number): number {
  while (pos < end && isSpace(buf[pos])) pos++
  return pos
}

export class JsonKeyFinder {
  /** After a successful {@link find}: the key is `bytes[start, end)`. */
  bytes: Uint8Array = new Uint8Array(0)
  start = 0
  end = 0
  private readonly segments: Buffer[]
  private scratch = Buffer.allocUnsafe(1024)
  /** Set by stringEnd: the string just scanned holds a backslash escape. */
  private escaped = false

  constructor(path: string) {
    this.segments = path.split('.').map((s) => Buffer.from(s, 'utf8'))
  }

  /** Find the key in the line `buf[start, end)`; false when the line has none. */
  find(buf: Uint8Array, start: number, end: number): boolean {
    let pos = skipSpace(buf, start, end)
    const segs = this.segments
    for (let depth = 0; depth < segs.length; depth++) {
      pos = this.member(buf, pos, end, segs[depth])
      if (pos < 0) return false
    }
    if (pos >= end) return false
    const c = buf[pos]
    if (c === QUOTE) {
      const close = this.stringEnd(buf, pos + 1, end)
      if (close < 0) return false
      if (!this.escaped) return this.found(buf, pos + 1, close)
      const n = this.decode(buf, pos + 1, close)
      return n >= 0 && this.found(this.scratch, 0, n)
    }
    if (c === LBRACE || c === LBRACKET) return false
    let e = pos
    while (e < end && buf[e] !== COMMA && buf[e] !== RBRACE && buf[e] !== RBRACKET && !isSpace(buf[e])) e++
    if (e - pos === 4 && buf[pos] === 0x6e /* n */) return false // null
    return e > pos && this.found(buf, pos, e)
  }

  private found(bytes: Uint8Array, start: number, end: number): true {
    this.bytes = bytes
    this.start = start
    this.end = end
    return true
  }

  /** At an object `{` at `pos`: the position of the value of member `name`, or -1. */
  private member(buf: Uint8Array, pos: number, end: number, name: Buffer): number {
    if (pos >= end || buf[pos] !== LBRACE) return -1
    pos++
    for (;;) {
      pos = skipSpace(buf, pos, end)
      if (pos >= end || buf[pos] !== QUOTE) return -1
      const close = this.stringEnd(buf, pos + 1, end)
      if (close < 0) return -1
      const match = this.escaped ? this.decodedIs(buf, pos + 1, close, name) : rangeIs(buf, pos + 1, close, name)
      pos = skipSpace(buf, close + 1, end)
      if (pos >= end || buf[pos] !== COLON) return -1
      pos = skipSpace(buf, pos + 1, end)
      if (match) return pos
      pos = this.skipValue(buf, pos, end)
      if (pos < 0) return -1
      pos = skipSpace(buf, pos, end)
      if (pos >= end || buf[pos] !== COMMA) return -1
      pos++
    }
  }

  /** The position of the closing quote of a string whose text starts at `pos`, or -1. */
  private stringEnd(buf: Uint8Array, pos: number, end: number): number {
    this.escaped = false
    while (pos < end) {
      const c = buf[pos]
      if (c === QUOTE) return pos
      if (c === BACKSLASH) {
        this.escaped = true
        pos += 2
      } else pos++
    }
    return -1
  }

  /** The position after the JSON value at `pos`, or -1 when it does not end on this line. */
  private skipValue(buf: Uint8Array, pos: number, end: number): number {
    if (pos >= end) return -1
    const c = buf[pos]
    if (c === QUOTE) {
      const close = this.stringEnd(buf, pos + 1, end)
      return close < 0 ? -1 : close + 1
    }
    if (c === LBRACE || c === LBRACKET) {
      let depth = 0
      while (pos < end) {
        const b = buf[pos]
        if (b === QUOTE) {
          const close = this.stringEnd(buf, pos + 1, end)
          if (close < 0) return -1
          pos = close + 1
          continue
        }
        if (b === LBRACE || b === LBRACKET) depth++
        else if ((b === RBRACE || b === RBRACKET) && --depth === 0) return pos + 1
        pos++
      }
      return -1
    }
    while (pos < end && buf[pos] !== COMMA && buf[pos] !== RBRACE && buf[pos] !== RBRACKET && !isSpace(buf[pos])) pos++
    return pos
  }

  private decodedIs(buf: Uint8Array, start: number, end: number, name: Buffer): boolean {
    const n = this.decode(buf, start, end)
    return n >= 0 && rangeIs(this.scratch, 0, n, name)
  }

  /** Decode the JSON string text `buf[start, end)` into scratch as UTF-8; its length, or -1. */
  private decode(buf: Uint8Array, start: number, end: number): number {
    // Escapes only shrink (\uXXXX is 6 bytes for at most 3), so the text's length bounds it.
    if (this.scratch.length < end - start) this.scratch = Buffer.allocUnsafe(end - start)
    const out = this.scratch
    let o = 0
    for (let i = start; i < end; ) {
      const c = buf[i++]
      if (c !== BACKSLASH) {
        out[o++] = c
        continue
      }
      const e = buf[i++]
      switch (e) {
        case 0x6e: out[o++] = 0x0a; break // \n
        case 0x74: out[o++] = 0x09; break // \t
        case 0x72: out[o++] = 0x0d; break // \r
        case 0x62: out[o++] = 0x08; break // \b
        case 0x66: out[o++] = 0x0c; break // \f
        case 0x75: { // \uXXXX, with a surrogate pair as one code point
          let cp = hex4(buf, i, end)
          if (cp < 0) return -1
          i += 4
          if (cp >= 0xd800 && cp < 0xdc00 && buf[i] === BACKSLASH && buf[i + 1] === 0x75) {
            const low = hex4(buf, i + 2, end)
            if (low >= 0xdc00 && low < 0xe000) {
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00)
              i += 6
            }
          }
          o = putUtf8(out, o, cp)
          break
        }
        default: out[o++] = e // \" \\ \/
      }
    }
    return o
  }
}

function rangeIs(buf: Uint8Array, start: number, end: number, name: Buffer): boolean {
  if (end - start !== name.length) return false
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false
  return true
}

function hex4(buf: Uint8Array, pos: number, end: number): number {
  if (pos + 4 > end) return -1
  let v = 0
  for (let i = pos; i < pos + 4; i++) {
    const c = buf[i]
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1
    if (d < 0) return -1
    v = v * 16 + d
  }
  return v
}

/** Write code point `cp` as UTF-8 (a lone surrogate as U+FFFD, as Buffer.from does). */
function putUtf8(out: Uint8Array, o: number, cp: number): number {
  if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd
  if (cp < 0x80) out[o++] = cp
  else if (cp < 0x800) {
    out[o++] = 0xc0 | (cp >> 6)
    out[o++] = 0x80 | (cp & 0x3f)
  } else if (cp < 0x10000) {
    out[o++] = 0xe0 | (cp >> 12)
    out[o++] = 0x80 | ((cp >> 6) & 0x3f)
    out[o++] = 0x80 | (cp & 0x3f)
  } else {
    out[o++] = 0xf0 | (cp >> 18)
    out[o++] = 0x80 | ((cp >> 12) & 0x3f)
    out[o++] = 0x80 | ((cp >> 6) & 0x3f)
    out[o++] = 0x80 | (cp & 0x3f)
  }
  return o
}
