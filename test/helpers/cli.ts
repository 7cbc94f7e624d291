import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/pagedict.js', import.meta.url))
export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url))

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Run the compiled CLI (npm test compiles first) and capture everything. */
export function pagedict(args: string[], opts: { input?: string | Buffer; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { input: opts.input, cwd: opts.cwd, encoding: 'utf8', maxBuffer: 256 << 20 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The CLI's error contract: exit 2, one line on stderr, no stack trace. */
export function expectUsageError(r: CliResult, pattern: RegExp, expect: (v: unknown) => { toBe(x: unknown): void; toMatch(x: RegExp): void }): void {
  expect(r.status).toBe(2)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines.length).toBe(1)
  expect(lines[0]).toMatch(pattern)
  expect(/\n\s+at /.test(r.stderr)).toBe(false)
}
