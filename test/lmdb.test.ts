import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open as openRaw } from 'lmdb'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RecordSource } from '../src/build/options.js'
import { PagedictError } from '../src/errors.js'
import { CODEC_JSON, CODEC_LIST, CODEC_NONE, CODEC_STRING, MAX_KEY_BYTES, type CodecId } from '../src/format/layout.js'
import { encodeList, encodeValue } from '../src/format/values.js'
import { buildLmdbTable, type LmdbBuildOptions } from '../src/lmdb/build.js'
import { isLmdbFile, openLmdb } from '../src/lmdb/dict.js'
import { deleteKeys, putEntries } from '../src/lmdb/update.js'

type Rec = [key: string | Uint8Array, value: Uint8Array]

/**
 * A RecordSource over records, the way the real readers deliver them: key and value inside
 * larger reused buffers, clobbered after each sink call; input 0, lines from 1.
 */
function sourceOf(codec: CodecId, records: Rec[], opts: { throwAt?: number } = {}): RecordSource {
  return async (sink) => {
    const scratch = Buffer.alloc(64 << 20)
    let line = 0
    for (const [k, v] of records) {
      line++
      if (line === opts.throwAt) throw new Error('source failed midway')
      const key = typeof k === 'string' ? Buffer.from(k, 'utf8') : Buffer.from(k)
      key.copy(scratch, 3)
      Buffer.from(v).copy(scratch, 3 + key.length + 5)
      sink(scratch, 3, 3 + key.length, scratch, 8 + key.length, 8 + key.length + v.length, 0, line)
      scratch.fill(0xee, 0, 16 + key.length + v.length)
      if (line % 100 === 0) await Promise.resolve()
    }
    return { codec, records: records.length, bytes: 0, describe: {} }
  }
}

const str = (s: string) => Buffer.from(s, 'utf8')

let dir: string
let out: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pagedict-lmdb-'))
  out = join(dir, 'table.lmdb')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function build(codec: CodecId, records: Rec[], opts: Partial<LmdbBuildOptions> = {}) {
  return buildLmdbTable(out, sourceOf(codec, records), { onDuplicate: 'error', inputs: ['in.csv'], metadata: { key: 1 }, ...opts })
}

describe('lmdb build and read', () => {
  const cases: [string, CodecId, [string, unknown][]][] = [
    ['string', CODEC_STRING, [['b', 'B'], ['a', ''], ['ünï', 'çödé ✓'], ['zz', 'last']]],
    ['list', CODEC_LIST, [['k1', ['x', 'y']], ['k0', []], ['k2', ['', 'é', 'a,b']]]],
    ['json', CODEC_JSON, [['n', 42], ['o', { a: [1, null, 'x'] }], ['s', 'text'], ['f', false]]],
    ['none', CODEC_NONE, [['m'], ['a'], ['q']].map(([k]) => [k, true] as [string, unknown])],
  ]
  for (const [name, codec, entries] of cases) {
    it(`round-trips the ${name} codec`, async () => {
      const records: Rec[] = entries.map(([k, v]) => [k, codec === CODEC_LIST ? encodeList(v as string[]) : encodeValue(codec, v)])
      const result = await build(codec, records)
      expect(result).toMatchObject({ keys: entries.length, codec })
      const dict = openLmdb(out)
      try {
        expect(dict.backend).toBe('lmdb')
        expect(dict.codec).toBe(name)
        expect(dict.size).toBe(entries.length)
        for (const [k, v] of entries) {
          expect(dict.get(k)).toEqual(v)
          expect(dict.get(str(k))).toEqual(v)
          expect(dict.has(k)).toBe(true)
        }
        expect(dict.get('absent')).toBeUndefined()
        expect(dict.has('absent')).toBe(false)
        expect(dict.getMany([entries[0][0], 'absent'])).toEqual([entries[0][1], undefined])
        const sorted = [...entries].sort(([a], [b]) => Buffer.compare(str(a), str(b)))
        expect([...dict]).toEqual(sorted)
        expect([...dict.keys()]).toEqual(sorted.map(([k]) => k))
        // getBytes is a copy of exactly the encoded bytes, stable across later reads
        const bytes = dict.getBytes(entries[0][0])!
        expect(Buffer.from(bytes)).toEqual(Buffer.from(records[0][1]))
        dict.get(entries[1][0])
        expect(Buffer.from(bytes)).toEqual(Buffer.from(records[0][1]))
        // lookupRange finds key bytes where they lie
        const line = Buffer.concat([str('xx,'), str(entries[0][0]), str(',yy')])
        expect(dict.lookupRange(line, 3, line.length - 3)).toBe(true)
        const loc = dict.lastValue
        expect(Buffer.from(loc.bytes.subarray(loc.start, loc.end))).toEqual(Buffer.from(records[0][1]))
        expect(dict.lookupRange(line, 0, line.length)).toBe(false)
        const info = dict.info()
        expect(info).toMatchObject({ backend: 'lmdb', format_version: 1, keys: entries.length, codec: name, inputs: ['in.csv'], build: { key: 1 } })
        expect(info.bytes).toBe(result.bytes)
        expect(typeof info.build_time).toBe('number')
      } finally {
        dict.close()
      }
      expect(() => dict.get('a')).toThrow(PagedictError)
    })
  }

  it('keeps the empty key, keys below 0x05, long keys and large values', async () => {
    const longKey = 'k'.repeat(MAX_KEY_BYTES)
    const big = Buffer.alloc(8 << 20, 'v')
    await build(CODEC_STRING, [[longKey, str('long')], ['', str('empty')], [new Uint8Array([1, 2]), str('low')], ['big', big]])
    const dict = openLmdb(out)
    try {
      expect(dict.size).toBe(4)
      expect(dict.get(longKey)).toBe('long')
      expect(dict.get(longKey + 'k')).toBeUndefined()
      expect(dict.get('k'.repeat(5000))).toBeUndefined()
      expect(dict.get('')).toBe('empty')
      expect(dict.lookupRange(str('x'), 1, 1)).toBe(true)
      expect(dict.get(new Uint8Array([1, 2]))).toBe('low')
      expect(Buffer.compare(Buffer.from(dict.getBytes('big')!), big)).toBe(0)
      expect([...dict.keys()]).toEqual(['', '\x01\x02', 'big', longKey])
    } finally {
      dict.close()
    }
  })

  it('refuses a key over MAX_KEY_BYTES with E_KEY_TOO_LONG naming the line', async () => {
    await expect(build(CODEC_STRING, [['a', str('1')], ['k'.repeat(MAX_KEY_BYTES + 1), str('2')]])).rejects.toMatchObject({
      code: 'E_KEY_TOO_LONG',
      message: expect.stringMatching(/^in\.csv:2: /),
    })
  })
})

describe('lmdb duplicates', () => {
  const records: Rec[] = [['a', str('1')], ['b', str('2')], ['a', str('3')], ['c', str('4')], ['b', str('5')], ['a', str('6')]]

  it('error: names the first repeat in input order and where the key was first seen', async () => {
    const err = await build(CODEC_STRING, records).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PagedictError)
    expect(err).toMatchObject({ code: 'E_DUPLICATE', path: 'in.csv', line: 3 })
    expect((err as Error).message).toBe('in.csv:3: duplicate key "a" (first at line 1); pass --on-duplicate first or last to keep one')
    expect(readdirSync(dir)).toEqual([])
  })

  it('first and last keep one value per key', async () => {
    await build(CODEC_STRING, records, { onDuplicate: 'first' })
    let dict = openLmdb(out)
    expect([...dict]).toEqual([['a', '1'], ['b', '2'], ['c', '4']])
    dict.close()
    await build(CODEC_STRING, records, { onDuplicate: 'last' })
    dict = openLmdb(out)
    expect([...dict]).toEqual([['a', '6'], ['b', '5'], ['c', '4']])
    expect(dict.size).toBe(3)
    dict.close()
  })

  it('resolves duplicates exactly across spilled runs', async () => {
    // a tiny memory budget spills a sorted run every few records
    const many: Rec[] = []
    for (let i = 0; i < 3000; i++) many.push([`key${i % 1000}`, str(`v${i}`)])
    await build(CODEC_STRING, many, { onDuplicate: 'last', memoryBytes: 4096 })
    let dict = openLmdb(out)
    expect(dict.size).toBe(1000)
    expect(dict.get('key7')).toBe('v2007')
    dict.close()
    await build(CODEC_STRING, many, { onDuplicate: 'first', memoryBytes: 4096 })
    dict = openLmdb(out)
    expect(dict.get('key7')).toBe('v7')
    dict.close()
    await expect(build(CODEC_STRING, many, { memoryBytes: 4096 })).rejects.toMatchObject({ code: 'E_DUPLICATE', line: 1001 })
    expect(readdirSync(dir).sort()).toEqual(['table.lmdb', 'table.lmdb-lock'])
  })
})

describe('lmdb publish', () => {
  it('a failed build leaves the old table byte-identical and no temporary files', async () => {
    await build(CODEC_STRING, [['old', str('value')]])
    const before = readFileSync(out)
    const names = readdirSync(dir).sort()
    const many: Rec[] = Array.from({ length: 500 }, (_, i) => [`k${i}`, str('v')])
    for (const memoryBytes of [undefined, 2048]) {
      const failing = buildLmdbTable(out, sourceOf(CODEC_STRING, many, { throwAt: 400 }), { onDuplicate: 'error', inputs: ['in.csv'], metadata: {}, memoryBytes })
      await expect(failing).rejects.toThrow('source failed midway')
    }
    await expect(build(CODEC_STRING, [['x', str('1')], ['x', str('2')]])).rejects.toMatchObject({ code: 'E_DUPLICATE' })
    expect(readFileSync(out).equals(before)).toBe(true)
    expect(readdirSync(dir).sort()).toEqual(names)
    const dict = openLmdb(out)
    expect(dict.get('old')).toBe('value')
    dict.close()
  })

  it('a reader of the old table keeps working after a rebuild replaces it', async () => {
    await build(CODEC_STRING, [['k', str('built')]])
    // one more commit: the old file's newest meta page now has the other parity than a fresh build's
    putEntries(out, [['k', str('old')]])
    const oldDict = openLmdb(out)
    expect(oldDict.get('k')).toBe('old')
    await build(CODEC_STRING, [['k', str('new')], ['k2', str('x')]])
    const newDict = openLmdb(out)
    expect(newDict.get('k')).toBe('new')
    // next event-loop turn: the old reader starts a fresh read transaction. Had the new file
    // shared the old lock file, LMDB would take the new file's transaction id from it and read
    // the old file's previous meta page ('built').
    await new Promise((r) => setTimeout(r, 5))
    expect(oldDict.get('k')).toBe('old')
    expect(oldDict.size).toBe(1)
    oldDict.close()
    newDict.close()
  })

  it('sniffs LMDB files and refuses other files without crashing', async () => {
    await build(CODEC_STRING, Array.from({ length: 3000 }, (_, i): Rec => [`key${i}`, str('value')]))
    expect(isLmdbFile(readFileSync(out).subarray(0, 64))).toBe(true)
    expect(isLmdbFile(Buffer.from('PAGEDICT\x01\x00\x01\x00'.padEnd(64, '\0'), 'latin1'))).toBe(false)
    expect(isLmdbFile(new Uint8Array(8))).toBe(false)
    const notLmdb = join(dir, 'not.lmdb')
    writeFileSync(notLmdb, Buffer.alloc(16384, 7))
    expect(() => openLmdb(notLmdb)).toThrow(expect.objectContaining({ code: 'E_MAGIC' }))
    expect(existsSync(`${notLmdb}-lock`)).toBe(false)
    const short = join(dir, 'short.lmdb')
    writeFileSync(short, readFileSync(out).subarray(0, 4096))
    expect(() => openLmdb(short)).toThrow(expect.objectContaining({ code: 'E_TRUNCATED' }))
    // meta pages intact, data pages cut off: LMDB itself would die of SIGBUS here
    writeFileSync(short, readFileSync(out).subarray(0, 4 * 4096))
    expect(() => openLmdb(short)).toThrow(expect.objectContaining({ code: 'E_TRUNCATED' }))
    expect(() => openLmdb(join(dir, 'missing', 'x.lmdb'))).toThrow(expect.objectContaining({ code: 'E_IO' }))
    // LMDB 0.9 (data format 1) keeps the magic at byte 16: recognised, and refused by version
    const v1 = Buffer.alloc(16384)
    v1.writeUInt32LE(0xbeefc0de, 16)
    expect(isLmdbFile(v1)).toBe(true)
    writeFileSync(notLmdb, v1)
    expect(() => openLmdb(notLmdb)).toThrow(expect.objectContaining({ code: 'E_VERSION' }))
    // an LMDB environment that pagedict did not write
    const other = join(dir, 'other.lmdb')
    const env = openRaw(other, { noSubdir: true })
    env.openDB('something', { encoding: 'binary', keyEncoding: 'binary' }).putSync(str('k'), str('v'))
    await env.close()
    expect(() => openLmdb(other)).toThrow(expect.objectContaining({ code: 'E_MAGIC', message: expect.stringContaining('not a pagedict table') }))
    expect(existsSync(join(dir, 'missing'))).toBe(false)
  })
})

describe('lmdb updates', () => {
  it('put and delete change the table and its key count', async () => {
    await build(CODEC_STRING, [['a', str('1')], ['b', str('2')]])
    expect(putEntries(out, [['c', str('3')], ['a', str('1')], [str('b'), str('22')], ['', str('e')]])).toBe(3)
    expect(deleteKeys(out, ['a', 'missing', ''])).toBe(2)
    const dict = openLmdb(out)
    try {
      expect([...dict]).toEqual([['b', '22'], ['c', '3']])
      expect(dict.size).toBe(2)
      expect(dict.info()).toMatchObject({ keys: 2, update_time: expect.any(Number) })
      // lmdb-js shares one environment per file in a process, and this one is read-only
      expect(() => putEntries(out, [['d', str('4')]])).toThrow(expect.objectContaining({ code: 'E_READONLY' }))
    } finally {
      dict.close()
    }
  })

  it('refuses values that do not fit the codec, and keys over the limit, changing nothing', async () => {
    await build(CODEC_LIST, [['a', encodeList(['x'])]])
    const before = readFileSync(out)
    expect(() => putEntries(out, [['b', encodeList(['y'])], ['c', str('\xff\xff\xff\xff\xff')]])).toThrow(expect.objectContaining({ code: 'E_INPUT' }))
    expect(() => putEntries(out, [['k'.repeat(MAX_KEY_BYTES + 1), encodeList([])]])).toThrow(expect.objectContaining({ code: 'E_KEY_TOO_LONG' }))
    const dict = openLmdb(out)
    expect([...dict]).toEqual([['a', ['x']]])
    dict.close()
    expect(readFileSync(out).length).toBe(before.length)
  })

  it('a put lands while another process has the table open for reading', async () => {
    const keys: Rec[] = Array.from({ length: 2000 }, (_, i) => [`k${String(i).padStart(5, '0')}`, str(`v${i}`)])
    await build(CODEC_STRING, keys)
    const child = spawn(process.execPath, ['--input-type=module', '-e', READER_SCRIPT, out], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'pipe'] })
    const lines: string[] = []
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const nextLine = () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const take = () => {
          const i = lines.findIndex((l) => l.length > 0)
          if (i >= 0) return resolve(JSON.parse(lines.splice(i, 1)[0]) as Record<string, unknown>)
          child.stdout.once('data', (d: Buffer) => {
            lines.push(...d.toString().split('\n'))
            take()
          })
        }
        child.once('exit', (code) => reject(new Error(`reader exited with ${code}: ${stderr}`)))
        take()
      })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(await nextLine()).toEqual({ phase: 'open', k00001: 'v1', added: null, first: 'k00000' })
    // grow the table well past its old size while the reader holds a snapshot iterator
    const added: Rec[] = Array.from({ length: 20000 }, (_, i) => [`new${i}`, Buffer.alloc(200, 'n')])
    expect(putEntries(out, [['k00001', str('changed')], ...added])).toBe(20001)
    child.stdin.write('go\n')
    expect(await nextLine()).toEqual({ phase: 'after', k00001: 'changed', added: 'n'.repeat(200), snapshotCount: 2000, count: 22000 })
    expect(await exited).toBe(0)
    const dict = openLmdb(out)
    expect(dict.size).toBe(22000)
    expect(dict.info().keys).toBe(22000)
    dict.close()
  })
})

/** A reader in another process, talking to lmdb-js directly: reads, waits, reads again. */
const READER_SCRIPT = `
import { open } from 'lmdb'
const env = open(process.argv[1], { noSubdir: true, readOnly: true, maxReaders: 1024 })
const db = env.openDB('__pagedict_data__', { keyEncoding: 'binary', encoding: 'binary', create: false })
const get = (k) => { const v = db.getBinary(Buffer.from(k)); return v === undefined ? null : Buffer.from(v).toString() }
const snapshot = db.getRange({ start: Buffer.from([0]) })[Symbol.iterator]()
const first = Buffer.from(snapshot.next().value.key).toString()
console.log(JSON.stringify({ phase: 'open', k00001: get('k00001'), added: get('new7'), first }))
process.stdin.once('data', () => setTimeout(() => {
  let snapshotCount = 1
  while (!snapshot.next().done) snapshotCount++
  const count = db.getCount({ start: Buffer.from([0]) })
  console.log(JSON.stringify({ phase: 'after', k00001: get('k00001'), added: get('new7'), snapshotCount, count }))
  env.close()
  process.exit(0)
}, 20))
`
