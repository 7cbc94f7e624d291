/**
 * Table inputs: reads every input file in order and hands each record to the builder's sink
 * as key bytes and value bytes already encoded for the table's codec (src/format/values.ts).
 *
 * This is on the build's critical path, so the csv/tsv/lines paths make no string per line:
 * keys and single-column values are passed as ranges of the block buffer, and list values
 * are encoded into one reused scratch buffer. Options are checked once, when the source is
 * made; what depends on the data (header names, the column count that picks the codec for
 * value 'rest') is checked where it is read, naming file and line.
 */
import { basename } from 'node:path'
import { inputError, PagedictError } from '../errors.js'
import { CODEC_JSON, CODEC_LIST, CODEC_NONE, CODEC_STRING, type CodecId, MAX_KEY_BYTES, MAX_VALUE_BYTES, writeVarint } from '../format/layout.js'
import { inputSize, readLines, type ReadBlocksOptions } from '../scan/chunks.js'
import { readRecords, RecordSplitter } from '../scan/csv.js'
import { scanJsonObject } from '../scan/json-object.js'
import type { BuildOptions, InputFormat, InputSummary, RecordSink, RecordSource } from './options.js'

const FORMATS: readonly InputFormat[] = ['csv', 'tsv', 'jsonl', 'json', 'lines']
const EXTENSIONS: Record<string, InputFormat> = { csv: 'csv', tsv: 'tsv', tab: 'tsv', jsonl: 'jsonl', ndjson: 'jsonl', json: 'json', txt: 'lines', lines: 'lines', list: 'lines' }
/** A csv/tsv record may hold a whole MAX_VALUE_BYTES value plus its key and quoting. */
const TABLE_MAX_CARRY = MAX_VALUE_BYTES + (1 << 20)
const PROGRESS_MS = 100
const EMPTY = new Uint8Array(0)

/** A csv/tsv column as the options name it: a 0-based index, a header name, or both. */
interface Column {
  index?: number
  name?: string
}

interface Plan {
  inputs: string[]
  formats: InputFormat[]
  header: boolean
  key: Column
  /** csv/tsv value columns; undefined for 'rest' and 'none'. */
  columns?: Column[]
  valueNone: boolean
  /** jsonl: the key field path, and the value path ([] is the whole object). */
  keyPath: string[]
  valuePath: string[]
  /** The codec the options fix, or undefined while csv/tsv 'rest' waits for a first row. */
  codec: CodecId | undefined
}

function optionError(option: string, message: string): PagedictError {
  return new PagedictError('E_OPTION', message, { option })
}

function formatOf(path: string, given: InputFormat | undefined): InputFormat {
  if (given !== undefined) return given
  let name = basename(path).toLowerCase()
  if (name.endsWith('.gz')) name = name.slice(0, -3)
  const dot = name.lastIndexOf('.')
  const format = dot < 0 || path === '-' ? undefined : EXTENSIONS[name.slice(dot + 1)]
  if (format === undefined) throw optionError('format', `${path}: cannot tell the input format from the file name; pass --format ${FORMATS.join('|')}`)
  return format
}

function parseColumn(option: string, text: string, header: boolean): Column {
  const t = text.trim()
  if (/^\d+$/.test(t)) {
    if (Number(t) < 1) throw optionError(option, `--${option} ${text}: columns are numbered from 1`)
    return header ? { index: Number(t) - 1, name: t } : { index: Number(t) - 1 }
  }
  if (t === '' || !header) throw optionError(option, `--${option} "${text}" is not a column number; pass --header to name columns by the header row`)
  return { name: t }
}

/** '2', '2,5', '3-7', or header names: the value columns of csv/tsv input. */
function parseColumns(spec: string, header: boolean): Column[] {
  const columns: Column[] = []
  for (const item of spec.split(',')) {
    const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(item)
    if (range === null) {
      columns.push(parseColumn('value', item, header))
      continue
    }
    const [from, to] = [Number(range[1]), Number(range[2])]
    if (from < 1 || to < from || to - from >= 65536) throw optionError('value', `--value ${spec}: "${item.trim()}" is not a range of columns like 3-7`)
    for (let c = from; c <= to; c++) columns.push({ index: c - 1 })
  }
  return columns
}

function fieldPath(option: string, text: string): string[] {
  const path = text.split('.')
  if (path.some((p) => p === '')) throw optionError(option, `--${option} "${text}" is not a field path like a.b.c`)
  return path
}

/** Check the options against the formats of the inputs and work out the codec they fix. */
function plan(opts: BuildOptions): Plan {
  const inputs = typeof opts.input === 'string' ? [opts.input] : [...opts.input]
  if (inputs.length === 0) throw optionError('input', 'no input files given')
  if (opts.format !== undefined && !FORMATS.includes(opts.format)) throw optionError('format', `--format ${String(opts.format)}: expected one of ${FORMATS.join(', ')}`)
  const formats = inputs.map((p) => formatOf(p, opts.format))
  const kinds = new Set(formats)
  const delimited = kinds.has('csv') || kinds.has('tsv')
  if (!delimited && opts.header) throw optionError('header', '--header applies to csv and tsv input only')
  if (!delimited && opts.delimiter !== undefined) throw optionError('delimiter', '--delimiter applies to csv and tsv input only')
  if (opts.delimiter !== undefined && (!/^[\x00-\x7f]$/.test(opts.delimiter) || /^["\r\n]$/.test(opts.delimiter))) {
    throw optionError('delimiter', `--delimiter ${JSON.stringify(opts.delimiter)}: expected one ASCII character other than a quote or a newline`)
  }
  const header = opts.header === true
  const value = opts.value
  const p: Plan = { inputs, formats, header, key: {}, valueNone: value === 'none', keyPath: [], valuePath: [], codec: undefined }
  const codecs = new Set<CodecId | 'rest'>()
  for (const format of kinds) {
    if (format === 'csv' || format === 'tsv') {
      if (typeof opts.key === 'number') {
        if (!Number.isInteger(opts.key) || opts.key < 1) throw optionError('key', `--key ${opts.key}: expected a column number, 1 or more`)
        p.key = { index: opts.key - 1 }
      } else if (opts.key !== undefined) p.key = parseColumn('key', opts.key, header)
      else p.key = { index: 0 }
      if (value !== undefined && value !== 'rest' && value !== 'none') p.columns = parseColumns(value, header)
      codecs.add(p.valueNone ? CODEC_NONE : p.columns === undefined ? 'rest' : p.columns.length === 1 ? CODEC_STRING : CODEC_LIST)
    } else if (format === 'jsonl') {
      if (opts.key === undefined) throw optionError('key', 'jsonl input needs --key <field path> (a.b.c) naming the key in each object')
      p.keyPath = fieldPath('key', String(opts.key))
      if (value !== undefined && value !== '.' && value !== 'none') p.valuePath = fieldPath('value', value)
      codecs.add(p.valueNone ? CODEC_NONE : CODEC_JSON)
    } else {
      // json (the object's own keys) and lines (the line is the key) take no key option.
      if (opts.key !== undefined) throw optionError('key', `--key does not apply to ${format} input: ${format === 'json' ? "the object's own keys are the keys" : 'each line is a key'}`)
      if (value !== undefined && value !== 'none') throw optionError('value', `--value ${value} does not apply to ${format} input (only "none")`)
      codecs.add(format === 'lines' || p.valueNone ? CODEC_NONE : CODEC_JSON)
    }
  }
  // 'rest' (string or list) can only meet itself: every other format gives json or none.
  if (codecs.size > 1) throw optionError('format', `inputs of formats ${[...kinds].join(', ')} give different kinds of value with these options; build them into separate tables`)
  const [codec] = codecs
  p.codec = codec === 'rest' ? undefined : codec
  return p
}

/** Where a csv/tsv option column is in one file, by its header names when it has them. */
function resolve(col: Column, option: string, names: string[] | undefined, path: string): number {
  if (col.name !== undefined && names !== undefined) {
    const at = names.indexOf(col.name)
    if (at >= 0) return at
  }
  if (col.index !== undefined) return col.index
  throw new PagedictError('E_OPTION', `${path}:1: the header has no column "${col.name}" (--${option}); its columns are: ${names?.join(', ')}`, { option, path, line: 1 })
}

/** Make the record source for `opts`. Bad options throw E_OPTION here, before any reading. */
export function tableInput(opts: BuildOptions): RecordSource {
  const p = plan(opts)
  return (sink) => new TableReader(p, opts, sink).run()
}

/** One pass over the inputs: the codec as decided so far, counts, reused scratch buffers. */
class TableReader {
  private codec: CodecId | undefined
  /** Under 'rest' with the string codec: the field count every row must have. */
  private restFields = 0
  private records = 0
  private done = 0
  private total: number | undefined
  private lastReport = 0
  private keyScratch = Buffer.allocUnsafe(4 * MAX_KEY_BYTES)
  private valueScratch = Buffer.allocUnsafe(64 << 10)
  private readonly read: ReadBlocksOptions

  constructor(
    private readonly p: Plan,
    private readonly opts: BuildOptions,
    private readonly sink: RecordSink,
  ) {
    this.codec = p.codec
    this.read = { onBytes: (n) => this.progress(n), maxCarry: TABLE_MAX_CARRY }
  }

  async run(): Promise<InputSummary> {
    const { p, opts } = this
    const sizes = await Promise.all(p.inputs.map((path) => inputSize(path)))
    this.total = sizes.some((s) => s === undefined) ? undefined : sizes.reduce((a: number, s) => a + (s ?? 0), 0)
    for (let index = 0; index < p.inputs.length; index++) {
      const format = p.formats[index]
      if (format === 'csv' || format === 'tsv') await this.delimited(index, format)
      else if (format === 'jsonl') await this.jsonl(index)
      else if (format === 'json') await this.json(index)
      else await readLines(p.inputs[index], (buf, s, e, line) => (e > s ? this.emit(index, line, buf, s, e, EMPTY, 0, 0) : undefined), this.read)
    }
    opts.onProgress?.(this.done, this.total, 'read')
    const codec = this.codec ?? CODEC_STRING
    const delimited = p.formats.find((f) => f === 'csv' || f === 'tsv')
    return {
      codec,
      records: this.records,
      bytes: this.done,
      describe: {
        inputs: p.inputs,
        formats: p.formats,
        key: opts.key ?? (delimited ? 1 : null),
        value: opts.value ?? (delimited ? 'rest' : codec === CODEC_NONE ? 'none' : '.'),
        header: p.header,
        delimiter: opts.delimiter ?? (delimited === 'csv' ? ',' : delimited === 'tsv' ? '\t' : null),
      },
    }
  }

  private progress(n: number): void {
    this.done += n
    const now = Date.now()
    if (this.opts.onProgress !== undefined && now - this.lastReport >= PROGRESS_MS) {
      this.lastReport = now
      this.opts.onProgress(this.done, this.total, 'read')
    }
  }

  private emit(index: number, line: number, key: Uint8Array, ks: number, ke: number, value: Uint8Array, vs: number, ve: number): void {
    const path = this.p.inputs[index]
    if (ke - ks > MAX_KEY_BYTES) throw inputError(path, line, `key is ${ke - ks} bytes, the maximum is ${MAX_KEY_BYTES}`, 'E_KEY_TOO_LONG')
    if (ve - vs > MAX_VALUE_BYTES) throw inputError(path, line, `value is ${ve - vs} bytes, the maximum is ${MAX_VALUE_BYTES}`, 'E_VALUE_TOO_LONG')
    this.records++
    this.sink(key, ks, ke, value, vs, ve, index, line)
  }

  /** Under value 'rest' the first row (or header) picks the codec for the whole build. */
  private checkRest(fields: number, path: string, line: number): void {
    if (this.codec === undefined) {
      this.codec = fields === 2 ? CODEC_STRING : CODEC_LIST
      this.restFields = fields
    } else if (this.codec === CODEC_STRING && fields !== this.restFields) {
      throw inputError(path, line, `row has ${fields} fields, but the first row had ${this.restFields}, which made every value one string; pass --value with the columns to store`)
    }
  }

  /**
   * Encode fields `cols[0, n)` of a record as a list value in valueScratch; returns its
   * length. `span` bounds the fields' bytes: the record's length in the input, times the
   * most times one column is named.
   */
  private encodeList(bytes: Uint8Array, starts: Int32Array, ends: Int32Array, cols: Int32Array, n: number, span: number): number {
    const size = 5 + 5 * n + span
    if (size > this.valueScratch.length) this.valueScratch = Buffer.allocUnsafe(Math.max(size, this.valueScratch.length * 2))
    const out = this.valueScratch
    let pos = writeVarint(out, 0, n)
    for (let i = 0; i < n; i++) {
      const s = starts[cols[i]]
      const e = ends[cols[i]]
      // Fields are short: one-byte lengths and a byte loop beat a call and a subarray view.
      if (e - s < 0x80) {
        out[pos++] = e - s
        for (let j = s; j < e; j++) out[pos++] = bytes[j]
      } else {
        pos = writeVarint(out, pos, e - s)
        out.set(bytes.subarray(s, e), pos)
        pos += e - s
      }
    }
    return pos
  }

  private async delimited(index: number, format: 'csv' | 'tsv'): Promise<void> {
    const { p } = this
    const path = p.inputs[index]
    const delimiter = (this.opts.delimiter ?? (format === 'csv' ? ',' : '\t')).charCodeAt(0)
    const rest = !p.valueNone && p.columns === undefined
    let ready = false
    let keyAt = 0
    let cols = new Int32Array(0)
    let repeats = 1
    // Under 'rest', the list's columns: every index but the key's (grown as rows widen).
    let restCols = new Int32Array(0)
    const setup = (names: string[] | undefined, fields: number, line: number): void => {
      keyAt = resolve(p.key, 'key', names, path)
      cols = Int32Array.from(p.columns ?? [], (c) => resolve(c, 'value', names, path))
      for (const c of cols) repeats = Math.max(repeats, cols.filter((x) => x === c).length)
      if (rest) this.checkRest(fields, path, line)
      ready = true
    }
    // Without 'rest' or header names the last column needed is known: stop splitting there.
    const wanted = rest || p.header ? [] : [p.key, ...(p.columns ?? [])].map((c) => (c.index ?? 0) + 1)
    await readRecords(
      path,
      new RecordSplitter({ delimiter, quoting: format === 'csv', maxFields: wanted.length > 0 ? Math.max(...wanted) : undefined }),
      (sp) => {
        if (sp.recordEnd === sp.recordStart) return
        const { bytes, starts, ends, count: n, line } = sp
        if (!ready) {
          if (p.header) return setup(Array.from({ length: n }, (_, i) => utf8(bytes, starts[i], ends[i])), n, line)
          setup(undefined, n, line)
        }
        if (keyAt >= n) throw inputError(path, line, `row has ${n} fields, the key column ${keyAt + 1} is missing`)
        const ks = starts[keyAt]
        const ke = ends[keyAt]
        if (p.valueNone) return this.emit(index, line, bytes, ks, ke, EMPTY, 0, 0)
        if (rest) {
          if (this.codec === CODEC_STRING) {
            if (n !== this.restFields) this.checkRest(n, path, line)
            const v = keyAt === 0 ? 1 : 0
            return this.emit(index, line, bytes, ks, ke, bytes, starts[v], ends[v])
          }
          if (restCols.length < n) restCols = Int32Array.from({ length: n * 2 }, (_, i) => (i < keyAt ? i : i + 1))
          // Encode first: encoding may replace valueScratch with a larger buffer.
          const length = this.encodeList(bytes, starts, ends, restCols, n - 1, sp.recordEnd - sp.recordStart)
          return this.emit(index, line, bytes, ks, ke, this.valueScratch, 0, length)
        }
        for (let i = 0; i < cols.length; i++) {
          if (cols[i] >= n) throw inputError(path, line, `row has ${n} fields, the value column ${cols[i] + 1} is missing`)
        }
        if (cols.length === 1) return this.emit(index, line, bytes, ks, ke, bytes, starts[cols[0]], ends[cols[0]])
        const length = this.encodeList(bytes, starts, ends, cols, cols.length, (sp.recordEnd - sp.recordStart) * repeats)
        this.emit(index, line, bytes, ks, ke, this.valueScratch, 0, length)
      },
      this.read,
    )
  }

  private async json(index: number): Promise<void> {
    const none = this.codec === CODEC_NONE
    await scanJsonObject(
      this.p.inputs[index],
      (key, keyLength, value, vs, ve, line) => this.emit(index, line, key, 0, keyLength, none ? EMPTY : value, none ? 0 : vs, none ? 0 : ve),
      { onBytes: this.read.onBytes },
    )
  }

  private async jsonl(index: number): Promise<void> {
    const { p } = this
    const path = p.inputs[index]
    await readLines(
      path,
      (buf, s, e, line) => {
        while (s < e && isSpace(buf[s])) s++
        while (e > s && isSpace(buf[e - 1])) e--
        if (s === e) return
        let obj: unknown
        try {
          obj = JSON.parse(buf.toString('utf8', s, e))
        } catch (err) {
          throw inputError(path, line, `invalid JSON: ${(err as Error).message}`)
        }
        const k = pick(obj, p.keyPath)
        if (typeof k !== 'string' && typeof k !== 'number') {
          throw inputError(path, line, `the key field ${p.keyPath.join('.')} is ${k === undefined ? 'missing' : `${kindOf(k)}, expected a string or a number`}`)
        }
        const keyText = typeof k === 'string' ? k : String(k)
        if (keyText.length * 3 > this.keyScratch.length) this.keyScratch = Buffer.allocUnsafe(keyText.length * 3)
        const kl = this.keyScratch.write(keyText)
        if (p.valueNone) return this.emit(index, line, this.keyScratch, 0, kl, EMPTY, 0, 0)
        // The whole object is stored as the text it was read from: it parsed, so it is JSON.
        if (p.valuePath.length === 0) return this.emit(index, line, this.keyScratch, 0, kl, buf, s, e)
        const v = pick(obj, p.valuePath)
        if (v === undefined) throw inputError(path, line, `the value field ${p.valuePath.join('.')} is missing`)
        const text = JSON.stringify(v)
        if (text.length * 3 > this.valueScratch.length) this.valueScratch = Buffer.allocUnsafe(text.length * 3)
        this.emit(index, line, this.keyScratch, 0, kl, this.valueScratch, 0, this.valueScratch.write(text))
      },
      this.read,
    )
  }
}

function utf8(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8')
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a
}

/** The sub-value at a field path, or undefined when any step is missing. */
function pick(obj: unknown, path: string[]): unknown {
  let v = obj
  for (const step of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, step)) return undefined
    v = (v as Record<string, unknown>)[step]
  }
  return v
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`
}
