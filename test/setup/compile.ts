/**
 * Before any test: compile src/ to dist/ (workers and the CLI run compiled JavaScript, so a
 * test must never meet a stale build) and type-check the tests themselves. A plain `vitest`
 * therefore tests the sources as they are. A compile error stops the run.
 */
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export default function compile(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  for (const project of ['tsconfig.json', 'tsconfig.test.json']) {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' })
  }
}
