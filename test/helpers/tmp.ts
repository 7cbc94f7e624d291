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

/** A function that writes `content` to `name` in `dir` and returns the file's path. */
export function fileWriter(dir: string): (name: string, content: string | Buffer) => string {
  return (name, content) => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, content)
    return file
  }
}
