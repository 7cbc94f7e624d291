/**
 * Where a built-in job's output lines go: one file per input file in `outDir`. Checked in
 * the parent before any worker writes, since two workers naming the same file would race.
 */
import { basename, join, resolve } from 'node:path'
import { PagedictError } from '../errors.js'
import type { RunSpec } from './spec.js'

/** The output file's name for an input: its base name without a trailing .gz; 'stdin' for '-'. */
function outputName(input: string): string {
  if (input === '-') return 'stdin'
  return basename(input).replace(/\.gz$/i, '')
}

/** The output path of the input at `index`, or undefined for a job that writes no lines. */
export function outputPath(spec: RunSpec, input: string, index: number): string | undefined {
  if (spec.emit === 'count' || spec.emit === undefined || spec.outDir === undefined) return undefined
  return join(spec.outDir, spec.outNames === 'index' ? `${index}.out` : outputName(input))
}

/** Refuse outputs that collide with each other or overwrite an input (E_OPTION, naming both). */
export function checkOutputs(spec: RunSpec, inputs: readonly string[]): void {
  const inputPaths = new Set(inputs.filter((f) => f !== '-').map((f) => resolve(f)))
  const seen = new Map<string, string>()
  inputs.forEach((input, index) => {
    const out = outputPath(spec, input, index)
    if (out === undefined) return
    const other = seen.get(out)
    if (other !== undefined) {
      throw new PagedictError('E_OPTION', `outDir: ${other} and ${input} would both write ${out}; rename one or run them separately`, { option: 'outDir', path: out })
    }
    if (inputPaths.has(out)) {
      throw new PagedictError('E_OPTION', `outDir: the output ${out} would overwrite an input file; choose another directory`, { option: 'outDir', path: out })
    }
    seen.set(out, input)
  })
}
