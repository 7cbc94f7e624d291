import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fileWriter, tmpDir } from './helpers/tmp.js'
import { PagedictError } from '../src/errors.js'
import { bomLength, completeLinesEnd, inputSize, readBlocks, readLines } from '../src/scan/chunks.js'

const dir = tmpDir('chunks')
const file = fileWriter(dir)

/** Deterministic text with lines of varied length, some CRLF, some empty. */
function sampleText(lines: number): string {
  const out: string[] = []
  let x = 7
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    const len = x % 90
    out.push('l' + i + ':' + 'é'.repeat(len % 5) + 'x'.repeat(len) + (x % 7 === 0 ? '\r' : ''))
    if (x % 11 === 0) out.push('')
  }
  return out.join('\n') + '\n'
}

/** Read the whole file back, consuming only complete lines in each block. */
async function readByLines(path: string, chunkSize: number): Promise<{ text: string; calls: number }> {
  const parts: Buffer[] = []
  let calls = 0
  await readBlocks(
    path,
    (buf, start, end, eof) => {
      calls++
      const upTo = eof ? end : completeLinesEnd(buf, start, end)
      parts.push(Buffer.from(buf.subarray(start, upTo)))
      return upTo
    },
    { chunkSize },
  )
  return { text: Buffer.concat(parts).toString('utf8'), calls }
}

async function errorOf(p: Promise<unknown>): Promise<PagedictError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(PagedictError)
    return err as PagedictError
  }
  throw new Error('expected an error')
}

describe('readBlocks', () => {
  const text = sampleText(3000)
  const plain = file('sample.txt', text)
  // One read per byte is slow; a shorter file still crosses every kind of boundary.
  const short = sampleText(200)
  const shortPath = file('short.txt', short)

  it.each([1, 2, 7])('reassembles the file exactly with %i-byte chunks', async (chunkSize) => {
    expect((await readByLines(shortPath, chunkSize)).text).toBe(short)
  })

  it.each([100, 4096, 1 << 20])('reassembles the file exactly with %i-byte chunks', async (chunkSize) => {
    expect((await readByLines(plain, chunkSize)).text).toBe(text)
  })

  it('presents every carried tail again in front of the next bytes', async () => {
    // A handler that consumes one byte per call still sees the whole file in order.
    const seen: number[] = []
    await readBlocks(
      file('small.txt', 'abcdefghij'),
      (buf, start, end, eof) => {
        const upTo = eof ? end : Math.min(start + 1, end)
        seen.push(...buf.subarray(start, upTo))
        return upTo
      },
      { chunkSize: 3 },
    )
    expect(Buffer.from(seen).toString()).toBe('abcdefghij')
  })

  it('grows the buffer for a line longer than a chunk, and gives it whole', async () => {
    const long = 'y'.repeat(10_000)
    const { text: back } = await readByLines(file('long.txt', `a\n${long}\nb\n`), 64)
    expect(back).toBe(`a\n${long}\nb\n`)
  })

  it('rescans a long unfinished record a bounded number of times', async () => {
    // 1 MB without a newline in 1 KiB reads: waiting for double the bytes after each
    // fruitless call keeps the calls near log2(1 MB / 1 KiB), not a thousand.
    const { calls } = await readByLines(file('oneline.txt', 'z'.repeat(1_000_000)), 1024)
    expect(calls).toBeLessThan(40)
  })

  it('refuses a line longer than maxCarry with E_INPUT naming file and line', async () => {
    const path = file('toolong.txt', 'ok\nok\n' + 'w'.repeat(5000) + '\n')
    const err = await errorOf(readLines(path, () => {}, { chunkSize: 256, maxCarry: 1000 }))
    expect(err.code).toBe('E_INPUT')
    expect(err.message).toBe(`${path}:3: a line or record is longer than 1000 bytes`)
  })

  it('requires the handler to consume everything at eof', async () => {
    const err = await errorOf(readBlocks(file('eof.txt', 'abc'), (_b, start) => start))
    expect(err.code).toBe('E_INPUT')
  })

  it('recognises gzip by its bytes, not by its name', async () => {
    const gzNamedTxt = file('packed.txt', gzipSync(text))
    const plainNamedGz = file('plain.gz', text)
    for (const path of [gzNamedTxt, plainNamedGz]) {
      for (const chunkSize of [7, 1 << 20]) expect((await readByLines(path, chunkSize)).text).toBe(text)
    }
    const gz = await readBlocks(gzNamedTxt, (_b, _s, end) => end)
    expect(gz).toEqual({ bytes: gzipSync(text).length, gzip: true })
    expect(await readBlocks(plainNamedGz, (_b, _s, end) => end)).toEqual({ bytes: Buffer.byteLength(text), gzip: false })
  })

  it('reads concatenated gzip members as one stream', async () => {
    const path = file('members.gz', Buffer.concat([gzipSync('first\n'), gzipSync('second\n')]))
    expect((await readByLines(path, 3)).text).toBe('first\nsecond\n')
  })

  it('reports bytes read through onBytes: the compressed size for gzip', async () => {
    const packed = gzipSync(text)
    let sum = 0
    await readBlocks(file('count.gz', packed), (_b, _s, end) => end, { onBytes: (n) => (sum += n) })
    expect(sum).toBe(packed.length)
  })

  it('fails on corrupt or truncated gzip with E_INPUT naming the file', async () => {
    const packed = gzipSync(text)
    const truncated = file('truncated.gz', packed.subarray(0, packed.length >> 1))
    const garbled = Buffer.from(packed)
    garbled.fill(0x55, 20, 60)
    const bad = file('garbled.gz', garbled)
    for (const path of [truncated, bad]) {
      const err = await errorOf(readBlocks(path, (_b, _s, end) => end))
      expect(err.code).toBe('E_INPUT')
      expect(err.message).toContain(`${path}: corrupt gzip data`)
    }
  })

  it('fails on a missing file or a directory with E_IO naming the path', async () => {
    const missing = join(dir, 'nope.csv')
    const err = await errorOf(readBlocks(missing, (_b, _s, end) => end))
    expect(err.code).toBe('E_IO')
    expect(err.message).toBe(`${missing}: cannot open: no such file or directory`)
    const isDir = await errorOf(readBlocks(dir, (_b, _s, end) => end))
    expect(isDir.code).toBe('E_IO')
    expect(isDir.message).toContain(dir)
  })

  it('stops when the signal aborts', async () => {
    const ac = new AbortController()
    const p = readBlocks(
      plain,
      (_b, _s, end) => {
        ac.abort()
        return end
      },
      { chunkSize: 100, signal: ac.signal },
    )
    await expect(p).rejects.toThrow()
  })

  it('lets a handler error through unchanged', async () => {
    const boom = new PagedictError('E_INPUT', 'boom')
    await expect(readBlocks(file('gz-err.gz', gzipSync(text)), () => {
      throw boom
    })).rejects.toBe(boom)
  })
})

describe("standard input ('-')", () => {
  /** Run `body` with process.stdin replaced by a stream of `pieces`. */
  async function withStdin<T>(pieces: Buffer[], body: () => Promise<T>): Promise<T> {
    const saved = Object.getOwnPropertyDescriptor(process, 'stdin')!
    Object.defineProperty(process, 'stdin', { configurable: true, get: () => Readable.from(pieces) })
    try {
      return await body()
    } finally {
      Object.defineProperty(process, 'stdin', saved)
    }
  }
  const bytewise = (b: Buffer): Buffer[] => Array.from(b, (x) => Buffer.from([x]))
  const text = sampleText(100)

  it('reads plain and gzip input arriving a byte at a time', async () => {
    for (const data of [Buffer.from(text), gzipSync(text)]) {
      const got: string[] = []
      const r = await withStdin(bytewise(data), () => readLines('-', (buf, s, e) => got.push(buf.toString('utf8', s, e)), { chunkSize: 64 }))
      expect(got.join('\n') + '\n').toBe(text.replace(/\r\n/g, '\n'))
      expect(r).toMatchObject({ bytes: data.length, gzip: data[0] === 0x1f })
    }
  })

  it('handles empty and one-byte input', async () => {
    for (const data of ['', 'x']) {
      const got: string[] = []
      await withStdin(bytewise(Buffer.from(data)), () => readLines('-', (buf, s, e) => got.push(buf.toString('utf8', s, e))))
      expect(got).toEqual(data === '' ? [] : ['x'])
    }
  })
})

describe('readLines', () => {
  it('strips the CR of CRLF, counts blank lines, keeps a last line without newline', async () => {
    for (const chunkSize of [1, 2, 5, 1 << 20]) {
      const got: [string, number][] = []
      const r = await readLines(file('crlf.txt', 'a\r\n\r\nb\rc\n\nlast'), (buf, s, e, line) => got.push([buf.toString('latin1', s, e), line]), { chunkSize })
      expect(got).toEqual([['a', 1], ['', 2], ['b\rc', 3], ['', 4], ['last', 5]])
      expect(r.lines).toBe(5)
    }
  })

  it('skips a UTF-8 byte order mark, even when it arrives one byte at a time', async () => {
    const got: string[] = []
    await readLines(file('bom.txt', '\ufeffkey1\nkey2\n'), (buf, s, e) => got.push(buf.toString('utf8', s, e)), { chunkSize: 1 })
    expect(got).toEqual(['key1', 'key2'])
  })

  it('matches String#split on generated text in gzip and plain form', async () => {
    const text = sampleText(500)
    const want = text.slice(0, -1).split('\n').map((l) => l.replace(/\r$/, ''))
    for (const path of [file('gen.txt', text), file('gen.bin', gzipSync(text))]) {
      const got: string[] = []
      await readLines(path, (buf, s, e) => got.push(buf.toString('utf8', s, e)), { chunkSize: 13 })
      expect(got).toEqual(want)
    }
  })
})

describe('helpers', () => {
  it('inputSize gives the file size, undefined for stdin, E_IO when missing', async () => {
    expect(await inputSize(file('sized.txt', '12345'))).toBe(5)
    expect(await inputSize('-')).toBeUndefined()
    expect((await errorOf(inputSize(join(dir, 'absent')))).code).toBe('E_IO')
  })

  it('bomLength waits for three bytes unless at eof', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf, 0x41])
    expect(bomLength(bom, 0, 4, false)).toBe(3)
    expect(bomLength(bom, 0, 2, false)).toBe(-1)
    expect(bomLength(bom, 0, 2, true)).toBe(0)
    expect(bomLength(Buffer.from('abc'), 0, 3, false)).toBe(0)
    expect(bomLength(bom, 0, 0, false)).toBe(-1)
  })

  it('completeLinesEnd finds the end of the last complete line inside the range', () => {
    const b = Buffer.from('ab\ncd\nef')
    expect(completeLinesEnd(b, 0, 8)).toBe(6)
    expect(completeLinesEnd(b, 0, 5)).toBe(3)
    expect(completeLinesEnd(b, 3, 5)).toBe(3)
    expect(completeLinesEnd(b, 6, 8)).toBe(6)
  })
})
