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
import { LineScan, STOP_FULL, STOP_QUOTE, native } from '../src/read/native.js'
import { open } from '../src/read/open.js'
import type { PageFileDict } from '../src/read/pagefile.js'
import { RecordSplitter } from '../src/scan/csv.js'
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

describe('native CSV/TSV splitting (scanLines)', () => {
  /** Records as RecordSplitter splits them: [record text, key or null]. */
  function splitInJs(buf: Buffer, delimiter: number, field: number): [string, string | null][] {
    const sp = new RecordSplitter({ delimiter, quoting: true, maxFields: field + 1 })
    const out: [string, string | null][] = []
    let pos = 0
    while (pos < buf.length) {
      const next = sp.split(buf, pos, buf.length, true)
      expect(next).toBeGreaterThan(pos)
      out.push([buf.toString('latin1', sp.recordStart, sp.recordEnd), sp.count > field ? buf.toString('latin1', sp.starts[field], sp.ends[field]) : null])
      pos = next
    }
    return out
  }

  it('splits quote-free records as RecordSplitter does, at any block end, and stops before quotes', async () => {
    const file = path.join(dir, 'split.pdict')
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`)
    await build(
      keys.map((k) => [k, `v${k}`]),
      file,
    )
    const dict = open(file) as PageFileDict
    const next = rng(11)
    const pieces = ['k1', 'k2', 'k499', 'nope', '', ',', ',', '\t', 'x'.repeat(1030), 'k7']
    try {
      for (let round = 0; round < 60; round++) {
        const delimiter = round % 2 === 0 ? 0x2c : 0x09
        const field = round % 3
        let text = ''
        const lines = 1 + Math.floor(next() * 40)
        for (let i = 0; i < lines; i++) {
          for (let j = Math.floor(next() * 6); j > 0; j--) text += pieces[Math.floor(next() * pieces.length)]
          if (i < lines - 1 || next() < 0.5) text += next() < 0.3 ? '\r\n' : '\n'
        }
        const quoteAt = round % 5 === 4 ? Math.floor(next() * text.length) : -1
        if (quoteAt >= 0) text = `${text.slice(0, quoteAt)}"${text.slice(quoteAt)}`
        const buf = Buffer.from(text, 'latin1')
        // Native, in blocks that end anywhere: a block's records, then the rest from where it stopped.
        const got: [string, string | null][] = []
        const s = new LineScan()
        s.configure(delimiter, true, field)
        let pos = 0
        let stoppedAtQuote = -1
        for (let end = 0; end <= buf.length && stoppedAtQuote < 0; ) {
          end = Math.min(buf.length, end + 1 + Math.floor(next() * 30))
          const eof = end === buf.length
          s.newBlock()
          for (;;) {
            expect(dict.scanLines(s, buf, pos, end, eof)).toBe(true)
            for (let i = 0; i < s.count; i++) {
              const key = s.keyLen[i] < 0 ? null : buf.toString('latin1', s.keyStart[i], s.keyStart[i] + s.keyLen[i])
              got.push([buf.toString('latin1', s.lineStart[i], s.lineEnd[i]), key])
              expect(s.found[i] === 1, `found ${key}`).toBe(key !== null && keys.includes(key))
              if (s.found[i] === 1) expect(dict.mappingOf(s.segment[i]).toString('latin1', s.valueStart[i], s.valueEnd[i])).toBe(`v${key}`)
            }
            pos = s.next
            if (s.stop === STOP_QUOTE) stoppedAtQuote = pos
            if (s.stop !== STOP_FULL) break
          }
          if (eof) break
        }
        const want = splitInJs(buf, delimiter, field).map(([line, key]): [string, string | null] => [line, key !== null && key.length > 1024 ? null : key])
        if (stoppedAtQuote < 0) {
          expect(got).toEqual(want)
          expect(pos).toBe(buf.length)
        } else {
          // Every record before the one holding the quote, and none after.
          expect(buf.indexOf(0x22, stoppedAtQuote)).toBeLessThanOrEqual(buf.indexOf(0x0a, stoppedAtQuote) < 0 ? buf.length : buf.indexOf(0x0a, stoppedAtQuote))
          expect(got).toEqual(want.slice(0, got.length))
          expect(buf.subarray(0, stoppedAtQuote).includes(0x22)).toBe(false)
        }
      }
    } finally {
      dict.close()
    }
  })
})
