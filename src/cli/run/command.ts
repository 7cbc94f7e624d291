/**
 * The work of `pagedict run`, apart from its argument parsing (src/cli/run.ts): expand the
 * inputs, run the pool, put the output lines where they belong, show progress, report.
 *
 * Where things go:
 *   count                       the report on stdout
 *   --emit ... -o <file>        lines to the file, the report on stdout
 *   --emit ... --out-dir <dir>  one file of lines per input, the report on stdout
 *   --emit ...                  lines on stdout, the report on stderr
 *
 * Exit codes: 0 done; 1 some file failed; 130 interrupted by Ctrl-C. Bad usage and bad input
 * (the table does not open, the job does not load) throw a PagedictError for the CLI to turn
 * into one line and exit code 2.
 */
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { ioError } from '../../errors.js'
import { Pool } from '../../api/pool.js'
import type { PoolResult } from '../../pool/types.js'
import { CombinedOutput } from './combined.js'
import { expandInputs } from './inputs.js'
import type { RunResult } from '../../run/job.js'
import { ProgressLine } from './progress.js'
import { addResult, emptyTotals, fileRecord, table, totalRecord } from './report.js'
import type { DataFormat, Emit, RunSpec } from '../../run/spec.js'

export interface RunArgs {
  table: string
  /** Files, directories, globs, '-'. */
  inputs: string[]
  emit: Emit
  /** A custom job module instead of the built-in job. */
  job?: string
  key?: number | string
  format?: DataFormat
  delimiter?: string
  header?: boolean
  as?: string
  workers?: number
  threads: boolean
  retries?: number
  /** -o: the combined output file. */
  output?: string
  outDir?: string
  json: boolean
  progress: boolean
}

const EXIT_OK = 0
const EXIT_FAILED_FILES = 1
const EXIT_INTERRUPTED = 130

export async function runCommand(args: RunArgs): Promise<number> {
  const files = await expandInputs(args.inputs)
  const builtin = args.job === undefined
  const writesLines = builtin && args.emit !== 'count'
  const scan = { key: args.key, format: args.format, delimiter: args.delimiter, header: args.header }

  let spec: RunSpec | undefined
  let combined: CombinedOutput | undefined
  let partsDir: string | undefined
  if (builtin) spec = { emit: args.emit, ...scan, as: args.as }
  if (spec && writesLines && args.outDir !== undefined) {
    await mkdir(args.outDir, { recursive: true })
    spec.outDir = args.outDir
  } else if (spec && writesLines) {
    combined = new CombinedOutput(args.output)
    // The per-file parts live beside the output file (same disk, no small tmpfs filling up).
    partsDir = await mkdtemp(join(args.output === undefined ? tmpdir() : dirname(resolve(args.output)), '.pagedict-run-'))
    spec.outDir = partsDir
    spec.outNames = 'index'
  }
  const report = writesLines && args.output === undefined && args.outDir === undefined ? process.stderr : process.stdout
  const progress = args.progress && process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined

  let pool: Pool | undefined
  let interrupted = false
  let stdoutError: NodeJS.ErrnoException | undefined
  const onSigint = (): void => {
    // A second Ctrl-C does not wait for the workers: exiting closes their channels and they end.
    if (interrupted) process.exit(EXIT_INTERRUPTED)
    interrupted = true
    pool?.cancel()
  }
  // Standard output failed: stop the work. A reader that stops early (`| head`) closes the
  // pipe (EPIPE), which ends the run quietly; any other failure is reported after it.
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    stdoutError ??= err
    pool?.cancel()
  }
  // A second Ctrl-C or a closed stdout ends the process at once: the parts go with it.
  const removeParts = (): void => {
    if (partsDir) rmSync(partsDir, { recursive: true, force: true })
  }
  process.on('exit', removeParts)
  const started = Date.now()
  const totals = emptyTotals()
  const done: PoolResult[] = []
  process.on('SIGINT', onSigint)
  process.stdout.on('error', onStdoutError)
  try {
    pool = new Pool({
      table: args.table,
      job: spec ?? args.job!,
      jobOptions: builtin ? undefined : JSON.parse(JSON.stringify(scan)),
      workers: args.workers,
      threads: args.threads,
      retries: args.retries,
      onProgress: progress && ((p) => progress.update(p)),
    })
    for await (const r of pool.run(files)) {
      addResult(totals, r, builtin)
      if (r.ok && combined && !stdoutError) {
        const { output, headerBytes } = r.result as RunResult
        try {
          await combined.append(output!, headerBytes)
        } catch (err) {
          if (args.output !== undefined) throw err
          onStdoutError(((err as Error).cause ?? err) as NodeJS.ErrnoException)
        }
      }
      if (!r.ok && r.cancelled) continue
      if (!args.json) done.push(r)
      else {
        progress?.clear()
        report.write(fileRecord(r, builtin) + '\n')
      }
    }
  } finally {
    process.off('SIGINT', onSigint)
    progress?.clear()
    await pool?.close()
    await combined?.close()
    if (partsDir) await rm(partsDir, { recursive: true, force: true })
    process.off('exit', removeParts)
    process.stdout.off('error', onStdoutError)
  }
  totals.ms = Date.now() - started
  if (stdoutError && stdoutError.code !== 'EPIPE') throw ioError('standard output', stdoutError, 'write')
  if (!(stdoutError && report === process.stdout)) {
    report.write(args.json ? totalRecord(totals, builtin, interrupted) + '\n' : table(done, totals, builtin, interrupted))
  }
  if (interrupted) return EXIT_INTERRUPTED
  return totals.failed > 0 ? EXIT_FAILED_FILES : EXIT_OK
}
