/**
 * The line handlers behind `--emit matches|misses|join|left`: each gets a record from the
 * scan and writes it (or not) to the job's output file, as bytes.
 *
 *   matches  the records whose key is in the table, unchanged
 *   misses   the others, unchanged
 *   join     the matched records, then the value (fields.ts)
 *   left     every record, then the value or empty fields (CSV/TSV) / null (JSONL)
 *
 * Every output record ends with '\n', whatever the input's line ends.
 */
import type { Dict } from '../read/dict.js'
import { COMMA, TAB } from '../scan/csv.js'
import { delimitedValue, fieldWriter, jsonValue } from './fields.js'
import type { OutputFile } from './output.js'
import type { LineHandler } from './scan.js'
import { type DataFormat, DEFAULT_AS, type Emit } from './spec.js'

const LF = 0x0a
const LBRACE = 0x7b
const RBRACE = 0x7d

export interface Emitter {
  line: LineHandler
  /** Writes the header record (for join/left with the added column names). */
  header(buf: Buffer, start: number, end: number): void
}

export interface EmitOptions {
  emit: Exclude<Emit, 'count'>
  format: DataFormat
  delimiter?: string
  as?: string
}

export function lineEmitter(opts: EmitOptions, dict: Dict, out: OutputFile): Emitter {
  const copy = (buf: Buffer, start: number, end: number): void => {
    out.put(buf, start, end)
    out.byte(LF)
  }
  if (opts.emit === 'matches' || opts.emit === 'misses') {
    const want = opts.emit === 'matches'
    return { line: (found, buf, start, end) => found === want && copy(buf, start, end), header: copy }
  }
  return opts.format === 'jsonl' ? jsonlEmitter(opts, dict, out, copy) : delimitedEmitter(opts, dict, out)
}

function delimitedEmitter(opts: EmitOptions, dict: Dict, out: OutputFile): Emitter {
  const tsv = opts.format === 'tsv'
  const delimiter = opts.delimiter ? opts.delimiter.charCodeAt(0) : tsv ? TAB : COMMA
  const width = valueWidth(dict)
  const fields = delimitedValue(dict.codec, delimiter, tsv, width)
  const as = opts.as ?? DEFAULT_AS
  // The added columns are named after --as: "value", or "value_1".."value_n" for a list.
  const names = (width === 1 ? [as] : Array.from({ length: width }, (_, i) => `${as}_${i + 1}`)).map((n) => Buffer.from(n, 'utf8'))
  const field = fieldWriter(tsv, delimiter)
  const left = opts.emit === 'left'
  return {
    header: (buf, start, end) => {
      out.put(buf, start, end)
      for (const name of names) {
        out.byte(delimiter)
        field(out, name, 0, name.length)
      }
      out.byte(LF)
    },
    line: (found, buf, start, end) => {
      if (found) {
        out.put(buf, start, end)
        fields.found(out, dict.lastValue)
        out.byte(LF)
      } else if (left) {
        out.put(buf, start, end)
        fields.missing(out)
        out.byte(LF)
      }
    },
  }
}

function jsonlEmitter(opts: EmitOptions, dict: Dict, out: OutputFile, copy: Emitter['header']): Emitter {
  const write = jsonValue(dict.codec)
  const left = opts.emit === 'left'
  if (!write) return { header: copy, line: (found, buf, start, end) => (found || left) && copy(buf, start, end) }
  const member = Buffer.from(`${JSON.stringify(opts.as ?? DEFAULT_AS)}:`, 'utf8')
  const NULL = Buffer.from('null', 'latin1')
  return {
    header: copy,
    line: (found, buf, start, end) => {
      if (!found && !left) return
      // Insert before the object's closing brace; a line that is no object stays as it is.
      let close = end - 1
      while (close > start && isSpace(buf[close])) close--
      if (buf[close] !== RBRACE || close <= start) return copy(buf, start, end)
      let prev = close - 1
      while (prev > start && isSpace(buf[prev])) prev--
      out.put(buf, start, close)
      if (buf[prev] !== LBRACE) out.byte(COMMA)
      out.put(member, 0, member.length)
      if (found) write(out, dict.lastValue)
      else out.put(NULL, 0, NULL.length)
      out.put(buf, close, end)
      out.byte(LF)
    },
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a
}

/**
 * How many fields a value fills in CSV/TSV: 0 for a key set, 1 for string and json, and for
 * a list the length of the table's first entry. A list's length is not fixed by the format,
 * but a table built from columns ('2,5', 'rest') has one length throughout; taking it from
 * the table, not from the data, gives every file and every worker the same answer without
 * buffering lines until a first hit. An empty table counts as 1.
 */
function valueWidth(dict: Dict): number {
  if (dict.codec === 'none') return 0
  if (dict.codec !== 'list') return 1
  for (const [, value] of dict) return Array.isArray(value) ? value.length : 1
  return 1
}
