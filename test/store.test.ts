/**
 * The store end to end through the library: random tables built and compared, lookup by
 * lookup and in full iteration, with a Map; the same through the bounded-memory path that
 * spills partitions and splits shards.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { buildPageFile } from '../src/build/pagefile.js'
import type { RecordSource } from '../src/build/options.js'
import { PagedictError } from '../src/errors.js'
import { CODEC_STRING, MAX_KEY_BYTES } from '../src/format/layout.js'
import { open } from '../src/read/open.js'
import { verify } from '../src/read/verify.js'
import { randomString, rng } from './helpers/random.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('store')
const BACKENDS = ['pagefile', 'lmdb'] as const

type Entry = [string, unknown]

function randomEntries(seed: number, count: number, value: (next: () => number, i: number) => unknown): Entry[] {
  const next = rng(seed)
  const seen = new Set<string>()
  const out: Entry[] = []
  for (let i = 0; out.length < count; i++) {
    const shape = next()
    const len = shape < 0.01 ? 300 + Math.floor(next() * 40) : shape < 0.02 ? 0 : 1 + Math.floor(next() * 24)
    let key = randomString(next, len)
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) key = key.slice(0, 200)
    if (seen.has(key)) continue
    seen.add(key)
    out.push([key, value(next, i)])
  }
  return out
}

/** Check every lookup path and the full iteration against the Map the table was built from. */
function expectSameAs(file: string, expected: Map<string, unknown>, misses: string[]): void {
  const dict = open(file)
  try {
    expect(dict.size).toBe(expected.size)
    const keys = [...expected.keys()]
    for (const k of keys) {
      expect(dict.get(k)).toEqual(expected.get(k))
      expect(dict.has(k)).toBe(true)
      expect(dict.get(Buffer.from(k, 'utf8'))).toEqual(expected.get(k))
    }
    expect(dict.getMany(keys)).toEqual(keys.map((k) => expected.get(k)))
    for (const k of misses) {
      if (expected.has(k)) continue
      expect(dict.get(k)).toBeUndefined()
      expect(dict.has(k)).toBe(false)
      expect(dict.getBytes(k)).toBeUndefined()
    }
    const iterated = new Map<string, unknown>()
    for (const [k, v] of dict) {
      expect(iterated.has(k)).toBe(false)
      iterated.set(k, v)
    }
    expect(iterated).toEqual(expected)
  } finally {
    dict.close()
  }
}

describe.each(BACKENDS)('store on %s', (backend) => {
  it('round-trips random unicode string tables, the empty key and long keys', async () => {
    const entries = randomEntries(1, 3000, (next) => randomString(next, Math.floor(next() * 30))).filter(([k]) => k !== '')
    entries.push(['', 'the empty key'], ['k'.repeat(MAX_KEY_BYTES), 'the longest key'])
    const file = path.join(dir, `strings.${backend}`)
    await build(entries, file, { backend })
    expectSameAs(file, new Map(entries), randomEntries(2, 500, () => '').map(([k]) => k + '\u0001'))
    expect(verify(file).ok).toBe(true)
  })

  it('keeps values larger than a page, lists and JSON values', async () => {
    const big = randomEntries(3, 300, (next, i) => (i % 10 === 0 ? 'x'.repeat(5000 + Math.floor(next() * 20000)) : randomString(next, 5)))
    const fileBig = path.join(dir, `big.${backend}`)
    await build(big, fileBig, { backend })
    expectSameAs(fileBig, new Map(big), ['nope'])
    const lists = randomEntries(4, 500, (next) => Array.from({ length: Math.floor(next() * 5) }, () => randomString(next, 4)))
    const fileLists = path.join(dir, `lists.${backend}`)
    await build(lists, fileLists, { backend })
    expectSameAs(fileLists, new Map(lists), ['nope'])
    const json = randomEntries(5, 500, (next, i) => (i % 3 === 0 ? { n: next(), s: randomString(next, 3), a: [1, null, true] } : i % 3 === 1 ? 42 : null))
    const fileJson = path.join(dir, `json.${backend}`)
    await build(json, fileJson, { backend })
    expectSameAs(fileJson, new Map(json), ['nope'])
    const bytes = open(fileBig)
    const v = bytes.getBytes(big[0][0])!
    expect(Buffer.from(v).toString('utf8')).toBe(big[0][1])
    bytes.close()
  })

  it('builds a key set: get gives true, has works, missing keys are undefined', async () => {
    const words = randomEntries(6, 2000, () => undefined)
    const file = path.join(dir, `set.${backend}`)
    await build(words, file, { backend })
    const dict = open(file)
    expect(dict.codec).toBe('none')
    for (const [k] of words) expect(dict.get(k)).toBe(true)
    expect(dict.has('definitely not a word \u0002')).toBe(false)
    dict.close()
  })

  it.each(['first', 'last'] as const)('keeps the %s of duplicate keys', async (policy) => {
    const entries: Entry[] = []
    const expected = new Map<string, unknown>()
    const next = rng(7)
    for (let i = 0; i < 5000; i++) {
      const key = `k${Math.floor(next() * 1500)}`
      entries.push([key, `v${i}`])
      if (policy === 'last' || !expected.has(key)) expected.set(key, `v${i}`)
    }
    const file = path.join(dir, `dup-${policy}.${backend}`)
    await build(entries, file, { backend, onDuplicate: policy })
    expectSameAs(file, expected, [])
  })

  it('refuses duplicate keys by default, naming the line, and writes nothing', async () => {
    const file = path.join(dir, `dup-error.${backend}`)
    const err = await build([['a', '1'], ['b', '2'], ['a', '3']], file, { backend }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PagedictError)
    expect((err as PagedictError).code).toBe('E_DUPLICATE')
    expect((err as PagedictError).message).toMatch(/entries:3: duplicate key "a"/)
    expect(fs.existsSync(file)).toBe(false)
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(`.dup-error.${backend}`))).toEqual([])
  })

  it('makes an empty table from no entries', async () => {
    const file = path.join(dir, `empty.${backend}`)
    await build([], file, { backend })
    const dict = open(file)
    expect(dict.size).toBe(0)
    expect(dict.get('x')).toBeUndefined()
    expect([...dict]).toEqual([])
    dict.close()
    expect(verify(file).ok).toBe(true)
  })
})

describe('page file in bounded memory', () => {
  it('spills partitions, re-splits oversized ones, and splits shards, with the same answers', async () => {
    // ~330k records, ~17 MB of record bytes: with 32 MiB the builder's budget is 8 MiB,
    // so pass 1 spills, partitions are loaded a few MiB at a time, and 1 MiB shards split.
    const next = rng(11)
    const entries: [string, string][] = []
    for (let i = 0; i < 330_000; i++) entries.push([`key-${i}-${Math.floor(next() * 1e9)}`, randomString(next, 10 + Math.floor(next() * 30))])
    const source: RecordSource = async (sink) => {
      let line = 0
      for (const [k, v] of entries) {
        const kb = Buffer.from(k)
        const vb = Buffer.from(v)
        sink(kb, 0, kb.length, vb, 0, vb.length, 0, ++line)
      }
      return { codec: CODEC_STRING, records: line, bytes: 0, describe: {} }
    }
    const file = path.join(dir, 'bounded.pdict')
    // expectedBytes 0 = unknown size: the builder starts with a guess and must re-split.
    const report = await buildPageFile(source, file, { inputs: ['gen'], onDuplicate: 'error', memoryMiB: 32, expectedBytes: 0, shardBytes: 1 << 20, metadata: {} })
    expect(report.shards).toBeGreaterThan(5)
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.pdshard') && n.startsWith('bounded.pdict')).length).toBe(report.shards)
    const sample = new Map(entries.filter((_, i) => i % 7 === 0))
    const dict = open(file)
    expect(dict.size).toBe(entries.length)
    for (const [k, v] of sample) expect(dict.get(k)).toBe(v)
    expect(dict.get('key-missing')).toBeUndefined()
    let n = 0
    for (const _ of dict.keys()) n++
    expect(n).toBe(entries.length)
    dict.close()
    expect(verify(file).ok).toBe(true)
    // A rebuild publishes new shards and unlinks the old ones.
    const before = fs.readdirSync(dir).filter((n) => n.endsWith('.pdshard'))
    await buildPageFile(source, file, { inputs: ['gen'], onDuplicate: 'error', memoryMiB: 32, expectedBytes: 0, shardBytes: 1 << 20, metadata: {} })
    const after = fs.readdirSync(dir).filter((n) => n.endsWith('.pdshard'))
    expect(after.some((n) => before.includes(n))).toBe(false)
  })
})

describe('hash flooding', () => {
  it('reseeds when keys crafted for the seed pile onto one page, and lookups stay bounded', async () => {
    // Keys whose high hash half under seed 7 is in the lowest 1/1024 of its range all have
    // bucket 0 in any table of up to 1024 buckets: ~12,000 of them need ~45 pages of spill.
    const seed = 7
    const { pdhash64 } = await import('../src/format/hash.js')
    const crafted: [string, string][] = []
    const key = Buffer.alloc(16)
    for (let i = 0; crafted.length < 12_000; i++) {
      const len = key.write(`h${i}`, 'latin1')
      if (pdhash64(key, 0, len, seed % 2 ** 32, 0) < 2 ** 32 / 1024) crafted.push([key.toString('latin1', 0, len), 'v'])
    }
    const file = path.join(dir, 'flood.pdict')
    const report = await build(crafted, file, { seed })
    expect(report.reseeds).toBeGreaterThanOrEqual(1)
    const dict = open(file)
    expect(dict.info().max_spill as number).toBeLessThanOrEqual(4)
    for (const [k] of crafted) expect(dict.has(k)).toBe(true)
    dict.close()
    expect(verify(file).ok).toBe(true)
  })
})
