/**
 * `pagedict build <input...> -o <table>`: compile a table. Arguments are checked here; the
 * work is the library's build().
 */
import type { Command } from 'commander'
import type { BackendChoice, InputFormat, OnDuplicate } from '../build/options.js'
import { EXIT_OK, guarded, integerOption } from './errors.js'

interface RawBuildOptions {
  output: string
  format?: string
  key?: string
  value?: string
  delimiter?: string
  header?: boolean
  onDuplicate: string
  backend: string
  seed?: string
  memory: string
  progress: boolean
  json?: boolean
}

export function registerBuild(program: Command): void {
  program
    .command('build')
    .summary('compile a table file from CSV, TSV, JSONL, JSON or plain lines (gzip too)')
    .argument('<input...>', 'input files; - for standard input')
    .requiredOption('-o, --output <table>', 'the table file to write (replaced atomically)')
    .option('--format <format>', 'csv|tsv|jsonl|json|lines (default: from the extension; .gz is looked through)')
    .option('--key <col>', 'csv/tsv: 1-based column number (default 1) or, with --header, a column name; jsonl: a field path a.b.c')
    .option('--value <spec>', 'csv/tsv: rest (default), none (a key set), or columns like 2 | 2,5 | 3-7; jsonl: a field path, . for the object (default), or none')
    .option('--delimiter <c>', 'csv/tsv field delimiter: one character, or \\t for a tab')
    .option('--header', 'the first row of each csv/tsv input names the columns')
    .option('--on-duplicate <policy>', 'error|first|last', 'error')
    .option('--backend <backend>', 'pagefile|lmdb', 'pagefile')
    .option('--seed <n>', 'hash seed, for a reproducible build (default: random)')
    .option('--memory <MiB>', 'memory bound of the build', '256')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--json', 'print a JSON report of the build on stdout')
    .addHelpText(
      'after',
      `
Examples:
  pagedict build airports.dat --format csv --key 1 -o airports.pdict
  pagedict build airports.csv --header --key ICAO --value Name,City -o icao.pdict
  pagedict build words.txt -o words.pdict                      (a key set)
  pagedict build users.jsonl.gz --key user.id --value . -o users.pdict
  pagedict build big.tsv --memory 512 --backend lmdb -o big.lmdb`,
    )
    .action((inputs: string[], raw: RawBuildOptions) =>
      guarded('build', async () => {
        const progress = raw.progress && process.stderr.isTTY ? new BuildProgress() : undefined
        const { build } = await import('../build/index.js') // not at start-up: see run.ts
        const report = await build({
          input: inputs,
          output: raw.output,
          format: raw.format as InputFormat | undefined,
          key: raw.key === undefined ? undefined : /^[0-9]+$/.test(raw.key) ? Number(raw.key) : raw.key,
          value: raw.value,
          delimiter: raw.delimiter === '\\t' || raw.delimiter === 'tab' ? '\t' : raw.delimiter,
          header: raw.header,
          onDuplicate: raw.onDuplicate as OnDuplicate,
          backend: raw.backend as BackendChoice,
          seed: integerOption(raw.seed, '--seed', 0),
          memory: integerOption(raw.memory, '--memory', 1),
          onProgress: progress ? (done, total, phase) => progress.update(done, total, phase) : undefined,
        }).finally(() => progress?.clear())
        if (raw.json) process.stdout.write(JSON.stringify(report) + '\n')
        else process.stderr.write(`pagedict build: ${report.keys} keys, ${(report.bytes / 1e6).toFixed(1)} MB, ${report.shards} shard(s), ${(report.ms / 1000).toFixed(1)} s -> ${report.output}\n`)
        return EXIT_OK
      }),
    )
}

/** A one-line progress bar on a terminal's stderr, redrawn at most ten times a second. */
class BuildProgress {
  private last = 0
  private shown = false
  private readonly started = Date.now()

  update(done: number, total: number | undefined, phase: string): void {
    const now = Date.now()
    if (now - this.last < 100) return
    this.last = now
    const secs = (now - this.started) / 1000
    let text: string
    if (phase === 'read') {
      const pct = total ? ` ${Math.min(100, (100 * done) / total).toFixed(0)}%` : ''
      text = `reading${pct}  ${(done / 1e6).toFixed(1)} MB  ${(done / 1e6 / Math.max(secs, 0.001)).toFixed(1)} MB/s`
    } else {
      text = `${phase} ${done}/${total ?? '?'}`
    }
    process.stderr.write(`\r${text}\x1b[K`)
    this.shown = true
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K')
  }
}
