/**
 * The JavaScript CRC-32 that open() uses must equal zlib.crc32 (what the builder writes), in
 * particular where it appends a zero tail arithmetically instead of reading it.
 */
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../src/format/crc32.js'
import { rng } from './helpers/random.js'

describe('crc32', () => {
  it('equals zlib.crc32 on empty, all-zero, zero-tailed and random buffers', () => {
    const next = rng(32)
    const cases: Uint8Array[] = [new Uint8Array(0), new Uint8Array(1), new Uint8Array(4096), Buffer.from('123456789')]
    for (let i = 0; i < 300; i++) {
      const b = new Uint8Array(Math.floor(next() * 9000))
      const filled = Math.floor(next() * (b.length + 1))
      for (let j = 0; j < filled; j++) b[j] = next() < 0.2 ? 0 : Math.floor(next() * 256)
      cases.push(b)
    }
    for (const b of cases) expect(crc32(b)).toBe(zlib.crc32(b))
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926) // the standard check value
  })

  it('a table header region: a few hundred bytes, then zeros to 4 KiB or more', () => {
    for (const pages of [1, 2, 7]) {
      const b = Buffer.alloc(pages * 4096)
      b.write('PAGEDICT{"pagedict":"0.1.0"}', 0)
      if (pages > 1) b[(pages - 1) * 4096 - 1] = 7 // a nonzero byte far from the start
      expect(crc32(b)).toBe(zlib.crc32(b))
    }
  })
})
