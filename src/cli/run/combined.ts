/**
 * The combined output of `pagedict run --emit ... [-o file]`: the workers' per-file outputs
 * appended in input order, to a file or to standard output, each removed once copied. The
 * bytes go file to stream; they never pass through the pool's messages.
 */
import { createReadStream, createWriteStream, openSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { ioError } from '../../errors.js'

export class CombinedOutput {
  #headerWritten = false
  readonly #dest: NodeJS.WritableStream
  readonly #name: string

  /** `path` undefined writes to standard output. The file is created (or emptied) now. */
  constructor(path: string | undefined) {
    this.#name = path ?? 'standard output'
    if (path === undefined) {
      this.#dest = process.stdout
      return
    }
    // Opened here, synchronously, so a bad path fails before any worker starts.
    let fd: number
    try {
      fd = openSync(path, 'w')
    } catch (err) {
      throw ioError(path, err, 'create the output file')
    }
    this.#dest = createWriteStream(path, { fd })
  }

  /**
   * Append one file's output and remove it. `headerBytes` is the length of the header line
   * it starts with: the first header goes out, later ones are skipped so the combined output
   * has one header.
   */
  async append(part: string, headerBytes: number | undefined): Promise<void> {
    const skip = headerBytes !== undefined && this.#headerWritten ? headerBytes : 0
    if (headerBytes !== undefined) this.#headerWritten = true
    try {
      await pipeline(createReadStream(part, { start: skip }), this.#dest, { end: false })
    } catch (err) {
      throw ioError(this.#name, err, 'write')
    }
    await rm(part, { force: true })
  }

  /** Finish the file (standard output stays open). */
  async close(): Promise<void> {
    const dest = this.#dest
    if (dest === process.stdout) return
    await new Promise<void>((resolve, reject) => {
      dest.once('error', (err) => reject(ioError(this.#name, err, 'write')))
      dest.end(() => resolve())
    })
  }
}
