/**
 * `pagedict run <table> <file-or-glob...>`: the arguments, checked and turned into RunArgs.
 * The work itself is src/cli/run/command.ts.
 *
 * Exit codes: 0 done; 1 some file failed; 2 bad usage or bad input (one line on stderr, no
 * stack trace); 130 interrupted by Ctrl-C (what was done is still reported).
 */
import type { Command } from 'commander'
import { MAX_RETRIES, MAX_WORKERS } from '../pool/options.js'
import type { RunArgs } from './run/command.js'
import { DATA_FORMATS, EMITS, type DataFormat, type Emit, checkDelimiter, checkKey } from '../run/spec.js'
import { guarded, integerOption, usageError as usage } from './errors.js'

interface RawOptions {
  key?: string
  format?: string
  delimiter?: string
  header?: boolean
  emit: string
  as?: string
  workers?: string
  threads?: boolean
  retries?: string
  job?: string
  output?: string
  outDir?: string
  json?: boolean
  progress: boolean
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .summary('run a lookup job over many data files on a pool of workers')
    .description(
      'Look each line of the data files up in the table, one file per job, on a pool of workers that share the mapped table.\n' +
        'Results are reported in the order of the input files. Exit codes: 0 done, 1 some file failed, 2 bad usage or input, 130 interrupted.',
    )
    .argument('<table>', 'the table (a page file or an LMDB table)')
    .argument('<files...>', 'data files, directories (every file under them) or quoted globs, expanded and sorted by pagedict; - for standard input')
    .option('--key <col>', 'csv/tsv: 1-based column number (default 1) or, with --header, a column name; jsonl: a field path such as user.id')
    .option('--format <format>', `data format: ${DATA_FORMATS.join('|')} (default: from the extension, .gz looked through; csv otherwise)`)
    .option('--delimiter <c>', 'csv/tsv field delimiter: one character, or \\t for a tab')
    .option('--header', 'the first line of each file names the columns')
    .option('--emit <what>', `${EMITS.join('|')}`, 'count')
    .option('--as <name>', 'join/left: the added field (jsonl) or column header (csv/tsv with --header), default "value"')
    .option('--workers <n>', 'number of workers (default: the CPUs available)')
    .option('--threads', 'worker threads instead of child processes')
    .option('--retries <n>', 'times a file is retried after its worker died', '1')
    .option('--job <module>', 'a custom job module: export default async (dict, file, ctx) => result')
    .option('-o, --output <file>', 'write the output lines of every file to one file, in input order')
    .option('--out-dir <dir>', 'write one output file per input file, named after it')
    .option('--json', 'print NDJSON records: one per file, then a total')
    .option('--no-progress', 'no progress line on stderr')
    .addHelpText(
      'after',
      `
Examples:
  pagedict run airports.pdict routes.dat --key 4                      (count: lines, matched, missed)
  pagedict run airports.pdict 'routes/*.csv' --key 4 --emit join -o joined.csv
  pagedict run airports.pdict routes/ --key src_id --header --emit misses --out-dir unmatched/
  pagedict run users.pdict 'logs/*.jsonl.gz' --format jsonl --key user.id --emit left --as user
  pagedict run airports.pdict data/ --job ./longest.js --json          (a custom job's results as NDJSON)`,
    )
    .action((table: string, files: string[], raw: RawOptions) =>
      guarded('run', async () => {
        const args = parseRunArgs(table, files, raw)
        // Loaded here, not at start-up: every command pays for what main.ts imports.
        const { runCommand } = await import('./run/command.js')
        return runCommand(args)
      }),
    )
}

/** Check the options against each other and turn them into what runCommand takes. */
export function parseRunArgs(table: string, inputs: string[], raw: RawOptions): RunArgs {
  if (!(EMITS as readonly string[]).includes(raw.emit)) throw usage('--emit', `must be one of ${EMITS.join(', ')}, got "${raw.emit}"`)
  const emit = raw.emit as Emit
  if (raw.format !== undefined && !(DATA_FORMATS as readonly string[]).includes(raw.format)) {
    throw usage('--format', `must be one of ${DATA_FORMATS.join(', ')}, got "${raw.format}"`)
  }
  if (raw.job !== undefined && emit !== 'count') throw usage('--job', 'a custom job replaces --emit; give one or the other')
  if (raw.job !== undefined && (raw.output !== undefined || raw.outDir !== undefined)) {
    throw usage('--job', 'a custom job writes its own output; -o and --out-dir are for --emit')
  }
  if (raw.output !== undefined && raw.outDir !== undefined) throw usage('-o', 'give -o (one combined file) or --out-dir (a file per input), not both')
  if (emit === 'count' && raw.job === undefined && (raw.output !== undefined || raw.outDir !== undefined)) {
    throw usage(raw.output !== undefined ? '-o' : '--out-dir', 'count writes no lines; use --emit matches|misses|join|left')
  }
  if (raw.as !== undefined && emit !== 'join' && emit !== 'left') throw usage('--as', 'names the field join and left add; use it with --emit join or left')
  const delimiter = raw.delimiter === '\\t' || raw.delimiter === 'tab' ? '\t' : raw.delimiter
  const key = checkKey(raw.key, '--key')
  if (typeof key === 'string' && raw.format !== 'jsonl' && raw.format !== undefined && !raw.header) {
    throw usage('--key', `"${key}" names a column, which needs --header (or give a column number)`)
  }
  if (raw.format === 'jsonl' && key === undefined) throw usage('--key', 'jsonl data needs a field path, such as --key user.id')
  if (raw.as === '') throw usage('--as', 'must be a non-empty name')
  return {
    table,
    inputs,
    emit,
    job: raw.job,
    key,
    format: raw.format as DataFormat | undefined,
    delimiter: checkDelimiter(delimiter, '--delimiter'),
    header: raw.header,
    as: raw.as,
    workers: integerOption(raw.workers, '--workers', 1, MAX_WORKERS),
    threads: raw.threads ?? false,
    retries: integerOption(raw.retries, '--retries', 0, MAX_RETRIES),
    output: raw.output,
    outDir: raw.outDir,
    json: raw.json ?? false,
    progress: raw.progress,
  }
}
