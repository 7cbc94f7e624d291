/**
 * A streaming scanner for one big JSON object `{ "k": <any JSON value>, ... }`, the `json`
 * table format. The whole file is never parsed at once: the scanner walks the blocks of
 * src/scan/chunks.ts, decodes each top-level key and hands over the raw bytes of its value,
 * which is checked with JSON.parse on its own (values are small next to the file).
 *
 * The scan of a value is resumable: a value running over many blocks is carried (from its
 * first byte) but never rescanned, so a 100 MiB value costs one pass.
 */
import { inputError, type PagedictError } from '../errors.js'
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../format/layout.js'
import { bomLength, readBlocks, type ReadBlocksOptions, type ReadResult } from './chunks.js'

/**
 * Receives one member: the key's UTF-8 bytes `key[0, keyLength)` (escapes decoded), the
 * value's JSON text `value[valueStart, valueEnd)` as it appears (inner whitespace kept), and
 * the 1-based line of the key. Both buffers are reused after the call.
 */
export type MemberHandler = (key: Buffer, keyLength: number, value: Buffer, valueStart: number, valueEnd: number, line: number) => void

export interface JsonObjectOptions {
  /** Longest value text in bytes (default MAX_VALUE_BYTES); longer is E_VALUE_TOO_LONG. */
  maxValueBytes?: number
}

const OPEN = 0
const KEY_OR_CLOSE = 1
const KEY = 2
const COLON = 3
const VALUE = 4
const IN_VALUE = 5
const AFTER_VALUE = 6
const DONE = 7

/** A key token can hold \uXXXX escapes (6 bytes for each byte it decodes to) and its quotes. */
const MAX_KEY_TOKEN = MAX_KEY_BYTES * 6 + 2

/** Feed it blocks with {@link feed}; it calls the handler once per member. */
export class JsonObjectScanner {
  /** The 1-based line the scan has reached. */
  line = 1
  private phase = OPEN
  private atStart = true
  private keyBuf = Buffer.allocUnsafe(256)
  private keyLength = 0
  private memberLine = 0
  // The value in progress, relative to its first byte (the point the block is carried from).
  private scanned = 0
  private depth = 0
  private inString = false
  private escaped = false
  private container = false
  private valueLine = 0
  private readonly maxValueBytes: number

  constructor(
    readonly path: string,
    private readonly onMember: MemberHandler,
    opts: JsonObjectOptions = {},
  ) {
    this.maxValueBytes = opts.maxValueBytes ?? MAX_VALUE_BYTES
  }

  /** A {@link BlockHandler}: scan `buf[start, end)`, return how far it is consumed. */
  feed(buf: Buffer, start: number, end: number, eof: boolean): number {
    let pos = start
    if (this.atStart) {
      const bom = bomLength(buf, start, end, eof)
      if (bom < 0) return start
      pos += bom
      this.atStart = false
    }
    for (;;) {
      if (this.phase === IN_VALUE) {
        const next = this.scanValue(buf, pos, end, eof)
        if (next < 0) return pos
        pos = next
        continue
      }
      while (pos < end && isSpace(buf[pos])) if (buf[pos++] === 10) this.line++
      if (pos === end) {
        if (!eof) return end
        // An empty file is an empty table, as in every other format.
        if (this.phase === DONE || this.phase === OPEN) return end
        throw this.fail('unexpected end of input: the object is not closed')
      }
      const c = buf[pos]
      switch (this.phase) {
        case OPEN:
          if (c !== 0x7b) throw this.fail(`expected '{': the json format reads one object of "key": value members`)
          this.phase = KEY_OR_CLOSE
          pos++
          break
        case KEY_OR_CLOSE:
        case KEY:
          if (c === 0x7d && this.phase === KEY_OR_CLOSE) {
            this.phase = DONE
            pos++
            break
          }
          if (c !== 0x22) throw this.fail(this.phase === KEY ? 'expected a key string after \',\'' : 'expected a key string or \'}\'')
          {
            const next = this.scanKey(buf, pos, end, eof)
            if (next < 0) return pos
            pos = next
          }
          this.phase = COLON
          break
        case COLON:
          if (c !== 0x3a) throw this.fail(`expected ':' after the key`)
          this.phase = VALUE
          pos++
          break
        case VALUE:
          if (c === 0x2c || c === 0x7d || c === 0x5d || c === 0x3a) throw this.fail('expected a value')
          this.container = c === 0x7b || c === 0x5b
          this.inString = c === 0x22
          this.escaped = false
          this.depth = 0
          this.scanned = 0
          this.valueLine = this.line
          this.phase = IN_VALUE
          break
        case AFTER_VALUE:
          if (c === 0x2c) this.phase = KEY
          else if (c === 0x7d) this.phase = DONE
          else throw this.fail(`expected ',' or '}' after a value`)
          pos++
          break
        default:
          throw this.fail('unexpected data after the object')
      }
    }
  }

  /** Scan a key token at `buf[pos] === '"'`; returns the position after it, or -1 for more input. */
  private scanKey(buf: Buffer, pos: number, end: number, eof: boolean): number {
    let plain = true
    let i = pos + 1
    for (;;) {
      if (i >= end || i - pos > MAX_KEY_TOKEN) {
        if (i - pos > MAX_KEY_TOKEN) throw this.fail(`key is longer than ${MAX_KEY_BYTES} bytes`, 'E_KEY_TOO_LONG')
        if (eof) throw this.fail('unterminated key string')
        return -1
      }
      const c = buf[i]
      if (c === 0x22) break
      if (c === 0x5c) {
        plain = false
        i += 2
        continue
      }
      if (c < 0x20) {
        if (c === 10) throw this.fail('newline inside a key string')
        plain = false
      }
      i++
    }
    this.memberLine = this.line
    if (plain) {
      // Without escapes the key's bytes are its UTF-8 bytes as they stand in the file.
      if (this.keyBuf.length < i - pos) this.keyBuf = Buffer.allocUnsafe(MAX_KEY_TOKEN)
      this.keyLength = buf.copy(this.keyBuf, 0, pos + 1, i)
    } else {
      let key: string
      try {
        key = JSON.parse(buf.toString('utf8', pos, i + 1)) as string
      } catch (err) {
        throw this.fail(`bad key string: ${(err as Error).message}`)
      }
      if (this.keyBuf.length < Buffer.byteLength(key)) this.keyBuf = Buffer.allocUnsafe(Buffer.byteLength(key))
      this.keyLength = this.keyBuf.write(key)
    }
    return i + 1
  }

  /**
   * Continue the value that starts at `vStart`; on completion check it and emit the member
   * and return the position after it; -1 when it runs past the block and more is coming.
   */
  private scanValue(buf: Buffer, vStart: number, end: number, eof: boolean): number {
    let i = vStart + this.scanned
    let { depth, inString, escaped } = this
    let done = false
    if (this.container || inString) {
      // A string value starts inside its string: skip its opening quote once.
      if (this.scanned === 0 && inString) i++
      for (; i < end; i++) {
        const c = buf[i]
        if (inString) {
          if (escaped) escaped = false
          else if (c === 0x5c) escaped = true
          else if (c === 0x22) {
            inString = false
            if (depth === 0) {
              i++
              done = true
              break
            }
          }
        } else if (c === 0x22) inString = true
        else if (c === 0x7b || c === 0x5b) depth++
        else if (c === 0x7d || c === 0x5d) {
          if (--depth === 0) {
            i++
            done = true
            break
          }
        }
        if (c === 10) this.line++
      }
    } else {
      // A number, true, false or null runs to the next delimiter or space.
      while (i < end && !isScalarEnd(buf[i])) i++
      done = i < end || eof
    }
    if (i - vStart > this.maxValueBytes) {
      throw inputError(this.path, this.memberLine, `value is more than ${this.maxValueBytes} bytes`, 'E_VALUE_TOO_LONG')
    }
    if (!done) {
      if (eof) throw inputError(this.path, this.valueLine, 'unexpected end of input inside the value that starts here')
      this.scanned = i - vStart
      this.depth = depth
      this.inString = inString
      this.escaped = escaped
      return -1
    }
    this.checkValue(buf, vStart, i)
    this.onMember(this.keyBuf, this.keyLength, buf, vStart, i, this.memberLine)
    this.phase = AFTER_VALUE
    return i
  }

  private checkValue(buf: Buffer, start: number, end: number): void {
    const text = buf.toString('utf8', start, end)
    try {
      JSON.parse(text)
    } catch (err) {
      // Point at the line of the bad byte when the engine says where it is (V8 gives a
      // position for some errors only); otherwise at the line where the value starts.
      const at = /position (\d+)/.exec((err as Error).message)
      let line = this.valueLine
      if (at) for (let k = 0, n = Math.min(Number(at[1]), text.length); k < n; k++) if (text.charCodeAt(k) === 10) line++
      throw inputError(this.path, line, `invalid JSON value: ${(err as Error).message}`)
    }
  }

  private fail(reason: string, code: 'E_INPUT' | 'E_KEY_TOO_LONG' = 'E_INPUT'): PagedictError {
    return inputError(this.path, this.line, reason, code)
  }
}

/** JSON's white space: space, tab, LF, CR. */
export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function isScalarEnd(c: number): boolean {
  return c === 0x2c || c === 0x7d || c === 0x5d || isSpace(c)
}

/** Scan the JSON object file `path` ('-' is standard input), one member at a time. */
export async function scanJsonObject(path: string, onMember: MemberHandler, opts: ReadBlocksOptions & JsonObjectOptions = {}): Promise<ReadResult> {
  const scanner = new JsonObjectScanner(path, onMember, opts)
  // The scanner reports an oversized value itself, so the carry bound sits just above it.
  const maxCarry = Math.max(opts.maxValueBytes ?? MAX_VALUE_BYTES, MAX_KEY_TOKEN) + 16
  return readBlocks(path, (buf, start, end, eof) => scanner.feed(buf, start, end, eof), { ...opts, maxCarry, lineAt: () => scanner.line })
}
