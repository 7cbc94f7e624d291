/**
 * The native batch lookup (native/lookup.c) on its own terms: its hash is pdhash64, it
 * refuses arguments that would make it read outside its buffers, and a damaged page gives
 * getMany the same E_CORRUPT error as get. batch.test.ts checks its answers against the
 * JavaScript reader's; the corruption fuzzer (reliability-corruption.test.ts) runs getMany
 * over damaged tables.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { pdhash64, hashLow } from '../src/format/hash.js'
import { PAGE_SIZE } from '../src/format/layout.js'
import { KeyBatch } from '../src/read/batch.js'
import { native } from '../src/read/native.js'
import { open } from '../src/read/open.js'
import type { PageFileDict } from '../src/read/pagefile.js'
import { rng } from './helpers/random.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('native')
const addon = native!

describe('native batch lookup', () => {
  it('is built (npm install runs node-gyp)', () => {
    expect(native, 'build/Release/pagedict.node: run `npm run build:native`').toBeDefined()
  })

  it('hashes like pdhash64 for every length and seed', () => {
    const next = rng(7)
    const out = new Uint32Array(2)
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.alloc(i % 70)
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(next() * 256)
      const seedLow = Math.floor(next() * 2 ** 32)
      const seedHigh = Math.floor(next() * 2 ** 32)
      addon.hash(bytes, seedLow, seedHigh, out)
      expect([out[0], out[1]]).toEqual([pdhash64(bytes, 0, bytes.length, seedLow, seedHigh), hashLow])
    }
  })

  it('refuses shards whose pages lie outside their mapping, and keys outside the key buffer', async () => {
    const layout = new Int32Array(11).fill(1)
    layout[0] = PAGE_SIZE
    layout[6] = 12
    // one page claimed beyond a one-page buffer whose data starts at 0: two pages
    expect(() => addon.attach([Buffer.alloc(PAGE_SIZE)], Float64Array.from([0, 2, 0, 0, 0, 0]), 1, 0, 0, layout)).toThrow(/outside its mapping/)
    expect(() => addon.attach([Buffer.alloc(PAGE_SIZE)], Float64Array.from([0, 1, 0, 0, PAGE_SIZE, 1]), 1, 0, 0, layout)).toThrow(/outside its mapping/)
    const file = path.join(dir, 'small.pdict')
    await build([['a', '1']], file)
    const dict = open(file)
    try {
      const b = new KeyBatch()
      b.addString('a')
      b.start[0] = b.bytes.length // past the end of the keys
      expect(() => dict.lookupBatch!(b)).toThrow(/outside the key buffer/)
    } finally {
      dict.close()
    }
  })

  it('stops at a damaged page and getMany throws what get throws', async () => {
    const file = path.join(dir, 'damaged.pdict')
    const entries = Array.from({ length: 3000 }, (_, i): [string, string] => [`key${i}`, `value ${i}`])
    await build(entries, file, { seed: 5 })
    const bytes = fs.readFileSync(file)
    const dict0 = open(file) as PageFileDict
    expect(dict0.info().shards).toBe(1)
    const { dataOffset, pageCount } = dict0.segmentsForVerify[0]
    dict0.close()
    expect(pageCount).toBeGreaterThan(2)
    // Every data page claims 65535 records, more than a page can hold.
    for (let p = 0; p < pageCount; p++) bytes.writeUInt16LE(0xffff, dataOffset + p * PAGE_SIZE)
    const damaged = path.join(dir, 'damaged-copy.pdict')
    fs.writeFileSync(damaged, bytes)
    const dict = open(damaged)
    try {
      let single: unknown
      try {
        dict.get('key7')
      } catch (err) {
        single = err
      }
      expect(single).toMatchObject({ code: 'E_CORRUPT' })
      expect(() => dict.getMany(['key7', 'key8'])).toThrow((single as Error).message)
    } finally {
      dict.close()
    }
  })
})
