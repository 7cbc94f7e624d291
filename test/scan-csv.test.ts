import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fileWriter, tmpDir } from './helpers/tmp.js'
import { PagedictError } from '../src/errors.js'
import { readBlocks } from '../src/scan/chunks.js'
import { COMMA, escapedFieldMaxBytes, escapeField, NEED_MORE, readRecords, RecordSplitter, TAB, UNTERMINATED } from '../src/scan/csv.js'

const dir = tmpDir('csv')
const file = fileWriter(dir)
const fixtures = new URL('../fixtures/openflights/', import.meta.url)

interface Row {
  line: number
  fields: string[]
}

/** Every record of a file through readRecords, fields decoded as UTF-8. */
async function parse(path: string, opts: { delimiter?: number; quoting?: boolean; chunkSize?: number; maxFields?: number } = {}): Promise<Row[]> {
  const rows: Row[] = []
  const splitter = new RecordSplitter({ delimiter: opts.delimiter ?? COMMA, quoting: opts.quoting ?? true, maxFields: opts.maxFields })
  await readRecords(
    path,
    splitter,
    (sp) => {
      const fields: string[] = []
      for (let i = 0; i < sp.count; i++) fields.push(Buffer.from(sp.bytes.subarray(sp.starts[i], sp.ends[i])).toString('utf8'))
      rows.push({ line: sp.line, fields })
    },
    { chunkSize: opts.chunkSize },
  )
  return rows
}

/**
 * An independent RFC 4180 reader over a string, written for clarity: a quote opens a quoted
 * field only at the start of a field; a CR right before LF outside quotes is dropped.
 */
function reference(text: string): Row[] {
  const rows: Row[] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let started = false
  let lastPlain = false
  let line = 1
  let rowLine = 1
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (!started) {
      started = true
      rowLine = line
    }
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
      if (c === '\n') line++
      lastPlain = false
      continue
    }
    if (c === '"' && field === '' && !lastPlain) {
      quoted = true
    } else if (c === ',') {
      row.push(field)
      field = ''
      lastPlain = false
    } else if (c === '\n') {
      line++
      if (lastPlain && field.endsWith('\r')) field = field.slice(0, -1)
      row.push(field)
      rows.push({ line: rowLine, fields: row })
      row = []
      field = ''
      started = false
      lastPlain = false
    } else {
      field += c
      lastPlain = true
    }
  }
  if (started) {
    if (lastPlain && field.endsWith('\r')) field = field.slice(0, -1)
    row.push(field)
    rows.push({ line: rowLine, fields: row })
  }
  return rows
}

/** Deterministic rows whose fields hold every troublesome byte. */
function generatedRows(n: number): string[][] {
  const pieces = ['a', 'bc', ',', '"', '""', '\n', '\r\n', '\r', ' ', 'é', '日本', '\t', '', 'x,y', 'end"']
  let x = 12345
  const next = (m: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    return x % m
  }
  const rows: string[][] = []
  for (let r = 0; r < n; r++) {
    const row: string[] = []
    const width = 1 + next(6)
    for (let f = 0; f < width; f++) {
      let s = ''
      for (let k = next(4); k > 0; k--) s += pieces[next(pieces.length)]
      row.push(s)
    }
    // A lone empty field would be a blank line; give it content.
    if (row.length === 1 && row[0] === '') row[0] = 'solo'
    rows.push(row)
  }
  return rows
}

/** The test's own writer: quote a field only when it needs it. */
function writeCsv(rows: string[][], eol = '\n'): string {
  const q = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
  return rows.map((r) => r.map(q).join(',') + eol).join('')
}

describe('RecordSplitter through readRecords', () => {
  it('splits plain, quoted and CRLF records', async () => {
    const path = file('basic.csv', 'a,b,c\r\n"x,1","say ""hi""",\n\n"multi\nline",z\r\nlast,"q\r"\r\nno-newline')
    expect(await parse(path)).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['x,1', 'say "hi"', ''] },
      { line: 3, fields: [''] },
      { line: 4, fields: ['multi\nline', 'z'] },
      { line: 6, fields: ['last', 'q\r'] },
      { line: 7, fields: ['no-newline'] },
    ])
  })

  it('is lenient where RFC 4180 is silent: stray quotes stay bytes', async () => {
    const rows = await parse(file('lenient.csv', 'ab"c,"d"e,f\n'))
    expect(rows[0].fields).toEqual(['ab"c', 'de', 'f'])
  })

  it('treats quotes as data in TSV and honours a custom delimiter', async () => {
    expect((await parse(file('q.tsv', '"a\tb"\t"c\n'), { delimiter: TAB, quoting: false }))[0].fields).toEqual(['"a', 'b"', '"c'])
    expect((await parse(file('semi.csv', 'a;"b;c";d\n'), { delimiter: 0x3b }))[0].fields).toEqual(['a', 'b;c', 'd'])
  })

  it('matches the reference reader on generated data at every chunk size', async () => {
    const text = writeCsv(generatedRows(400))
    const path = file('gen.csv', text)
    const want = reference(text)
    for (const chunkSize of [1, 2, 7, 64, 1 << 20]) expect(await parse(path, { chunkSize })).toEqual(want)
    // CRLF line ends and gzip give the same records.
    const crlf = writeCsv(generatedRows(400), '\r\n')
    expect(await parse(file('gen-crlf.bin', gzipSync(crlf)), { chunkSize: 7 })).toEqual(reference(crlf))
  })

  it('reads airports.dat exactly like the reference reader (quoted commas, \\N, UTF-8)', async () => {
    const text = readFileSync(new URL('airports.dat', fixtures), 'utf8')
    const want = reference(text)
    const got = await parse(new URL('airports.dat', fixtures).pathname)
    expect(got.length).toBe(7698)
    expect(got).toEqual(want)
    expect(got.every((r) => r.fields.length === 14)).toBe(true)
    expect(got.find((r) => r.fields[0] === '332')?.fields[1]).toBe('Magdeburg "City" Airport')
    expect(got.some((r) => r.fields.includes('\\N'))).toBe(true)
  })

  it('reads routes.dat (CRLF) with no CR in any field', async () => {
    const path = new URL('routes.dat', fixtures).pathname
    const text = readFileSync(path, 'latin1')
    const want = text.split('\r\n').filter((l) => l !== '').map((l) => l.split(','))
    for (const chunkSize of [1000, 1 << 20]) {
      const got = await parse(path, { chunkSize })
      expect(got.map((r) => r.fields)).toEqual(want)
      expect(got.at(-1)?.line).toBe(67663)
    }
  })

  it('fails on an unterminated quote with the line where the record starts', async () => {
    const path = file('open.csv', 'a,b\nc,"d\ne\n')
    for (const chunkSize of [1, 1 << 20]) {
      const err = await parse(path, { chunkSize }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PagedictError)
      expect((err as PagedictError).code).toBe('E_INPUT')
      expect((err as PagedictError).message).toBe(`${path}:2: unterminated quoted field`)
    }
  })

  it('records only maxFields fields but still finds each record end', async () => {
    const path = file('max.csv', 'a,b,c\n"k",v,"w\nx"\nlong-first-field-here,second-field-here,third\nsolo\n')
    for (const chunkSize of [3, 1 << 20]) {
      expect(await parse(path, { maxFields: 2, chunkSize })).toEqual([
        { line: 1, fields: ['a', 'b'] },
        { line: 2, fields: ['k', 'v'] },
        { line: 4, fields: ['long-first-field-here', 'second-field-here'] },
        { line: 5, fields: ['solo'] },
      ])
    }
  })

  it('keeps short-field and long-field rows right as the fast loop switches strategy', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? ['1', '2', '3', '4', '5', '6', '7'] : [`key-${'k'.repeat(i % 50)}`, 'v'.repeat(i % 70)]))
    const text = writeCsv(rows)
    expect((await parse(file('mixed.csv', text), { chunkSize: 100 })).map((r) => r.fields)).toEqual(rows)
  })
})

describe('RecordSplitter.split (one record, byte loop)', () => {
  it('agrees with splitBlock record by record', async () => {
    const text = writeCsv(generatedRows(300))
    const fromSplit: string[][] = []
    const sp = new RecordSplitter({ delimiter: COMMA, quoting: true })
    await readBlocks(
      file('split.csv', text),
      (buf, start, end, eof) => {
        let pos = start
        while (pos < end) {
          const next = sp.split(buf, pos, end, eof)
          if (next === NEED_MORE) break
          expect(next).toBeGreaterThan(pos)
          fromSplit.push(Array.from({ length: sp.count }, (_, i) => Buffer.from(sp.bytes.subarray(sp.starts[i], sp.ends[i])).toString()))
          pos = next
        }
        return pos
      },
      { chunkSize: 5 },
    )
    expect(fromSplit).toEqual(reference(text).map((r) => r.fields))
  })

  it('returns NEED_MORE for an incomplete record and UNTERMINATED at eof in quotes', () => {
    const sp = new RecordSplitter({ delimiter: COMMA, quoting: true })
    const b = Buffer.from('a,"b\nc')
    expect(sp.split(b, 0, b.length, false)).toBe(NEED_MORE)
    expect(sp.split(b, 0, b.length, true)).toBe(UNTERMINATED)
    // A quote at the very end of the block may be half of a doubled quote.
    const c = Buffer.from('"ab"')
    expect(sp.split(c, 0, c.length, false)).toBe(NEED_MORE)
    expect(sp.split(c, 0, c.length, true)).toBe(c.length)
    expect(sp.unescaped).toBe(true)
  })
})

describe('escapeField', () => {
  const esc = (s: string, delimiter = COMMA): string => {
    const src = Buffer.from(s)
    const out = Buffer.alloc(escapedFieldMaxBytes(src.length))
    return out.toString('utf8', 0, escapeField(src, 0, src.length, delimiter, out, 0))
  }

  it('quotes only when the field needs it', () => {
    expect(esc('plain é')).toBe('plain é')
    expect(esc('')).toBe('')
    expect(esc('a,b')).toBe('"a,b"')
    expect(esc('say "hi"')).toBe('"say ""hi"""')
    expect(esc('cr\r')).toBe('"cr\r"')
    expect(esc('two\nlines')).toBe('"two\nlines"')
    expect(esc('a,b', 0x3b)).toBe('a,b')
    expect(esc('a;b', 0x3b)).toBe('"a;b"')
  })

  it('round-trips through the splitter', async () => {
    const rows = generatedRows(200)
    const text = rows.map((r) => r.map((f) => esc(f)).join(',') + '\n').join('')
    expect((await parse(file('roundtrip.csv', text))).map((r) => r.fields)).toEqual(rows)
  })
})
