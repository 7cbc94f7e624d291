/**
 * The progress line of `pagedict run` on a terminal's stderr: files done, bytes, MB/s and
 * the time left. Only the CLI uses it; the library reports progress through `onProgress`.
 */
import type { PoolProgress } from '../../pool/types.js'

/** Redraws at most this often: a terminal needs no more, and each redraw is a write. */
const REDRAW_MS = 100
const MB = 1e6

export class ProgressLine {
  #last = 0
  #shown = false

  constructor(private readonly stream: NodeJS.WritableStream) {}

  update(p: PoolProgress, force = false): void {
    const now = Date.now()
    if (!force && now - this.#last < REDRAW_MS) return
    this.#last = now
    const seconds = p.elapsedMs / 1000
    const rate = seconds > 0 ? p.bytesDone / MB / seconds : 0
    const left = p.bytesTotal - p.bytesDone
    const eta = rate > 0 && left > 0 ? ` ETA ${duration(left / MB / rate)}` : ''
    const text = `${p.filesDone}/${p.filesTotal} files  ${(p.bytesDone / MB).toFixed(1)}/${(p.bytesTotal / MB).toFixed(1)} MB  ${rate.toFixed(1)} MB/s${eta}`
    // \r and "erase to end of line" redraw in place without leaving fragments of a longer line.
    this.stream.write(`\r${text}\x1b[K`)
    this.#shown = true
  }

  /** Erase the line so the report starts on a clean one. */
  clear(): void {
    if (this.#shown) this.stream.write('\r\x1b[K')
    this.#shown = false
  }
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
