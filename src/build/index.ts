/**
 * build(): the library's entry to the builders. Options are validated here, once, at the
 * public boundary; the builders trust what they are given.
 */
import fs from 'node:fs'
import { PagedictError } from '../errors.js'
import { CODEC_NONE, type CodecId, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../format/layout.js'
import { codecForValue, encodeValue } from '../format/values.js'
import { buildLmdbTable } from '../lmdb/build.js'
import { tableInput } from './input.js'
import type { BackendChoice, BuildOptions, InputFormat, OnDuplicate, RecordSource } from './options.js'
import { type BuildReport, buildPageFile } from './pagefile.js'
import { packageVersion } from '../version.js'
import { checkReplaceable, cleanLeftovers } from './publish.js'
import { isTableFile } from '../read/header.js'

export type { BuildOptions } from './options.js'
export type { BuildReport } from './pagefile.js'

/** Options of `build(entries, output, options)`. */
export interface EntriesBuildOptions {
  onDuplicate?: OnDuplicate
  backend?: BackendChoice
  seed?: number
  memory?: number
}

export type Entry = readonly [string | Uint8Array, unknown]

const FORMATS: readonly InputFormat[] = ['csv', 'tsv', 'jsonl', 'json', 'lines']
const DUPLICATES: readonly OnDuplicate[] = ['error', 'first', 'last']
const BACKENDS: readonly BackendChoice[] = ['pagefile', 'lmdb']
const DEFAULT_MEMORY_MIB = 256
const MIN_MEMORY_MIB = 32

/**
 * Build a table from input files (`build({ input, output, ... })`) or from key/value pairs
 * (`build(entries, output)`), publishing it atomically at `output`.
 */
export async function build(options: BuildOptions): Promise<BuildReport>
export async function build(entries: Iterable<Entry> | AsyncIterable<Entry>, output: string, options?: EntriesBuildOptions): Promise<BuildReport>
export async function build(
  first: BuildOptions | Iterable<Entry> | AsyncIterable<Entry>,
  output?: string,
  options: EntriesBuildOptions = {},
): Promise<BuildReport> {
  if (typeof output === 'string') {
    if (!isIterable(first)) throw optionError('entries', 'must be an Iterable or AsyncIterable of [key, value] pairs')
    const common = validateCommon({ ...options, output })
    return runBuild(entriesSource(first), output, common, ['entries'], 0, { source: 'entries' })
  }
  if (isIterable(first)) throw optionError('output', 'is required: build(entries, output)')
  const opts = first as BuildOptions
  if (opts === null || typeof opts !== 'object') throw optionError('options', 'must be an object')
  const inputs = Array.isArray(opts.input) ? opts.input : [opts.input]
  if (inputs.length === 0 || inputs.some((i) => typeof i !== 'string' || i === '')) throw optionError('input', 'must name one or more files')
  if (opts.format !== undefined && !FORMATS.includes(opts.format)) throw optionError('format', `must be one of ${FORMATS.join(', ')}, got ${String(opts.format)}`)
  if (opts.delimiter !== undefined && (typeof opts.delimiter !== 'string' || opts.delimiter.length !== 1 || opts.delimiter === '"' || opts.delimiter === '\n' || opts.delimiter === '\r')) {
    throw optionError('delimiter', `must be one character other than a quote or a line end, got ${JSON.stringify(opts.delimiter)}`)
  }
  if (opts.key !== undefined && !(typeof opts.key === 'string' || (Number.isInteger(opts.key) && opts.key >= 1))) {
    throw optionError('key', `must be a 1-based column number, a header name or a field path, got ${String(opts.key)}`)
  }
  if (opts.value !== undefined && typeof opts.value !== 'string') throw optionError('value', 'must be a string')
  const common = validateCommon(opts)
  const expected = inputs.reduce((n, f) => n + expectedBytes(f), 0)
  const input = { ...opts, input: inputs }
  return runBuild(tableInput(input), opts.output, common, inputs, expected, {}, opts.onProgress, input)
}

interface Common {
  onDuplicate: OnDuplicate
  backend: BackendChoice
  seed?: number
  memory: number
}

function validateCommon(o: { output?: unknown; onDuplicate?: unknown; backend?: unknown; seed?: unknown; memory?: unknown }): Common {
  if (typeof o.output !== 'string' || o.output === '') throw optionError('output', 'must be a file path')
  const onDuplicate = (o.onDuplicate ?? 'error') as OnDuplicate
  if (!DUPLICATES.includes(onDuplicate)) throw optionError('onDuplicate', `must be one of ${DUPLICATES.join(', ')}, got ${String(o.onDuplicate)}`)
  const backend = (o.backend ?? 'pagefile') as BackendChoice
  if (!BACKENDS.includes(backend)) throw optionError('backend', `must be one of ${BACKENDS.join(', ')}, got ${String(o.backend)}`)
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && (o.seed as number) >= 0)) throw optionError('seed', `must be an integer from 0 to 2^53-1, got ${String(o.seed)}`)
  const memory = o.memory ?? DEFAULT_MEMORY_MIB
  if (!Number.isInteger(memory) || (memory as number) < MIN_MEMORY_MIB) throw optionError('memory', `must be an integer number of MiB, at least ${MIN_MEMORY_MIB}, got ${String(o.memory)}`)
  return { onDuplicate, backend, seed: o.seed as number | undefined, memory: memory as number }
}

async function runBuild(
  source: RecordSource,
  output: string,
  c: Common,
  inputs: string[],
  expectedBytes: number,
  metadata: Record<string, unknown>,
  onProgress?: BuildOptions['onProgress'],
  readOptions?: BuildOptions,
): Promise<BuildReport> {
  const meta = { ...metadata, pagedict: packageVersion(), created: new Date().toISOString() }
  if (c.backend === 'lmdb') {
    const started = Date.now()
    checkReplaceable(output, isTableFile)
    cleanLeftovers(output)
    const r = await buildLmdbTable(output, source, { onDuplicate: c.onDuplicate, inputs, metadata: meta, memoryBytes: c.memory * 1024 * 1024 })
    return {
      output,
      backend: 'lmdb',
      keys: r.keys,
      records: r.keys,
      bytes: r.bytes,
      shards: 1,
      pages: Math.ceil(r.bytes / 4096),
      seed: 0,
      reseeds: 0,
      codec: ['none', 'string', 'list', 'json'][r.codec],
      input_bytes: 0,
      ms: Date.now() - started,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    }
  }
  return buildPageFile(source, output, { inputs, onDuplicate: c.onDuplicate, seed: c.seed, memoryMiB: c.memory, expectedBytes, metadata: meta, onProgress, readOptions })
}

/** A record source over library entries; the codec follows the first value. */
function entriesSource(entries: Iterable<Entry> | AsyncIterable<Entry>): RecordSource {
  return async (sink) => {
    let codec: CodecId | undefined
    let records = 0
    let bytes = 0
    for await (const entry of entries as AsyncIterable<Entry>) {
      records++
      if (!Array.isArray(entry) || entry.length < 1) throw new PagedictError('E_INPUT', `entries:${records}: an entry must be a [key, value] pair`, { line: records })
      const [key, value] = entry
      if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw new PagedictError('E_INPUT', `entries:${records}: a key must be a string or a Uint8Array`, { line: records })
      const k = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
      if (k.length > MAX_KEY_BYTES) throw new PagedictError('E_KEY_TOO_LONG', `entries:${records}: key is ${k.length} bytes, the maximum is ${MAX_KEY_BYTES}`, { line: records })
      codec ??= codecForValue(value)
      let v: Buffer
      try {
        v = encodeValue(codec, value)
      } catch (err) {
        throw new PagedictError('E_INPUT', `entries:${records}: ${(err as Error).message} (the first value set the table's kind)`, { line: records })
      }
      if (v.length > MAX_VALUE_BYTES) throw new PagedictError('E_VALUE_TOO_LONG', `entries:${records}: value is ${v.length} bytes, the maximum is ${MAX_VALUE_BYTES}`, { line: records })
      bytes += k.length + v.length
      sink(k, 0, k.length, v, 0, v.length, 0, records)
    }
    return { codec: codec ?? CODEC_NONE, records, bytes, describe: { source: 'entries' } }
  }
}

function isIterable(x: unknown): x is Iterable<Entry> | AsyncIterable<Entry> {
  return x != null && (typeof (x as Iterable<Entry>)[Symbol.iterator] === 'function' || typeof (x as AsyncIterable<Entry>)[Symbol.asyncIterator] === 'function')
}

function expectedBytes(file: string): number {
  if (file === '-') return 0
  try {
    const size = fs.statSync(file).size
    const head = Buffer.alloc(2)
    const fd = fs.openSync(file, 'r')
    try {
      fs.readSync(fd, head, 0, 2, 0)
    } finally {
      fs.closeSync(fd)
    }
    return head[0] === 0x1f && head[1] === 0x8b ? size * 5 : size // gzip text shrinks about 5x
  } catch {
    return 0 // the input reader reports a missing file with its own message
  }
}

function optionError(option: string, why: string): PagedictError {
  return new PagedictError('E_OPTION', `option ${option} ${why}`, { option })
}
