/**
 * The batched lookups (src/read/batch.ts) must answer exactly what one-at-a-time lookups
 * answer: getMany against get on a table of several shards, and the run scanner's batched
 * path against the same scan through a dictionary that hides lookupBatch (so it takes the
 * one-at-a-time path), handler calls, order and value bytes included. Both batch paths are
 * checked: the native one (native/lookup.c) and, with PAGEDICT_NATIVE=0, the JavaScript one.
 */
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { BATCH_KEYS, KeyBatch } from '../src/read/batch.js'
import type { Dict } from '../src/read/dict.js'
import { randomString, rng } from './helpers/random.js'
import { buildSharded } from './helpers/sharded.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('batch')
const next = rng(2026)
const entries: [string, string][] = []
const seen = new Set<string>()
while (entries.length < 6000) {
  const key = next() < 0.8 ? `k${Math.floor(next() * 1e9).toString(36)}` : randomString(next, 1 + Math.floor(next() * 12))
  if (key.includes('\n') || seen.has(key)) continue
  seen.add(key)
  // A few values past the inline limit live in the shards' value areas.
  entries.push([key, randomString(next, next() < 0.03 ? 1100 + Math.floor(next() * 2000) : Math.floor(next() * 30))])
}

/** A table of several shard files (small shards), so lookups cross shards within a batch. */
async function shardedTable(): Promise<string> {
  const file = path.join(dir, `sharded-${next().toString(36).slice(2, 8)}.pdict`)
  await buildSharded(entries, file, 9, 1 << 16)
  return file
}

/** The same dictionary without lookupBatch: the scanner then looks up one record at a time. */
function oneAtATime(dict: Dict): Dict {
  return new Proxy(dict, { get: (target, prop) => (prop === 'lookupBatch' ? undefined : Reflect.get(target, prop, target)) })
}

/** The reader and the scanner, imported afresh with the native batch on or off. */
async function modules(useNative: boolean) {
  vi.resetModules()
  vi.stubEnv('PAGEDICT_NATIVE', useNative ? '1' : '0')
  try {
    const [{ build }, { open }, { scanFile }, { native }] = await Promise.all([
      import('../src/build/index.js'),
      import('../src/read/open.js'),
      import('../src/run/scan.js'),
      import('../src/read/native.js'),
    ])
    return { build, open, scanFile, native }
  } finally {
    vi.unstubAllEnvs()
  }
}

describe.each([
  ['native', true],
  ['JavaScript', false],
])('batched lookups (%s) answer like single ones', (_name, useNative) => {
  let m: Awaited<ReturnType<typeof modules>>
  beforeAll(async () => {
    m = await modules(useNative)
  })

  it(useNative ? 'uses the native addon, which npm install builds' : 'runs without the native addon', () => {
    if (useNative) expect(m.native, 'build/Release/pagedict.node: run `npm run build:native`').toBeDefined()
    else expect(m.native).toBeUndefined()
  })

  it('getMany on a table of several shards: present, absent, non-ASCII, byte and over-long keys', async () => {
    const dict = m.open(await shardedTable())
    try {
      expect(dict.info().shards).toBeGreaterThan(2)
      const keys: (string | Uint8Array)[] = []
      for (let i = 0; i < 3 * BATCH_KEYS + 17; i++) {
        const r = next()
        const [k] = entries[Math.floor(next() * entries.length)]
        if (r < 0.5) keys.push(k)
        else if (r < 0.65) keys.push(Buffer.from(k, 'utf8'))
        else if (r < 0.9) keys.push(`${k}-absent`)
        else keys.push('x'.repeat(1025 + Math.floor(next() * 10)))
      }
      const want = keys.map((k) => dict.get(k))
      expect(want.filter((v) => v !== undefined).length).toBeGreaterThan(BATCH_KEYS)
      expect(dict.getMany(keys)).toEqual(want)
      expect(dict.getMany([])).toEqual([])
    } finally {
      dict.close()
    }
  })

  it('a KeyBatch stores an over-long key as no key, and grows for long ones', () => {
    const b = new KeyBatch()
    const long = Buffer.alloc(1000, 0x61)
    for (let i = 0; i < 40; i++) b.add(long, 0, long.length)
    expect(b.count).toBe(40)
    expect(b.len[39]).toBe(1000)
    expect(Buffer.from(b.bytes.subarray(b.start[39], b.start[39] + 1000)).equals(long)).toBe(true)
    const tooLong = Buffer.alloc(1025)
    expect(b.len[b.add(tooLong, 0, tooLong.length)]).toBe(-1)
    // Strings are encoded as UTF-8 and measured in bytes: 341 × 3 bytes fit, 600 × 2 do not.
    const fits = b.addString('日'.repeat(341))
    expect(b.len[fits]).toBe(1023)
    expect(Buffer.from(b.bytes.subarray(b.start[fits], b.start[fits] + 1023)).toString('utf8')).toBe('日'.repeat(341))
    expect(b.len[b.addString('é'.repeat(600))]).toBe(-1)
    expect(b.len[b.addString('x'.repeat(1025))]).toBe(-1)
    b.clear()
    expect(b.count).toBe(0)
  })

  it('the run scanner gives the same records, found flags and values batched or not', async () => {
    const table = path.join(dir, `table-${_name}.pdict`)
    await m.build(entries, table, { seed: 3 })
    // CSV with the key in column 2: quoted keys (commas, quotes, newlines inside), records
    // without a second column, blank lines, CRLF and LF, over several batches and blocks.
    const lines: string[] = []
    for (let i = 0; i < 5 * BATCH_KEYS + 3; i++) {
      const r = next()
      const [k] = entries[Math.floor(next() * entries.length)]
      const key = r < 0.5 ? k : r < 0.7 ? `${k}?` : k
      const quoted = /[",\r\n]/.test(key) || next() < 0.1 ? `"${key.replaceAll('"', '""')}"` : key
      if (r > 0.97) lines.push('only-one-field')
      else if (r > 0.95) lines.push('')
      else lines.push(`${i},${quoted},tail ${i}`)
    }
    const file = path.join(dir, `data-${_name}.csv`)
    fs.writeFileSync(file, lines.map((l, i) => l + (i % 3 === 0 ? '\r\n' : '\n')).join(''))
    const dict = m.open(table)
    try {
      const seenBy = async (d: Dict): Promise<[boolean, string, string | null][]> => {
        const out: [boolean, string, string | null][] = []
        const stats = await m.scanFile(d, file, { key: 2 }, (found, buf, start, end) => {
          const v = d.lastValue
          out.push([found, buf.toString('utf8', start, end), found ? Buffer.from(v.bytes.subarray(v.start, v.end)).toString('utf8') : null])
        })
        expect(stats.lines).toBe(out.length)
        expect(stats.matched).toBe(out.filter((r) => r[0]).length)
        return out
      }
      expect(typeof dict.lookupBatch).toBe('function')
      const batched = await seenBy(dict)
      const single = await seenBy(oneAtATime(dict))
      expect(batched.filter((r) => r[0]).length).toBeGreaterThan(BATCH_KEYS)
      expect(batched).toEqual(single)
    } finally {
      dict.close()
    }
  })
})
