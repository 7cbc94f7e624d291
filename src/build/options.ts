/**
 * The build's options as the library takes them, and the shape every table input is
 * delivered in (a record sink), shared by the page-file and LMDB builders.
 */
import type { CodecId } from '../format/layout.js'

export type InputFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'lines'
export type OnDuplicate = 'error' | 'first' | 'last'
export type BackendChoice = 'pagefile' | 'lmdb'

export interface BuildOptions {
  /** One or more input files ('-' is standard input). */
  input: string | string[]
  /** The table file to write. */
  output: string
  /** Inferred from each file's extension (a trailing .gz is looked through) when absent. */
  format?: InputFormat
  /** csv/tsv: 1-based column number or (with header) a header name; jsonl: a field path a.b.c. */
  key?: number | string
  /** csv/tsv: 'rest' (default), 'none', or columns '2', '2,5', '3-7'; jsonl: a field path or '.' (default). */
  value?: string
  /** csv/tsv field delimiter (one character); default ',' for csv and tab for tsv. */
  delimiter?: string
  /** csv/tsv: the first row names the columns. */
  header?: boolean
  onDuplicate?: OnDuplicate
  backend?: BackendChoice
  /** A fixed seed (an integer 0 .. 2^53-1) for a reproducible build; random when absent. */
  seed?: number
  /** Memory bound in MiB for the build's working set (default 256). */
  memory?: number
  /** Called now and then with bytes of input read so far and the total when known. */
  onProgress?: (done: number, total: number | undefined, phase: string) => void
}

/**
 * Receives one record of a table input: the key's bytes `key[keyStart, keyEnd)`, the value
 * encoded for the table's codec `value[valueStart, valueEnd)`, and where it came from
 * (input index and 1-based line) for error messages. The buffers are reused after the call
 * returns: a sink copies what it keeps.
 */
export type RecordSink = (
  key: Uint8Array,
  keyStart: number,
  keyEnd: number,
  value: Uint8Array,
  valueStart: number,
  valueEnd: number,
  inputIndex: number,
  line: number,
) => void

/** What reading the inputs found: the codec the values were encoded with and the counts. */
export interface InputSummary {
  codec: CodecId
  records: number
  /** Bytes read from the inputs (compressed bytes for gzip). */
  bytes: number
  /** Facts for the table's build metadata (format per input, key and value spec, header). */
  describe: Record<string, unknown>
}

/** A source of records: calls `sink` for each, resolves with the summary. */
export type RecordSource = (sink: RecordSink) => Promise<InputSummary>
