/**
 * The hot loop of `pagedict run`: read a data file in large blocks into one reused Buffer
 * (src/scan/chunks.ts), find each record's key field in the bytes (src/scan/csv.ts for
 * CSV/TSV, json-key.ts for JSONL) and look those bytes up where they lie with
 * dict.lookupRange, or a batch of them at a time with dict.lookupBatch where the table has it
 * (the page file: src/run/line-batch.ts). No string, no array and no object per line; a
 * handler, when given, sees the record's bytes and, on a hit, the value's location in
 * dict.lastValue, in file order either way.
 */
import { PagedictError, inputError } from '../errors.js'
import type { Dict } from '../read/dict.js'
import { bomLength, readBlocks, type BlockHandler } from '../scan/chunks.js'
import { COMMA, NEED_MORE, RecordSplitter, TAB, UNTERMINATED } from '../scan/csv.js'
import { JsonKeyFinder } from './json-key.js'
import { LineBatch, batchable } from './line-batch.js'
import { LineScan, STOP_END, STOP_FULL } from '../read/native.js'
import { type ScanOptions, checkScanOptions, formatOf } from './spec.js'

export type { ScanOptions } from './spec.js'

export interface ScanStats {
  /** Records scanned (a CSV record with quoted newlines is one); the header is not counted. */
  lines: number
  matched: number
  missed: number
  /** Bytes read from the file (compressed bytes for gzip). */
  bytes: number
}

/**
 * Called once per record: whether its key was found, and the record `buf[start, end)`
 * without its line end. Valid only during the call: the buffer is reused.
 */
export type LineHandler = (found: boolean, buf: Buffer, start: number, end: number) => void

interface Counts {
  lines: number
  matched: number
}

/** Scan `path` with `dict`; see {@link ScanOptions}. */
export async function scanFile(
  dict: Dict,
  path: string,
  options: ScanOptions,
  onLine: LineHandler | undefined,
  signal?: AbortSignal,
  onBytes?: (total: number) => void,
): Promise<ScanStats> {
  const opts = checkScanOptions(options)
  const format = formatOf(path, opts.format)
  const counts: Counts = { lines: 0, matched: 0 }
  let read = 0
  const block =
    format === 'jsonl'
      ? jsonlBlocks(dict, path, opts, onLine, counts)
      : delimitedBlocks(dict, path, opts, format === 'tsv', onLine, counts)
  const result = await readBlocks(path, block, {
    signal,
    onBytes: onBytes && ((n) => onBytes((read += n))),
    lineAt: () => counts.lines + 1,
  })
  return { lines: counts.lines, matched: counts.matched, missed: counts.lines - counts.matched, bytes: result.bytes }
}

function delimitedBlocks(dict: Dict, path: string, opts: ScanOptions, tsv: boolean, onLine: LineHandler | undefined, counts: Counts): BlockHandler {
  const delimiter = opts.delimiter ? opts.delimiter.charCodeAt(0) : tsv ? TAB : COMMA
  const quoting = !tsv
  let key = opts.key ?? 1
  if (typeof key === 'string' && !opts.header) {
    throw new PagedictError('E_OPTION', `key: "${key}" names a column, which needs the header option (or give a column number)`, { option: 'key' })
  }
  let k = typeof key === 'number' ? key - 1 : -1
  let splitter = new RecordSplitter({ delimiter, quoting, maxFields: k + 1 })
  let started = false
  // Physical lines before the current record, for "file:line" in error messages.
  let lineNo = 0
  const batched = batchable(dict)
  const batch = batched && new LineBatch(batched, onLine)
  // Records without quotes are split and looked up in native code where the table has it;
  // dropped at the first block it declines (no addon).
  let native = batch !== undefined && typeof dict.scanLines === 'function' ? new LineScan() : undefined

  /** The file's first bytes: a byte order mark, then the header record when there is one. */
  const start = (buf: Buffer, pos: number, end: number, eof: boolean): number => {
    const bom = bomLength(buf, pos, end, eof)
    if (bom < 0) return -1
    pos += bom
    if (opts.header) {
      if (pos === end) return eof ? pos : -1
      const full = new RecordSplitter({ delimiter, quoting })
      const next = full.split(buf, pos, end, eof)
      if (next === NEED_MORE) return -1
      if (next === UNTERMINATED) throw inputError(path, 1, 'the header has a quoted field that is never closed')
      if (typeof key === 'string') {
        const names: string[] = []
        const utf8 = new TextDecoder()
        for (let i = 0; i < full.count; i++) names.push(utf8.decode(full.bytes.subarray(full.starts[i], full.ends[i])))
        k = names.indexOf(key)
        if (k < 0) throw inputError(path, 1, `the header has no column named "${key}" (it has ${names.map((n) => JSON.stringify(n)).join(', ')})`)
        key = k + 1
        splitter = new RecordSplitter({ delimiter, quoting, maxFields: k + 1 })
      }
      opts.onHeader?.(buf, pos, full.recordEnd)
      lineNo = 1 + full.innerLines
      pos = next
    }
    started = true
    return pos
  }

  // Per block: records split and found so far, and the block being split, for onRecord.
  let lines = 0
  let matched = 0
  let block: Buffer = Buffer.alloc(0)
  const onRecord = (sp: RecordSplitter): void => {
    lines++
    lineNo += sp.innerLines
    if (batch !== undefined) {
      if (sp.count > k) batch.add(sp.bytes, sp.starts[k], sp.ends[k], sp.recordStart, sp.recordEnd)
      else batch.addNone(sp.recordStart, sp.recordEnd)
      if (batch.full) matched += batch.flush(block)
    } else {
      const found = sp.count > k && dict.lookupRange(sp.bytes, sp.starts[k], sp.ends[k])
      if (found) matched++
      if (onLine !== undefined) onLine(found, block, sp.recordStart, sp.recordEnd)
    }
  }

  /** The records LineScan took, to the counts and the handler, in order. */
  const handOver = (s: LineScan, buf: Buffer): void => {
    const n = s.count
    lines += n
    const found = s.found
    if (onLine === undefined) {
      for (let i = 0; i < n; i++) matched += found[i]
      return
    }
    const v = dict.lastValue
    for (let i = 0; i < n; i++) {
      if (found[i] === 1) {
        matched++
        v.bytes = dict.mappingOf!(s.segment[i])
        v.start = s.valueStart[i]
        v.end = s.valueEnd[i]
      }
      onLine(found[i] === 1, buf, s.lineStart[i], s.lineEnd[i])
    }
  }

  /**
   * The block's records, quote-free runs of them split and looked up by dict.scanLines. At a
   * record with a quote, the JavaScript splitter and batch take over for QUOTED_RUN records,
   * and for as many more runs as begin with a quoted record, and the batch is flushed
   * before scanLines goes on, so records reach the handler in file order. (Handing back
   * after each quoted record made a file that quotes every key 3x slower than the
   * JavaScript path alone; BENCHMARKS.md.)
   */
  const scanNative = (s: LineScan, buf: Buffer, pos: number, end: number, eof: boolean): number => {
    s.newBlock()
    s.configure(delimiter, quoting, k) // k is known once the header is read
    while (pos < end) {
      if (!dict.scanLines!(s, buf, pos, end, eof)) {
        native = undefined
        return splitter.splitBlock(buf, pos, end, eof, onRecord)
      }
      handOver(s, buf)
      pos = s.next
      if (s.stop === STOP_FULL) continue
      if (s.stop === STOP_END) break
      for (let taken = 0; pos < end; taken++) {
        // Every QUOTED_RUN records, back to scanLines if the next record holds no quote.
        if (taken > 0 && taken % QUOTED_RUN === 0 && !lineHoldsQuote(buf, pos, end)) break
        const next = splitter.split(buf, pos, end, eof)
        if (next === NEED_MORE) return pos
        if (next === UNTERMINATED) return UNTERMINATED
        onRecord(splitter)
        pos = next
      }
      matched += batch!.flush(buf)
    }
    return pos
  }

  return (buf, pos, end, eof) => {
    if (!started) {
      const at = start(buf, pos, end, eof)
      if (at < 0) return pos
      pos = at
    }
    lines = 0
    matched = 0
    block = buf
    // splitBlock finds line ends and delimiters with memchr where fields are wide, and
    // remembers where the next quote is, so most records cost two memchr calls.
    const next = native !== undefined ? scanNative(native, buf, pos, end, eof) : splitter.splitBlock(buf, pos, end, eof, onRecord)
    if (batch !== undefined) matched += batch.flush(buf) // before a throw too: the records before it, in order
    if (next === UNTERMINATED) throw inputError(path, lineNo + lines + 1, 'a quoted field is never closed')
    lineNo += lines
    counts.lines += lines
    counts.matched += matched
    return next
  }
}

/** Records the JavaScript splitter takes at a time after a record with a quote. */
const QUOTED_RUN = 64
const QUOTE = 0x22
const LF = 0x0a

/** Whether the line at buf[pos] (up to its '\n' or end) holds a quote. */
function lineHoldsQuote(buf: Buffer, pos: number, end: number): boolean {
  for (let i = pos; i < end; i++) {
    const c = buf[i]
    if (c === QUOTE) return true
    if (c === LF) return false
  }
  return false
}

function jsonlBlocks(dict: Dict, path: string, opts: ScanOptions, onLine: LineHandler | undefined, counts: Counts): BlockHandler {
  if (opts.key === undefined) throw new PagedictError('E_OPTION', `key: ${path} is jsonl, which needs a field path such as "user.id"`, { option: 'key' })
  const finder = new JsonKeyFinder(String(opts.key))
  const batched = batchable(dict)
  const batch = batched && new LineBatch(batched, onLine)
  let started = false
  return (buf, pos, end, eof) => {
    if (!started) {
      const bom = bomLength(buf, pos, end, eof)
      if (bom < 0) return pos
      pos += bom
      started = true
    }
    const d = dict
    let lines = 0
    let matched = 0
    while (pos < end) {
      // JSON text cannot hold a raw newline, so a JSONL record is exactly one line.
      let nl = buf.indexOf(10, pos)
      if (nl < 0 || nl >= end) {
        if (!eof) break
        nl = end
      }
      const lineEnd = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl
      let first = pos
      while (first < lineEnd && (buf[first] === 0x20 || buf[first] === 0x09)) first++
      // Blank lines separate nothing in JSONL: they are skipped, not counted.
      if (first < lineEnd) {
        lines++
        if (batch !== undefined) {
          if (finder.find(buf, first, lineEnd)) batch.add(finder.bytes, finder.start, finder.end, pos, lineEnd)
          else batch.addNone(pos, lineEnd)
          if (batch.full) matched += batch.flush(buf)
        } else {
          const found = finder.find(buf, first, lineEnd) && d.lookupRange(finder.bytes, finder.start, finder.end)
          if (found) matched++
          if (onLine !== undefined) onLine(found, buf, pos, lineEnd)
        }
      }
      pos = nl + 1
    }
    if (batch !== undefined) matched += batch.flush(buf)
    counts.lines += lines
    counts.matched += matched
    return Math.min(pos, end)
  }
}
