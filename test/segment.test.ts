/**
 * Mapping on first use (src/read/segment.ts): open() maps nothing; the first lookups map
 * 16 MiB windows, the lookup past the window budget maps the shard whole, and every answer is
 * the same either way. The windows are checked byte for byte against a sparse file, and end
 * to end on a table bigger than two windows, with values inline, external, and crossing a
 * window's edge.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { PagedictError } from '../src/errors.js'
import type { ShardEntry } from '../src/format/layout.js'
import { open } from '../src/read/open.js'
import { Segment, WINDOW_SHIFT, WindowBudget } from '../src/read/segment.js'
import { rng } from './helpers/random.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('segment')
const MiB = 1 << 20
const STRIDE = 2 ** WINDOW_SHIFT

/** A sparse file of `length` bytes with a marker byte (its offset / 4096, mod 251, plus 1) at each given offset. */
function sparseFile(name: string, length: number, marks: number[]): string {
  const file = path.join(dir, name)
  const fd = fs.openSync(file, 'w')
  fs.ftruncateSync(fd, length)
  for (const at of marks) fs.writeSync(fd, Buffer.from([markAt(at)]), 0, 1, at)
  fs.closeSync(fd)
  return file
}
const markAt = (at: number): number => ((at >>> 12) % 251) + 1

function entry(fileLength: number): ShardEntry {
  return { firstBucket: 0, bucketCount: 1, pageCount: 1, maxSpill: 0, keyCount: 0, dataOffset: 4096, valueOffset: 8192, valueLength: 0, fileLength, valueChecksum: 0, name: '' }
}

const mapped = (seg: Segment): number => new Set(seg.windows.filter((w) => w !== undefined)).size

describe('segment windows', () => {
  const length = 100 * MiB + 12288
  const marks = [0, 4096, STRIDE - 4096, STRIDE, STRIDE + 4096, 3 * STRIDE + 8192, length - 4096]
  const file = sparseFile('sparse.bin', length, marks)

  it('maps a 16 MiB window per lookup, then the whole file once the budget is spent', () => {
    const seg = new Segment(fs.openSync(file, 'r'), file, entry(length), new WindowBudget())
    expect(mapped(seg)).toBe(0)
    // Home page 0 is at byte 4096 (data_offset): window 0.
    const w0 = seg.windowOf(0)
    expect(w0.start).toBe(0)
    expect(w0.buf.length).toBe(STRIDE + 256 * 1024)
    expect(w0.dataOffset).toBe(4096)
    for (const at of [0, 4096, STRIDE - 4096, STRIDE, STRIDE + 4096]) expect(w0.buf[at - w0.start]).toBe(markAt(at))
    expect(seg.windowOf(1)).toBe(w0)
    // A page in the next 16 MiB: window 1, whose data page 0 would lie before its start.
    const w3 = seg.windowOf((3 * STRIDE + 8192 - 4096) / 4096)
    expect(w3.start).toBe(3 * STRIDE)
    expect(w3.dataOffset).toBe(4096 - 3 * STRIDE)
    expect(w3.buf[8192]).toBe(markAt(3 * STRIDE + 8192))
    expect(mapped(seg)).toBe(2)
    // A third window is over the budget: the whole file, in every slot from now on.
    const whole = seg.windowFor(length - 4096, length - 4095)
    expect(whole.start).toBe(0)
    expect(whole.buf.length).toBe(length)
    expect(seg.windows.every((w) => w === whole)).toBe(true)
    expect(seg.buf).toBe(whole.buf)
    for (const at of marks) expect(seg.buf[at]).toBe(markAt(at))
    seg.release()
  })

  it('maps a range that runs past a window whole, and so does buf', () => {
    const a = new Segment(fs.openSync(file, 'r'), file, entry(length), new WindowBudget())
    const w = a.windowFor(STRIDE - 10, STRIDE + 100) // inside window 0's overlap
    expect(w.start).toBe(0)
    expect(a.windowFor(STRIDE - 10, STRIDE + 300 * 1024).buf.length).toBe(length)
    a.release()
    const b = new Segment(fs.openSync(file, 'r'), file, entry(length), new WindowBudget())
    expect(b.buf.length).toBe(length)
    expect(b.windowOf(0).buf).toBe(b.buf)
    b.release()
  })

  it('maps a file no bigger than one window whole at the first lookup', () => {
    const small = sparseFile('small.bin', 3 * 4096, [4096])
    const seg = new Segment(fs.openSync(small, 'r'), small, entry(3 * 4096), new WindowBudget())
    const w = seg.windowOf(0)
    expect(w.buf.length).toBe(3 * 4096)
    expect(seg.buf).toBe(w.buf)
    seg.release()
  })

  it('shares the budget between the segments of one dict', () => {
    const budget = new WindowBudget()
    const a = new Segment(fs.openSync(file, 'r'), file, entry(length), budget)
    const b = new Segment(fs.openSync(file, 'r'), file, entry(length), budget)
    expect(a.windowOf(0).buf.length).toBe(STRIDE + 256 * 1024)
    expect(b.windowOf(0).buf.length).toBe(STRIDE + 256 * 1024)
    expect(a.windowOf(STRIDE / 4096).buf.length).toBe(length)
    a.release()
    b.release()
  })

  it('closes its file when mapped whole or released; a released segment maps nothing more', () => {
    const fd = fs.openSync(file, 'r')
    const seg = new Segment(fd, file, entry(length), new WindowBudget())
    seg.windowOf(0)
    seg.release()
    expect(() => fs.fstatSync(fd)).toThrow()
    expect(seg.windowOf(1).start).toBe(0) // mapped before the release: still there
    expect(() => seg.windowOf(STRIDE / 4096)).toThrow(PagedictError)
    const fd2 = fs.openSync(file, 'r')
    const whole = new Segment(fd2, file, entry(length), new WindowBudget())
    expect(whole.buf.length).toBe(length)
    expect(() => fs.fstatSync(fd2)).toThrow()
    whole.release() // a no-op now
  })
})

describe('a table bigger than the window budget', () => {
  // About 100 MiB: 400,000 keys with small inline values (25 MiB of pages, so homes lie in
  // two windows), and every 1000th value external, some bigger than a window's overlap, so
  // that some lie across a window's edge.
  const next = rng(7)
  const entries: [string, string][] = []
  for (let i = 0; i < 400_000; i++) {
    const big = i % 1000 === 0
    const len = big ? 1025 + Math.floor(next() * (i % 20_000 === 0 ? 600_000 : 300_000)) : Math.floor(next() * 40)
    entries.push([`key-${i}`, String.fromCharCode(97 + (i % 26)).repeat(len) + `#${i}`])
  }
  const table = path.join(dir, 'big.pdict')
  const segmentOf = (d: unknown): Segment => (d as { segments: Segment[] }).segments[0]
  const whole = (seg: Segment): boolean => seg.windows.every((w) => w !== undefined && w.buf.length === seg.fileLength)

  it('answers every key the same through windows as through the whole mapping', async () => {
    await build(entries, table)
    expect(fs.statSync(table).size).toBeGreaterThan(4 * STRIDE)
    // Fresh dicts, two lookups each: both served from windows, never the whole file.
    for (let round = 0; round < 12; round++) {
      const d = open(table)
      const seg = segmentOf(d)
      expect(mapped(seg)).toBe(0)
      for (let j = 0; j < 2; j++) {
        const [k, v] = entries[Math.floor(next() * entries.length)]
        expect(d.get(k)).toBe(v)
      }
      expect(d.get('absent')).toBeUndefined()
      expect(mapped(seg)).toBeGreaterThan(0)
      expect(whole(seg)).toBe(false)
      d.close()
    }
    // Every key, in random order: windows first, then the whole mapping.
    const dict = open(table)
    for (let n = 0; n < entries.length; n++) {
      const [k, v] = entries[(n * 7919) % entries.length]
      if (dict.get(k) !== v) expect(dict.get(k)).toBe(v)
    }
    expect(whole(segmentOf(dict))).toBe(true)
    dict.close()
    // A fresh dict: the external values first (each may need a window of its own), as views.
    const again = open(table)
    for (let i = 0; i < entries.length; i += 1000) expect(Buffer.from(again.getBytes(entries[i][0])!).toString()).toBe(entries[i][1])
    expect(again.getMany(entries.slice(0, 3000).map((e) => e[0]))).toEqual(entries.slice(0, 3000).map((e) => e[1]))
    again.close()
  })
})
