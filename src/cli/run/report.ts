/**
 * What `pagedict run` prints about a run: the NDJSON records of the contract (one per file
 * as it completes in input order, then a total) or, for people, a per-file and a total
 * table at the end. Files cancelled by Ctrl-C are left out of both and counted in the total.
 */
import type { PoolResult } from '../../pool/types.js'
import type { RunResult } from '../../run/job.js'

const COUNT_FIELDS = ['lines', 'matched', 'missed', 'bytes', 'ms'] as const

export interface Totals {
  files: number
  ok: number
  failed: number
  cancelled: number
  lines: number
  matched: number
  missed: number
  bytes: number
  /** Wall time of the whole run. */
  ms: number
}

export function emptyTotals(): Totals {
  return { files: 0, ok: 0, failed: 0, cancelled: 0, lines: 0, matched: 0, missed: 0, bytes: 0, ms: 0 }
}

/** Count one result into the totals. */
export function addResult(t: Totals, r: PoolResult, builtin: boolean): void {
  t.files++
  if (!r.ok) {
    if (r.cancelled) t.cancelled++
    else t.failed++
    return
  }
  t.ok++
  if (builtin) {
    const c = r.result as RunResult
    t.lines += c.lines
    t.matched += c.matched
    t.missed += c.missed
    t.bytes += c.bytes
  }
}

/** The NDJSON record of one file: count fields for a built-in job, `result` for a custom one. */
export function fileRecord(r: PoolResult, builtin: boolean): string {
  if (!r.ok) return JSON.stringify({ type: 'file', file: r.file, ok: false, error: r.error.message })
  if (!builtin) return JSON.stringify({ type: 'file', file: r.file, ok: true, result: r.result })
  const c = r.result as RunResult
  return JSON.stringify({ type: 'file', file: r.file, ok: true, lines: c.lines, matched: c.matched, missed: c.missed, bytes: c.bytes, ms: c.ms })
}

export function totalRecord(t: Totals, builtin: boolean, interrupted: boolean): string {
  const { files, ok, failed, cancelled, lines, matched, missed, bytes, ms } = t
  const counts = builtin ? { lines, matched, missed, bytes } : {}
  return JSON.stringify({ type: 'total', files, ok, failed, cancelled, ...counts, ms, ...(interrupted && { interrupted: true }) })
}

/** The per-file and total table, columns aligned. */
export function table(results: readonly PoolResult[], t: Totals, builtin: boolean, interrupted: boolean): string {
  const done = results.filter((r) => r.ok || !r.cancelled)
  const summary = [`${t.files} file${t.files === 1 ? '' : 's'}`, t.failed > 0 && `${t.failed} failed`, t.cancelled > 0 && `${t.cancelled} cancelled`, interrupted && 'interrupted']
    .filter(Boolean)
    .join(', ')
  if (!builtin) {
    const lines = done.map((r) => `${r.file}  ${r.ok ? JSON.stringify(r.result) : `failed: ${r.error.message}`}`)
    return [...lines, `total: ${summary}, ${t.ms} ms`].join('\n') + '\n'
  }
  const rows: string[][] = [['file', ...COUNT_FIELDS]]
  const notes: (string | undefined)[] = [undefined]
  for (const r of done) {
    if (r.ok) {
      const c = r.result as RunResult
      rows.push([r.file, ...COUNT_FIELDS.map((f) => String(c[f]))])
      notes.push(undefined)
    } else {
      rows.push([r.file])
      notes.push(`failed: ${r.error.message}`)
    }
  }
  rows.push([`total (${summary})`, String(t.lines), String(t.matched), String(t.missed), String(t.bytes), String(t.ms)])
  notes.push(undefined)
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)))
  return (
    rows
      .map((row, i) => {
        const note = notes[i]
        if (note !== undefined) return `${row[0].padEnd(widths[0])}  ${note}`
        return row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[col]))).join('  ')
      })
      .join('\n') + '\n'
  )
}
