/**
 * The built-in job (`pagedict run --emit ...`, or `job: { emit, ... }` in the library): a
 * job module like any custom one, run by the same workers. `count` only scans; the other
 * emits write their lines to the file's output in `outDir`, and the parent reads that file
 * afterwards, so no line crosses a process boundary as a message.
 */
import { performance } from 'node:perf_hooks'
import type { Job } from './context.js'
import { lineEmitter } from './emit.js'
import { OutputFile } from './output.js'
import { outputPath } from './outputs.js'
import type { ScanStats } from './scan.js'
import { type RunSpec, type ScanOptions, formatOf } from './spec.js'

export interface RunResult extends ScanStats {
  /** Wall time of the job in the worker, in milliseconds. */
  ms: number
  /** The output file, for every emit but count. */
  output?: string
  /** Bytes of the header line at the start of `output` (with `header`), so a concatenation can write it once. */
  headerBytes?: number
}

const runJob: Job<RunResult> = async (dict, _file, ctx) => {
  const spec = ctx.options as RunSpec
  const started = performance.now()
  const ms = (): number => Math.round((performance.now() - started) * 10) / 10
  // The name the caller gave decides the format: standard input's copy has no extension.
  const format = formatOf(ctx.name, spec.format)
  const scan: ScanOptions = { format, key: spec.key, delimiter: spec.delimiter, header: spec.header }
  const path = outputPath(spec, ctx.name, ctx.index)
  if (path === undefined || spec.emit === 'count' || spec.emit === undefined) {
    const stats = await ctx.scan(scan)
    return { ...stats, ms: ms() }
  }
  const out = new OutputFile(path)
  try {
    const emitter = lineEmitter({ emit: spec.emit, format, delimiter: spec.delimiter, as: spec.as }, dict, out)
    let headerBytes: number | undefined
    scan.onHeader = (buf, start, end) => {
      emitter.header(buf, start, end)
      headerBytes = out.length
    }
    const stats = await ctx.scan(scan, emitter.line)
    out.close()
    return headerBytes === undefined ? { ...stats, ms: ms(), output: path } : { ...stats, ms: ms(), output: path, headerBytes }
  } catch (err) {
    out.discard()
    throw err
  }
}

export default runJob
