/**
 * What a built-in job does (RunSpec), and the scan options the hot loop takes (ScanOptions),
 * checked once where they enter: the Pool constructor for a spec, ctx.scan for a custom job.
 */
import { resolve } from 'node:path'
import { PagedictError } from '../errors.js'

export const EMITS = ['count', 'matches', 'misses', 'join', 'left'] as const
export type Emit = (typeof EMITS)[number]
export const DATA_FORMATS = ['csv', 'tsv', 'jsonl'] as const
export type DataFormat = (typeof DATA_FORMATS)[number]

/** How a data file is read: shared by the built-in jobs and `ctx.scan` in custom jobs. */
export interface ScanOptions {
  /** The file to scan; default: the job's file. */
  file?: string
  /** Default: from the file name (.gz looked through): .tsv/.tab tsv, .jsonl/.ndjson jsonl, else csv. */
  format?: DataFormat
  /**
   * csv/tsv: a 1-based column number (default 1), or with `header` a header name;
   * jsonl: a field path such as "a.b" (required).
   */
  key?: number | string
  /** csv/tsv: one ASCII character; default ',' for csv, tab for tsv. */
  delimiter?: string
  /** csv/tsv: the first record names the columns; it is not counted or looked up. */
  header?: boolean
  /** Receives the header record `buf[start, end)` when `header` is set. */
  onHeader?: (buf: Buffer, start: number, end: number) => void
}

/** A built-in job, as the library's `job` option or `pagedict run --emit`. */
export interface RunSpec {
  /** Default 'count'. Every other emit writes lines, so it needs `outDir`. */
  emit?: Emit
  format?: DataFormat
  key?: number | string
  delimiter?: string
  header?: boolean
  /** The name of the field(s) join and left add (default 'value'): the JSONL field, the CSV header. */
  as?: string
  /** Where the output lines go: one file per input file. */
  outDir?: string
  /**
   * 'input' (default): each output is named after its input (base name, a trailing .gz
   * dropped, 'stdin' for '-'); 'index': `<position>.out`, for outputs to be concatenated.
   */
  outNames?: 'input' | 'index'
}

/** Default name of the field join and left add. */
export const DEFAULT_AS = 'value'

function bad(option: string, message: string): PagedictError {
  return new PagedictError('E_OPTION', `${option}: ${message}`, { option })
}

function checkFormat(value: unknown, option: string): DataFormat | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !(DATA_FORMATS as readonly string[]).includes(value)) {
    throw bad(option, `must be one of ${DATA_FORMATS.join(', ')}, got ${JSON.stringify(value)}`)
  }
  return value as DataFormat
}

export function checkKey(value: unknown, option: string): number | string | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 0xffff) throw bad(option, `a column number must be an integer from 1 to 65535, got ${value}`)
    return value
  }
  if (typeof value !== 'string' || value === '') throw bad(option, 'must be a column number, a header name or a field path')
  // "4" from a command line is the column number 4, as in `build --key 4`.
  return /^[0-9]+$/.test(value) ? checkKey(Number(value), option) : value
}

export function checkDelimiter(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length !== 1 || value.charCodeAt(0) > 0x7f || value === '"' || value === '\n' || value === '\r') {
    throw bad(option, `must be one ASCII character other than a quote or a line end, got ${JSON.stringify(value)}`)
  }
  return value
}

function checkBoolean(value: unknown, option: string): boolean | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'boolean') throw bad(option, `must be a boolean, got ${typeof value}`)
  return value
}

/** Check a custom job's scan options (ctx.scan); returns them with their values checked. */
export function checkScanOptions(opts: unknown, option = 'scan'): ScanOptions {
  if (typeof opts !== 'object' || opts === null) throw bad(option, 'must be an object { key, format, delimiter, header }')
  const o = opts as Record<string, unknown>
  if (o.file !== undefined && (typeof o.file !== 'string' || o.file === '')) throw bad(`${option}.file`, 'must be a file path')
  if (o.onHeader !== undefined && typeof o.onHeader !== 'function') throw bad(`${option}.onHeader`, 'must be a function')
  return {
    file: o.file as string | undefined,
    format: checkFormat(o.format, `${option}.format`),
    key: checkKey(o.key, `${option}.key`),
    delimiter: checkDelimiter(o.delimiter, `${option}.delimiter`),
    header: checkBoolean(o.header, `${option}.header`),
    onHeader: o.onHeader as ScanOptions['onHeader'],
  }
}

/** Check a built-in job spec; returns a plain copy with `emit` set and `outDir` absolute. */
export function checkRunSpec(spec: unknown, option = 'job'): RunSpec {
  if (typeof spec !== 'object' || spec === null) throw bad(option, 'must be an object such as { emit: "count", key: 1 }')
  const o = spec as Record<string, unknown>
  const known = new Set(['emit', 'format', 'key', 'delimiter', 'header', 'as', 'outDir', 'outNames'])
  for (const name of Object.keys(o)) if (!known.has(name)) throw bad(`${option}.${name}`, `unknown option; known: ${[...known].join(', ')}`)
  const emit = o.emit ?? 'count'
  if (typeof emit !== 'string' || !(EMITS as readonly string[]).includes(emit)) throw bad(`${option}.emit`, `must be one of ${EMITS.join(', ')}, got ${JSON.stringify(emit)}`)
  if (o.as !== undefined && (typeof o.as !== 'string' || o.as === '')) throw bad(`${option}.as`, 'must be a non-empty field name')
  if (o.outNames !== undefined && o.outNames !== 'input' && o.outNames !== 'index') throw bad(`${option}.outNames`, `must be 'input' or 'index', got ${JSON.stringify(o.outNames)}`)
  if (o.outDir !== undefined && (typeof o.outDir !== 'string' || o.outDir === '')) throw bad(`${option}.outDir`, 'must be a directory path')
  if (emit !== 'count' && o.outDir === undefined) throw bad(`${option}.outDir`, `emit '${emit}' writes lines and needs a directory for them`)
  const out: RunSpec = {
    emit: emit as Emit,
    format: checkFormat(o.format, `${option}.format`),
    key: checkKey(o.key, `${option}.key`),
    delimiter: checkDelimiter(o.delimiter, `${option}.delimiter`),
    header: checkBoolean(o.header, `${option}.header`),
    as: o.as as string | undefined,
    outDir: o.outDir === undefined ? undefined : resolve(o.outDir as string),
    outNames: o.outNames as RunSpec['outNames'],
  }
  if (out.format === 'jsonl' && out.key === undefined) throw bad(`${option}.key`, 'jsonl data needs a field path, such as "user.id"')
  if (typeof out.key === 'string' && out.format !== 'jsonl' && out.format !== undefined && !out.header) {
    throw bad(`${option}.key`, `"${out.key}" names a column, which needs the header option (or give a column number)`)
  }
  // Drop the absent options so the spec crosses to workers as a small, plain JSON object.
  return JSON.parse(JSON.stringify(out)) as RunSpec
}

/**
 * Check a spec against the files' formats (known from their names) before any worker
 * starts: a jsonl file needs a field path, a header name needs a header.
 */
export function checkSpecFiles(spec: RunSpec, files: readonly string[]): void {
  for (const file of files) {
    const format = formatOf(file, spec.format)
    if (format === 'jsonl' && spec.key === undefined) throw bad('key', `${file} is jsonl, which needs a field path such as "user.id"`)
    if (format !== 'jsonl' && typeof spec.key === 'string' && !spec.header) {
      throw bad('key', `${file} is ${format}: "${spec.key}" names a column, which needs the header option (or give a column number)`)
    }
  }
}

/** The format of a data file: the given one, or from its name (.gz looked through). */
export function formatOf(name: string, given: DataFormat | undefined): DataFormat {
  if (given) return given
  const base = name.toLowerCase().replace(/\.gz$/, '')
  if (base.endsWith('.tsv') || base.endsWith('.tab')) return 'tsv'
  if (base.endsWith('.jsonl') || base.endsWith('.ndjson')) return 'jsonl'
  return 'csv'
}
