import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll } from 'vitest'

/** A fresh temporary directory, removed after the test file's tests (vitest reuses forks). */
export function tmpDir(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pagedict-${tag}-`))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}
