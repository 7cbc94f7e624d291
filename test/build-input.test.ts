import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fileWriter, tmpDir } from './helpers/tmp.js'
import { tableInput } from '../src/build/input.js'
import type { BuildOptions, InputSummary } from '../src/build/options.js'
import { PagedictError } from '../src/errors.js'
import { CODEC_JSON, CODEC_LIST, CODEC_NONE, CODEC_STRING } from '../src/format/layout.js'
import { decodeValue } from '../src/format/values.js'

const dir = tmpDir('input')
const file = fileWriter(dir)
const fixtures = new URL('../fixtures/', import.meta.url)

interface Got {
  summary: InputSummary
  /** [key, decoded value, input index, line] per record, in order. */
  records: [string, unknown, number, number][]
}

/** Run a table input, decoding each value with the codec the summary reports. */
async function read(opts: Omit<BuildOptions, 'output'>): Promise<Got> {
  const raw: [Buffer, Buffer, number, number][] = []
  const summary = await tableInput({ output: join(dir, 'unused.pdict'), ...opts })((key, ks, ke, value, vs, ve, index, line) => {
    // The buffers are reused after the call: copy, as a real sink does.
    raw.push([Buffer.from(key.subarray(ks, ke)), Buffer.from(value.subarray(vs, ve)), index, line])
  })
  const records = raw.map(([k, v, i, l]): [string, unknown, number, number] => [k.toString('utf8'), decodeValue(summary.codec, v, 0, v.length), i, l])
  return { summary, records }
}

async function failure(opts: Omit<BuildOptions, 'output'>): Promise<PagedictError> {
  const err = await Promise.resolve()
    .then(() => read(opts))
    .then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(PagedictError)
  return err as PagedictError
}

const kv = (g: Got): [string, unknown][] => g.records.map(([k, v]) => [k, v])

describe('csv and tsv', () => {
  it('value rest with one other column gives strings; keys and values are bytes as written', async () => {
    const path = file('two.csv', 'k1,v1\r\n\n"k,2","v ""2"""\nк3,日本\n')
    const g = await read({ input: path })
    expect(g.summary.codec).toBe(CODEC_STRING)
    expect(g.records).toEqual([['k1', 'v1', 0, 1], ['k,2', 'v "2"', 0, 3], ['к3', '日本', 0, 4]])
    expect(g.summary.records).toBe(3)
    expect(g.summary.bytes).toBe(readFileSync(path).length)
  })

  it('value rest with several columns gives lists; later rows may differ in width', async () => {
    const g = await read({ input: file('wide.tsv', 'a\t1\t2\nb\t3\n'), key: 2 })
    expect(g.summary.codec).toBe(CODEC_LIST)
    expect(kv(await read({ input: file('wide2.tsv', 'a\t1\t2\nb\t3\nc\t\t\t\n') }))).toEqual([['a', ['1', '2']], ['b', ['3']], ['c', ['', '', '']]])
    // A record bigger than the 64 KiB list scratch makes it grow mid-record.
    const [x, y] = ['x'.repeat(40000), 'y'.repeat(40000)]
    expect(kv(await read({ input: file('huge.tsv', `a\t1\t2\nk\t${x}\t${y}\n`) }))).toEqual([['a', ['1', '2']], ['k', [x, y]]])
    const err = await failure({ input: file('short.tsv', 'a\t1\t2\nb\n'), key: 2 })
    expect(err.message).toMatch(/short\.tsv:2: row has 1 fields, the key column 2 is missing$/)
  })

  it('under the string codec a row of another width is an error naming file and line', async () => {
    const path = file('ragged.csv', 'a,1\nb,2\nc,3,4\n')
    const err = await failure({ input: path })
    expect(err.code).toBe('E_INPUT')
    expect(err.message.startsWith(`${path}:3: row has 3 fields, but the first row had 2`)).toBe(true)
  })

  it('takes value columns as numbers, lists and ranges, and keys anywhere', async () => {
    const path = file('cols.csv', 'a,b,c,d,e,f,g\n1,2,3,4,5,6,7\n')
    expect(kv(await read({ input: path, value: '3' }))).toEqual([['a', 'c'], ['1', '3']])
    expect(kv(await read({ input: path, key: '7', value: '2,5' }))).toEqual([['g', ['b', 'e']], ['7', ['2', '5']]])
    expect(kv(await read({ input: path, key: 2, value: '3-5,1' }))).toEqual([['b', ['c', 'd', 'e', 'a']], ['2', ['3', '4', '5', '1']]])
    expect((await read({ input: path, value: '4-4' })).summary.codec).toBe(CODEC_STRING)
    const wide = file('repeat.csv', `k,${'v'.repeat(20000)}\n`)
    expect(kv(await read({ input: wide, value: '2,2,2,2' }))).toEqual([['k', Array(4).fill('v'.repeat(20000))]])
    const err = await failure({ input: file('cols-short.csv', 'a,b,c\nx,y\n'), value: '3' })
    expect(err.message).toMatch(/cols-short\.csv:2: row has 2 fields, the value column 3 is missing$/)
  })

  it('value none makes a key set', async () => {
    const g = await read({ input: file('set.csv', 'a,1\nb\n'), value: 'none' })
    expect(g.summary.codec).toBe(CODEC_NONE)
    expect(kv(g)).toEqual([['a', true], ['b', true]])
  })

  it('with a header, names columns by each file own header row', async () => {
    const one = file('h1.csv', 'id,name,city\n1,Ann,Oslo\n')
    const two = file('h2.csv', 'city,id,name\nRome,2,Bob\n')
    const g = await read({ input: [one, two], header: true, key: 'id', value: 'name,city' })
    expect(g.records).toEqual([['1', ['Ann', 'Oslo'], 0, 2], ['2', ['Bob', 'Rome'], 1, 2]])
    expect(kv(await read({ input: [one, two], header: true, key: 1 }))).toEqual([['1', ['Ann', 'Oslo']], ['Rome', ['2', 'Bob']]])
    const err = await failure({ input: one, header: true, key: 'nope' })
    expect(err.code).toBe('E_OPTION')
    expect(err.message).toBe(`${one}:1: the header has no column "nope" (--key); its columns are: id, name, city`)
  })

  it('with a header, the header row picks the codec for value rest', async () => {
    const g = await read({ input: file('hdr.tsv', 'k\tv\n'), header: true })
    expect(g.summary.codec).toBe(CODEC_STRING)
    expect(g.records).toEqual([])
    expect((await read({ input: file('hdr3.tsv', 'k\tv\tw\n'), header: true })).summary.codec).toBe(CODEC_LIST)
  })

  it('honours a custom delimiter and reads gzip by content', async () => {
    const g = await read({ input: file('semi.csv.gz', gzipSync('a;"x;y"\nb;z\n')), delimiter: ';' })
    expect(kv(g)).toEqual([['a', 'x;y'], ['b', 'z']])
    expect(g.summary.describe).toEqual({ inputs: [join(dir, 'semi.csv.gz')], formats: ['csv'], key: 1, value: 'rest', header: false, delimiter: ';' })
  })

  it('reports an unterminated quote with the line the record starts on', async () => {
    const path = file('open.csv', 'a,b\nc,"d\ne,f\n')
    const err = await failure({ input: path })
    expect(err.message).toBe(`${path}:2: unterminated quoted field`)
  })

  it('refuses a key over 1024 bytes with E_KEY_TOO_LONG', async () => {
    const path = file('longkey.csv', `ok,1\n${'k'.repeat(1025)},2\n`)
    const err = await failure({ input: path })
    expect(err.code).toBe('E_KEY_TOO_LONG')
    expect(err.message).toBe(`${path}:2: key is 1025 bytes, the maximum is 1024`)
    expect((await read({ input: file('key1024.csv', `${'k'.repeat(1024)},1\n`) })).records.length).toBe(1)
  })

  it('reads the OpenFlights airports: names by id, quotes and UTF-8 intact', async () => {
    const path = new URL('openflights/airports.dat', fixtures).pathname
    const g = await read({ input: path, format: 'csv', value: '2' })
    expect(g.records.length).toBe(7698)
    const byId = new Map(kv(g) as [string, string][])
    expect(byId.get('332')).toBe('Magdeburg "City" Airport')
    expect(byId.get('12')).toBe('Egilsstaðir Airport')
    const all = await read({ input: path, format: 'csv' })
    expect(all.summary.codec).toBe(CODEC_LIST)
    expect((all.records[0][1] as string[]).length).toBe(13)
  })

  it('reads routes.dat (CRLF) with no CR left in any value', async () => {
    const g = await read({ input: new URL('openflights/routes.dat', fixtures).pathname, format: 'csv', key: 1, value: '9' })
    expect(g.records.length).toBe(67663)
    expect(g.records.every(([, v]) => !(v as string).includes('\r'))).toBe(true)
  })
})

describe('jsonl', () => {
  const path = file('rows.jsonl', '{"id": "a", "user": {"n": 1}, "tags": ["x"]}\n\n  {"id": 7, "user": {"n": 2}}  \r\n')

  it('keys by a field path; value is the whole object, a sub-value, or none', async () => {
    const whole = await read({ input: path, key: 'id' })
    expect(whole.summary.codec).toBe(CODEC_JSON)
    expect(whole.records).toEqual([['a', { id: 'a', user: { n: 1 }, tags: ['x'] }, 0, 1], ['7', { id: 7, user: { n: 2 } }, 0, 3]])
    expect(kv(await read({ input: path, key: 'id', value: 'user.n' }))).toEqual([['a', 1], ['7', 2]])
    expect(kv(await read({ input: path, key: 'user.n', value: 'none' }))).toEqual([['1', true], ['2', true]])
  })

  it('names file and line for bad JSON, a missing key or value, and a bad key type', async () => {
    const bad = file('bad.jsonl', '{"id": "a"}\n{"id": \n')
    expect((await failure({ input: bad, key: 'id' })).message).toMatch(new RegExp(`^${bad}:2: invalid JSON`))
    expect((await failure({ input: path, key: 'nope' })).message).toBe(`${path}:1: the key field nope is missing`)
    expect((await failure({ input: path, key: 'id', value: 'tags' })).message).toBe(`${path}:3: the value field tags is missing`)
    expect((await failure({ input: path, key: 'user' })).message).toBe(`${path}:1: the key field user is an object, expected a string or a number`)
  })

  it('requires --key', async () => {
    const err = await failure({ input: path })
    expect(err.code).toBe('E_OPTION')
    expect(err.option).toBe('key')
  })
})

describe('json and lines', () => {
  it('json: the object own keys, raw value text as JSON, or a key set', async () => {
    const path = file('obj.json', '{\n "a": {"x": [1, 2]},\n "b": "s",\n "c": null\n}\n')
    const g = await read({ input: path })
    expect(g.summary.codec).toBe(CODEC_JSON)
    expect(g.records).toEqual([['a', { x: [1, 2] }, 0, 2], ['b', 's', 0, 3], ['c', null, 0, 4]])
    expect(kv(await read({ input: path, value: 'none' }))).toEqual([['a', true], ['b', true], ['c', true]])
    expect((await failure({ input: path, key: 'a' })).code).toBe('E_OPTION')
    expect((await failure({ input: path, value: 'a' })).code).toBe('E_OPTION')
  })

  it('lines: each non-empty line is a key, CRLF stripped', async () => {
    const g = await read({ input: file('keys.lines', 'one\r\n\r\ntwo\n\nthree') })
    expect(g.summary.codec).toBe(CODEC_NONE)
    expect(g.records).toEqual([['one', true, 0, 1], ['two', true, 0, 3], ['three', true, 0, 5]])
  })

  it('lines: the English word list, every word once', async () => {
    const path = new URL('english-words/words.txt', fixtures).pathname
    const words = readFileSync(path, 'utf8').split(/\r?\n/).filter((w) => w !== '')
    const g = await read({ input: path })
    expect(g.records.map(([k]) => k)).toEqual(words)
  })
})

describe('options and formats', () => {
  it('infers the format per file, looking through .gz, and mixes formats of one codec', async () => {
    const a = file('a.txt', 'x\n')
    const b = file('b.csv.gz', gzipSync('y,1\n'))
    const c = file('c.TSV', 'z\t1\n')
    const g = await read({ input: [a, b, c], value: 'none' })
    expect(g.records).toEqual([['x', true, 0, 1], ['y', true, 1, 1], ['z', true, 2, 1]])
    expect(g.summary.describe).toMatchObject({ formats: ['lines', 'csv', 'tsv'], value: 'none' })
    expect(kv(await read({ input: [b, c] }))).toEqual([['y', '1'], ['z', '1']])
  })

  it('refuses what it cannot do with E_OPTION before reading', () => {
    const bad = (opts: Omit<BuildOptions, 'output'>): PagedictError => {
      try {
        tableInput({ output: 'x', ...opts })
      } catch (err) {
        expect(err).toBeInstanceOf(PagedictError)
        expect((err as PagedictError).code).toBe('E_OPTION')
        return err as PagedictError
      }
      throw new Error('expected E_OPTION')
    }
    expect(bad({ input: 'table.dat' }).message).toContain('pass --format')
    expect(bad({ input: '-' }).message).toContain('pass --format')
    expect(bad({ input: [] }).option).toBe('input')
    expect(bad({ input: ['a.csv', 'b.jsonl'], key: '1' }).option).toBe('format')
    expect(bad({ input: 'a.csv', key: 0 }).option).toBe('key')
    expect(bad({ input: 'a.csv', key: 'name' }).message).toContain('--header')
    expect(bad({ input: 'a.csv', value: '5-3' }).option).toBe('value')
    expect(bad({ input: 'a.csv', delimiter: '::' }).option).toBe('delimiter')
    expect(bad({ input: 'a.csv', delimiter: '"' }).option).toBe('delimiter')
    expect(bad({ input: 'a.txt', header: true }).option).toBe('header')
    expect(bad({ input: 'a.txt', key: 1 }).option).toBe('key')
    expect(bad({ input: 'a.jsonl', key: 'a..b' }).option).toBe('key')
    expect(bad({ input: 'a.csv', format: 'xml' as never }).option).toBe('format')
  })

  it('an empty input is an empty table with a decided codec', async () => {
    const g = await read({ input: file('empty.csv', '') })
    expect(g.summary).toMatchObject({ codec: CODEC_STRING, records: 0, bytes: 0 })
  })

  it('reports progress as bytes read against the total', async () => {
    const path = file('progress.tsv', 'k\tv\n'.repeat(1000))
    const calls: [number, number | undefined, string][] = []
    await tableInput({ input: path, output: 'x', onProgress: (d, t, phase) => calls.push([d, t, phase]) })(() => {})
    expect(calls.at(-1)).toEqual([4000, 4000, 'read'])
  })

  it('reads a file of many blocks: records cross block edges inside tableInput too', async () => {
    const rows = Array.from({ length: 40000 }, (_, i) => `key${i},"v,${i}","q""${i}"\n`).join('')
    const g = await read({ input: file('big.csv', rows) })
    expect(g.records.length).toBe(40000)
    expect(g.summary.codec).toBe(CODEC_LIST)
    g.records.forEach(([k, v, , line], i) => {
      if (k !== `key${i}` || line !== i + 1) throw new Error(`record ${i}: ${k} at line ${line}`)
      expect(v).toEqual([`v,${i}`, `q"${i}`])
    })
  })
})
