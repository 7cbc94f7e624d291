/**
 * Writing a table value into an output line, as bytes, escaped the way the data file's
 * format requires. The value comes as its encoded bytes (dict.lastValue), so nothing is
 * decoded to a JavaScript string on the way:
 *
 *   codec    csv / tsv fields                    jsonl member value
 *   string   one field                           a JSON string
 *   list     one field per item                  an array of JSON strings
 *   json     its JSON text as one field          its JSON text
 *   none     nothing                             nothing (the line is unchanged)
 *
 * CSV fields are quoted only when needed (src/scan/csv.ts escapeField). TSV has no quoting,
 * so a tab, '\n' or '\r' inside a value is written as the two characters \t, \n, \r (other
 * bytes, backslashes included, stay as they are, so `\N` stays `\N`). A JSON value's line
 * breaks (whitespace between tokens: JSON strings cannot hold raw ones) become spaces, so
 * one record stays one line.
 */
import type { CodecName } from '../format/layout.js'
import { readVarint, varintEnd } from '../format/layout.js'
import type { ValueLocation } from '../read/dict.js'
import { escapeField, escapedFieldMaxBytes } from '../scan/csv.js'
import type { OutputFile } from './output.js'

const QUOTE = 0x22
const BACKSLASH = 0x5c
const HEX = Buffer.from('0123456789abcdef', 'latin1')

/** Writes one field's bytes, escaped for its format. */
export type FieldWriter = (out: OutputFile, src: Uint8Array, start: number, end: number) => void

function csvField(delimiter: number): FieldWriter {
  return (out, src, start, end) => {
    out.reserve(escapedFieldMaxBytes(end - start))
    out.pos = escapeField(src, start, end, delimiter, out.buf, out.pos)
  }
}

/** The writer of one CSV or TSV field. */
export function fieldWriter(tsv: boolean, delimiter: number): FieldWriter {
  return tsv ? tsvField : csvField(delimiter)
}

const tsvField: FieldWriter = (out, src, start, end) => {
  out.reserve(2 * (end - start))
  const buf = out.buf
  let o = out.pos
  for (let i = start; i < end; i++) {
    const c = src[i]
    if (c === 0x09 || c === 0x0a || c === 0x0d) {
      buf[o++] = BACKSLASH
      buf[o++] = c === 0x09 ? 0x74 : c === 0x0a ? 0x6e : 0x72
    } else buf[o++] = c
  }
  out.pos = o
}

/** `src[start, end)` (UTF-8) as a JSON string literal. */
const jsonString: FieldWriter = (out, src, start, end) => {
  out.reserve(6 * (end - start) + 2)
  const buf = out.buf
  let o = out.pos
  buf[o++] = QUOTE
  for (let i = start; i < end; i++) {
    const c = src[i]
    if (c === QUOTE || c === BACKSLASH) {
      buf[o++] = BACKSLASH
      buf[o++] = c
    } else if (c < 0x20) {
      buf[o++] = BACKSLASH
      if (c === 0x0a) buf[o++] = 0x6e
      else if (c === 0x0d) buf[o++] = 0x72
      else if (c === 0x09) buf[o++] = 0x74
      else {
        buf[o++] = 0x75 // \u00XX
        buf[o++] = 0x30
        buf[o++] = 0x30
        buf[o++] = HEX[c >> 4]
        buf[o++] = HEX[c & 15]
      }
    } else buf[o++] = c
  }
  buf[o++] = QUOTE
  out.pos = o
}

/** JSON text with its line breaks (whitespace between tokens) turned into spaces. */
const jsonText: FieldWriter = (out, src, start, end) => {
  const from = out.pos
  out.put(src, start, end)
  const buf = out.buf
  for (let i = from; i < out.pos; i++) if (buf[i] === 0x0a || buf[i] === 0x0d) buf[i] = 0x20
}

/**
 * Write every item of an encoded list value with `field`, each after `separator` (but the
 * first when `skipFirst`). A plain loop, no callback per item: it runs once per output line.
 */
function writeItems(out: OutputFile, v: ValueLocation, field: FieldWriter, separator: number, skipFirst: boolean): void {
  const bytes = v.bytes
  const count = readVarint(bytes, v.start, v.end)
  let pos = varintEnd
  for (let i = 0; i < count; i++) {
    const len = readVarint(bytes, pos, v.end)
    if (len < 0 || varintEnd + len > v.end) return // a damaged value: write what is sound
    pos = varintEnd
    if (i > 0 || !skipFirst) out.byte(separator)
    field(out, bytes, pos, pos + len)
    pos += len
  }
}

/** Appends a value as delimited fields (each after a delimiter), or empty fields for a miss. */
export interface ValueFields {
  found(out: OutputFile, v: ValueLocation): void
  missing(out: OutputFile): void
}

/**
 * The fields join/left append to a CSV or TSV line. `width` is how many empty fields a miss
 * gets: 1 for string and json, the table's list length for list (see job.ts), 0 for none.
 */
export function delimitedValue(codec: CodecName, delimiter: number, tsv: boolean, width: number): ValueFields {
  const field = fieldWriter(tsv, delimiter)
  const missing = (out: OutputFile): void => {
    for (let i = 0; i < width; i++) out.byte(delimiter)
  }
  switch (codec) {
    case 'none':
      return { found: () => undefined, missing }
    case 'list':
      return {
        found: (out, v) => writeItems(out, v, field, delimiter, false),
        missing,
      }
    case 'json': {
      let scratch = Buffer.allocUnsafe(4096)
      return {
        found: (out, v) => {
          out.byte(delimiter)
          // Flatten first, then escape: the field then never needs quoting for a line break.
          const n = v.end - v.start
          if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2))
          for (let i = 0; i < n; i++) {
            const c = v.bytes[v.start + i]
            scratch[i] = c === 0x0a || c === 0x0d ? 0x20 : c
          }
          field(out, scratch, 0, n)
        },
        missing,
      }
    }
    case 'string':
      return {
        found: (out, v) => {
          out.byte(delimiter)
          field(out, v.bytes, v.start, v.end)
        },
        missing,
      }
  }
}

/** The JSON value join/left put in a JSONL line: the found value, or null for a miss. */
export function jsonValue(codec: CodecName): ((out: OutputFile, v: ValueLocation) => void) | undefined {
  switch (codec) {
    case 'none':
      return undefined
    case 'string':
      return (out, v) => jsonString(out, v.bytes, v.start, v.end)
    case 'json':
      return (out, v) => jsonText(out, v.bytes, v.start, v.end)
    case 'list':
      return (out, v) => {
        out.byte(0x5b) // [
        writeItems(out, v, jsonString, 0x2c, true)
        out.byte(0x5d) // ]
      }
  }
}
