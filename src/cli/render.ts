/** How values print on a terminal and in TSV dumps. */
import type { Value } from '../format/values.js'

/** Escape a field for the TSV that dump writes: backslash, tab, newline and CR as \\ \t \n \r. */
export function tsvField(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s
}

/** A value as TSV fields: a string is one field, a list one field per item, JSON its text. */
export function valueFields(codec: string, value: Value): string[] {
  if (codec === 'none') return []
  if (codec === 'string') return [value as string]
  if (codec === 'list') return value as string[]
  return [JSON.stringify(value)]
}
