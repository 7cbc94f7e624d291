import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

/**
 * Files a build of `table` may leave behind: its temporary files (`.<table>.tmp-…`, both
 * backends) and, for LMDB, the lock file beside a table that does not exist.
 */
export function leftoversOf(table: string): string[] {
  const dir = path.dirname(table)
  const base = path.basename(table)
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir).filter((n) => n.startsWith(`.${base}.tmp-`) || (n === `${base}-lock` && !fs.existsSync(table)))
}

/**
 * Every file in `dir` with a SHA-256 of its bytes, for "the directory is exactly as it was"
 * checks (a digest: deep equality of megabyte Buffers is slow in expect).
 */
export function snapshot(dir: string): Map<string, string> {
  const files = fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile())
  return new Map(files.map((n) => [n, crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, n))).digest('hex')]))
}
