/**
 * Byte-level field splitting for CSV and TSV records, with no string per line.
 *
 * The fast paths leave every field where it lies in the input block: line ends, delimiters
 * and quotes are found with Buffer#indexOf (memchr) for wide fields, or with one byte loop
 * for narrow ones. Only a record that contains a quote (CSV only) takes the RFC 4180 path,
 * which unescapes its fields into a scratch buffer and may run over newlines inside quotes.
 * TSV has no quoting: fields are the raw bytes between tabs.
 *
 * A record ends at '\n' or '\r\n' (outside quotes); the '\r' is never part of a field. The
 * quoted path is lenient where RFC 4180 is silent, like Python's csv module: a quote inside
 * an unquoted field is a literal byte, and bytes after a closing quote (`"ab"c`) are
 * appended to the field.
 */
import { inputError } from '../errors.js'
import { readBlocks, skippingBom, type ReadBlocksOptions, type ReadResult } from './chunks.js'

export const COMMA = 0x2c
export const TAB = 0x09
const QUOTE = 0x22
const LF = 0x0a
const CR = 0x0d

/** {@link RecordSplitter.split}: the record runs past the block; present more bytes. */
export const NEED_MORE = -1
/** {@link RecordSplitter.split}: the input ended inside a quoted field. */
export const UNTERMINATED = -2

export interface SplitterOptions {
  /** The delimiter byte (an ASCII character). */
  delimiter: number
  /** RFC 4180 quoting (CSV); false for TSV. */
  quoting: boolean
  /**
   * Record only the first this-many fields (the rest are still skipped correctly). The run
   * loop that needs column 2 of twenty passes 2; `count` then stops at it.
   */
  maxFields?: number
}

/**
 * Splits one record at a time. After a successful {@link split}, field i of the record is
 * `bytes[starts[i], ends[i])` for i < count; `bytes` is the input block on the fast path or
 * the splitter's scratch buffer when the record needed unescaping. Both are overwritten by
 * the next call.
 */
export class RecordSplitter {
  readonly delimiter: number
  readonly quoting: boolean
  readonly maxFields: number
  bytes: Uint8Array = new Uint8Array(0)
  count = 0
  starts: Int32Array = new Int32Array(32)
  ends: Int32Array = new Int32Array(32)
  /** True when the last record took the quoted path (its fields live in scratch). */
  unescaped = false
  /** Newlines inside quoted fields of the last record: it spans 1 + innerLines lines. */
  innerLines = 0
  /** The 1-based line the last record starts on (counted from the splitter's first record). */
  line = 0
  /** The line the next record starts on. */
  nextLine = 1
  /** Where the last record starts in the input block. */
  recordStart = 0
  /** End of the last record's text in the input block, before its '\r\n' or '\n'. */
  recordEnd = 0
  private scratch = Buffer.allocUnsafe(4096)

  constructor(opts: SplitterOptions) {
    this.delimiter = opts.delimiter
    this.quoting = opts.quoting
    this.maxFields = Math.max(1, opts.maxFields ?? 0x7fffffff)
  }

  /**
   * Split every record of `buf[start, end)` and call `onRecord(this)` for each; returns the
   * position up to which records were complete (the rest needs more input), or UNTERMINATED
   * at `eof` inside quotes, with `line` on the record at fault. This is the fast loop: line
   * ends, delimiters and quotes are found with Buffer#indexOf (memchr), and the next hit of
   * each is remembered while the block lasts, so every byte is searched once.
   */
  splitBlock(buf: Buffer, start: number, end: number, eof: boolean, onRecord: (splitter: RecordSplitter) => void): number {
    const d = this.delimiter
    const max = this.maxFields
    let pos = start
    let nextD = start - 1
    let nextQ = this.quoting ? start - 1 : end
    while (pos < end) {
      // Short fields are found faster by one byte loop than by a memchr call per field
      // (about 12 bytes a field is where memchr starts to win on Node 20); the last record's
      // shape predicts this one's.
      if (this.recordEnd - this.recordStart < 12 * this.count) {
        const next = this.split(buf, pos, end, eof)
        if (next === NEED_MORE) break
        if (next === UNTERMINATED) {
          this.line = this.nextLine
          return UNTERMINATED
        }
        onRecord(this)
        pos = next
        continue
      }
      let nl = buf.indexOf(LF, pos)
      // indexOf searches to the buffer's end, so a hit past `end` (stale bytes) is a miss.
      if (nl < 0 || nl >= end) {
        if (!eof) break
        nl = end
      }
      if (nextQ < pos) {
        nextQ = buf.indexOf(QUOTE, pos)
        if (nextQ < 0 || nextQ >= end) nextQ = end
      }
      let next: number
      if (nextQ < nl) {
        next = this.splitQuoted(buf, pos, end, eof)
        if (next === NEED_MORE) break
        if (next === UNTERMINATED) {
          this.line = this.nextLine
          return UNTERMINATED
        }
      } else {
        let starts = this.starts
        let ends = this.ends
        let count = 0
        let fieldStart = pos
        while (count < max - 1) {
          if (nextD < fieldStart) {
            nextD = buf.indexOf(d, fieldStart)
            if (nextD < 0 || nextD >= end) nextD = end
          }
          if (nextD >= nl) break
          if (count === starts.length) [starts, ends] = this.grow()
          starts[count] = fieldStart
          ends[count++] = nextD
          fieldStart = nextD + 1
        }
        const recordEnd = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl
        let fieldEnd = Math.max(fieldStart, recordEnd)
        if (count === max - 1) {
          // The last field kept stops at its delimiter; the rest of the line is skipped.
          if (nextD < fieldStart) {
            nextD = buf.indexOf(d, fieldStart)
            if (nextD < 0 || nextD >= end) nextD = end
          }
          if (nextD < nl) fieldEnd = nextD
        }
        if (count === starts.length) [starts, ends] = this.grow()
        starts[count] = fieldStart
        ends[count++] = fieldEnd
        this.done(buf, count, pos, recordEnd, 0)
        next = nl < end ? nl + 1 : end
      }
      onRecord(this)
      pos = next
    }
    return pos
  }

  /**
   * Split the one record starting at `buf[start]` with a plain byte loop (no state kept
   * between calls). Returns the position after it (after its newline), NEED_MORE when it is
   * not complete in `buf[start, end)` and more input is coming, or UNTERMINATED at `eof`
   * inside quotes.
   */
  split(buf: Uint8Array, start: number, end: number, eof: boolean): number {
    const d = this.delimiter
    const q = this.quoting ? QUOTE : -1
    const max = this.maxFields
    let starts = this.starts
    let ends = this.ends
    let count = 0
    let fieldStart = start
    let i = start
    for (; i < end; i++) {
      const c = buf[i]
      if (c === d) {
        if (count < max) {
          if (count === starts.length) [starts, ends] = this.grow()
          starts[count] = fieldStart
          ends[count++] = i
        }
        fieldStart = i + 1
      } else if (c === LF) {
        break
      } else if (c === q) {
        return this.splitQuoted(buf, start, end, eof)
      }
    }
    if (i === end && !eof) return NEED_MORE
    const recordEnd = i > start && buf[i - 1] === CR ? i - 1 : i
    if (count < max) {
      if (count === starts.length) [starts, ends] = this.grow()
      starts[count] = fieldStart
      ends[count++] = Math.max(fieldStart, recordEnd)
    }
    this.done(buf, count, start, recordEnd, 0)
    return i < end ? i + 1 : end
  }

  /** Publish a split record and advance the line count past it. */
  private done(bytes: Uint8Array, count: number, start: number, recordEnd: number, innerLines: number): void {
    this.bytes = bytes
    this.count = count
    this.recordStart = start
    this.recordEnd = recordEnd
    this.unescaped = bytes === this.scratch
    this.innerLines = innerLines
    this.line = this.nextLine
    this.nextLine += 1 + innerLines
  }

  /** The RFC 4180 path: unescape every field of the record into scratch. */
  private splitQuoted(buf: Uint8Array, start: number, end: number, eof: boolean): number {
    // Unescaping never lengthens a field, so the record's input length bounds the output.
    if (this.scratch.length < end - start) this.scratch = Buffer.allocUnsafe(Math.max(end - start, this.scratch.length * 2))
    const out = this.scratch
    const d = this.delimiter
    let starts = this.starts
    let ends = this.ends
    let count = 0
    let o = 0
    let i = start
    let innerLines = 0
    for (;;) {
      const fieldOut = o
      if (i < end && buf[i] === QUOTE) {
        i++
        for (;;) {
          if (i >= end) return eof ? UNTERMINATED : NEED_MORE
          const c = buf[i]
          if (c === QUOTE) {
            // A quote at the block's end, maybe half of a doubled pair, closes the field for
            // now; the plain loop below then asks for more input and the record is redone.
            if (i + 1 < end && buf[i + 1] === QUOTE) {
              out[o++] = QUOTE
              i += 2
              continue
            }
            i++
            break
          }
          if (c === LF) innerLines++
          out[o++] = c
          i++
        }
      }
      const plainFrom = i
      while (i < end) {
        const c = buf[i]
        if (c === d || c === LF) break
        out[o++] = c
        i++
      }
      if (i === end && !eof) return NEED_MORE
      const atRecordEnd = i === end || buf[i] === LF
      // Only a '\r' outside quotes, right before the line end, is the CRLF's.
      if (atRecordEnd && i > plainFrom && buf[i - 1] === CR) o--
      if (count === starts.length) [starts, ends] = this.grow()
      if (count < this.maxFields) {
        starts[count] = fieldOut
        ends[count++] = o
      }
      if (atRecordEnd) {
        this.done(out, count, start, i > plainFrom && buf[i - 1] === CR ? i - 1 : i, innerLines)
        return i < end ? i + 1 : end
      }
      i++
    }
  }

  private grow(): [Int32Array, Int32Array] {
    const starts = new Int32Array(this.starts.length * 2)
    const ends = new Int32Array(this.ends.length * 2)
    starts.set(this.starts)
    ends.set(this.ends)
    this.starts = starts
    this.ends = ends
    return [starts, ends]
  }
}

/**
 * Split every record of `path` and call `onRecord(splitter)`; `splitter.line` is the 1-based
 * line the record starts on. Blank lines are records too (`recordEnd === recordStart`): a caller that
 * skips them says so. A UTF-8 byte order mark at the start is skipped. An unterminated quote
 * at the end is E_INPUT "path:line: unterminated quoted field".
 */
export async function readRecords(
  path: string,
  splitter: RecordSplitter,
  onRecord: (splitter: RecordSplitter) => void,
  opts: ReadBlocksOptions = {},
): Promise<ReadResult> {
  return readBlocks(
    path,
    skippingBom((buf, start, end, eof) => {
      const next = splitter.splitBlock(buf, start, end, eof, onRecord)
      if (next === UNTERMINATED) throw inputError(path, splitter.line, 'unterminated quoted field')
      return next
    }),
    { ...opts, lineAt: () => splitter.nextLine },
  )
}

/** The most bytes {@link escapeField} writes for a field of `length` bytes. */
export function escapedFieldMaxBytes(length: number): number {
  return 2 * length + 2
}

/**
 * Write `src[start, end)` as one CSV field at `out[pos]` and return the position after it:
 * quoted (with doubled quotes) only when it holds the delimiter, a quote, '\r' or '\n'.
 * `out` must have {@link escapedFieldMaxBytes} bytes free.
 */
export function escapeField(src: Uint8Array, start: number, end: number, delimiter: number, out: Uint8Array, pos: number): number {
  let plain = true
  for (let i = start; i < end; i++) {
    const c = src[i]
    if (c === delimiter || c === QUOTE || c === LF || c === CR) {
      plain = false
      break
    }
  }
  if (plain) {
    out.set(src.subarray(start, end), pos)
    return pos + end - start
  }
  out[pos++] = QUOTE
  for (let i = start; i < end; i++) {
    const c = src[i]
    if (c === QUOTE) out[pos++] = QUOTE
    out[pos++] = c
  }
  out[pos++] = QUOTE
  return pos
}
