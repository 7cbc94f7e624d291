/**
 * Standard input as a data file. Workers cannot share one stream, and a retry after a crash
 * must read the same bytes again, so the parent copies '-' to a temporary file first and
 * hands that file out like any other (its size then counts for largest-first and progress).
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { ioError } from '../errors.js'

export class StdinSpool {
  #dir: string | undefined

  /** Copy standard input to a temporary file; returns its path and size. */
  async take(): Promise<{ path: string; size: number }> {
    this.#dir ??= await mkdtemp(join(tmpdir(), 'pagedict-stdin-'))
    const path = join(this.#dir, 'stdin')
    try {
      await pipeline(process.stdin, createWriteStream(path))
      return { path, size: (await stat(path)).size }
    } catch (err) {
      throw ioError('-', err, 'read standard input')
    }
  }

  /** Remove the copy (safe to call more than once). */
  async discard(): Promise<void> {
    const dir = this.#dir
    this.#dir = undefined
    if (dir) await rm(dir, { recursive: true, force: true })
  }
}
