/**
 * The corruption fuzzer (issue 6). Real tables are built here (page files with one shard and
 * with several, of every value codec, and an LMDB table), then a child process
 * (helpers/corruption-child.mjs, against dist/) mutates copies of them thousands of times with
 * a seeded PRNG: bit flips, byte runs, truncation, extra bytes, header fields set to huge,
 * "negative" (top bit set) or zero values, data pages swapped or copied, shards missing,
 * swapped with each other or with another build's, and hostile edits whose checksums are
 * recomputed. For each: open, get/has/getBytes of present and absent keys, getMany, full
 * iteration, info and verify must each succeed or throw PagedictError, and verify must flag
 * every accidental change (every byte of a page file is under a checksum). The child runs
 * with a timeout, so a hang or a native crash (SIGSEGV, SIGBUS) fails the test with the
 * mutation that caused it instead of killing vitest.
 *
 * LMDB: lmdb-js keeps no checksums and crashes the process on some damage in the middle of
 * the file (README, Promises: not promised), so for LMDB only what pagedict checks before
 * LMDB maps the file is fuzzed: the meta pages and the file's length.
 *
 * CI runs a bounded number of mutations. A longer soak run:
 *   PAGEDICT_SOAK=1 npx vitest run test/reliability-corruption.test.ts   (random seed; 50,000 page-file and 12,500 LMDB mutations)
 *   PAGEDICT_FUZZ_ITERATIONS=200000 PAGEDICT_FUZZ_SEED=123 npx vitest run test/reliability-corruption.test.ts
 * (npm test or `npx tsc -p tsconfig.json` first: the child runs the compiled library.)
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { buildPageFile } from '../src/build/pagefile.js'
import type { RecordSource } from '../src/build/options.js'
import { CODEC_STRING } from '../src/format/layout.js'
import { BIN } from './helpers/cli.js'
import { randomString, rng } from './helpers/random.js'
import { tmpDir } from './helpers/tmp.js'

const CHILD = fileURLToPath(new URL('./helpers/corruption-child.mjs', import.meta.url))
const SOAK = process.env.PAGEDICT_SOAK === '1'
const ITERATIONS = Number(process.env.PAGEDICT_FUZZ_ITERATIONS ?? (SOAK ? 50_000 : 0)) || undefined
const SEED = Number(process.env.PAGEDICT_FUZZ_SEED ?? (SOAK ? Math.floor(Math.random() * 2 ** 31) : 20_260_601))
/** A hang is a failure; the bound only has to be far above a healthy run on a slow machine. */
const CHILD_TIMEOUT_MS = SOAK || ITERATIONS !== undefined ? 24 * 3600_000 : 100_000
const TEST_TIMEOUT_MS = CHILD_TIMEOUT_MS + 60_000

const dir = tmpDir('corruption')

interface Fixture {
  name: string
  kind: 'pagefile' | 'lmdb'
  dir: string
  table: string
  files: string[]
  present: string[]
  absent: string[]
  expected: Record<string, unknown>
  alt?: { dir: string; files: string[] }
}

/** Files of the table in `tableDir` (the table and its shards; not LMDB's lock file). */
function tableFiles(tableDir: string): string[] {
  return fs.readdirSync(tableDir).filter((n) => !n.endsWith('-lock'))
}

function fixture(name: string, kind: Fixture['kind'], tableDir: string, table: string, entries: [string, unknown][], alt?: string): Fixture {
  const next = rng(name.length * 7919)
  const present = Array.from({ length: 16 }, () => entries[Math.floor(next() * entries.length)][0])
  // The keys with the largest values live in the value area: look those up too.
  const size = (v: unknown): number => (JSON.stringify(v) ?? '').length
  const byValue = [...entries].sort((a, b) => size(b[1]) - size(a[1]))
  present.push(...byValue.slice(0, 4).map(([k]) => k))
  const absent = Array.from({ length: 16 }, (_, i) => `absent-${i}-${randomString(next, 6)}`)
  // A key set answers true for a present key.
  const expected = Object.fromEntries(present.map((k) => [k, entries.find(([e]) => e === k)![1] ?? true]))
  return { name, kind, dir: tableDir, table, files: tableFiles(tableDir), present, absent, expected, alt: alt === undefined ? undefined : { dir: alt, files: tableFiles(alt) } }
}

function entries(seed: number, count: number, value: (next: () => number, i: number) => unknown): [string, unknown][] {
  const next = rng(seed)
  const out = new Map<string, unknown>()
  for (let i = 0; out.size < count; i++) out.set(`${randomString(next, 1 + Math.floor(next() * 12))}-${i}`, value(next, i))
  return [...out]
}

/** Single-shard tables of every codec, some values big enough for the value area. */
async function pageFileFixtures(): Promise<Fixture[]> {
  const out: Fixture[] = []
  const kinds: [string, [string, unknown][]][] = [
    ['strings', entries(1, 1500, (next, i) => (i % 25 === 0 ? randomString(next, 600 + Math.floor(next() * 3000)) : randomString(next, 1 + Math.floor(next() * 20))))],
    ['lists', entries(2, 1200, (next, i) => Array.from({ length: i % 40 === 0 ? 300 : Math.floor(next() * 4) }, () => randomString(next, 1 + Math.floor(next() * 6))))],
    ['json', entries(3, 1200, (next, i) => (i % 30 === 0 ? { blob: 'j'.repeat(2000), n: i } : { n: i, s: randomString(next, 4), ok: next() < 0.5 }))],
    ['keyset', entries(4, 2000, () => undefined)],
  ]
  for (const [name, table] of kinds) {
    const tableDir = path.join(dir, name)
    fs.mkdirSync(tableDir)
    await build(table, path.join(tableDir, 't.pdict'), { seed: 17 })
    out.push(fixture(name, 'pagefile', tableDir, 't.pdict', table))
  }
  // Several shards: 1 MiB shards of a ~2.6 MB table (its values mostly in the value areas),
  // and a second build of the same table name, for shards of another build.
  const multi = entries(5, 3000, (next, i) => (i % 4 === 0 ? `value-${i}-` + 'v'.repeat(3000 + Math.floor(next() * 400)) : `value-${i}`))
  const source: RecordSource = async (sink) => {
    let line = 0
    for (const [k, v] of multi) {
      const kb = Buffer.from(k)
      const vb = Buffer.from(v as string)
      sink(kb, 0, kb.length, vb, 0, vb.length, 0, ++line)
    }
    return { codec: CODEC_STRING, records: line, bytes: 0, describe: {} }
  }
  const shardDirs: string[] = []
  for (const build of ['a', 'b']) {
    const tableDir = path.join(dir, `multi-${build}`)
    fs.mkdirSync(tableDir)
    const report = await buildPageFile(source, path.join(tableDir, 't.pdict'), { inputs: ['gen'], onDuplicate: 'error', memoryMiB: 64, expectedBytes: 0, shardBytes: 1 << 20, metadata: {} })
    expect(report.shards).toBeGreaterThanOrEqual(3)
    shardDirs.push(tableDir)
  }
  out.push(fixture('multi-shard', 'pagefile', shardDirs[0], 't.pdict', multi, shardDirs[1]))
  return out
}

interface Summary {
  iterations: number
  counts: Record<string, number>
  kinds: Record<string, number>
  violations: string[]
  violationCount: number
}

/** Run the child over `fixtures`; a crash, a hang or a violation fails with the mutation named. */
function fuzz(tag: string, fixtures: Fixture[], iterations: number): Summary {
  const scratch = path.join(dir, `scratch-${tag}`)
  fs.mkdirSync(scratch)
  const progress = path.join(dir, `progress-${tag}`)
  const manifest = path.join(dir, `manifest-${tag}.json`)
  fs.writeFileSync(manifest, JSON.stringify({ seed: SEED, iterations, scratch, progress, fixtures }))
  const r = spawnSync(process.execPath, [CHILD, manifest], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 << 20 })
  const last = fs.existsSync(progress) ? fs.readFileSync(progress, 'utf8').trim() : '(before the first mutation)'
  const how = r.error !== undefined ? `${r.error.message} (a hang?)` : r.signal !== null ? `killed by ${r.signal} (a native crash)` : `exit code ${r.status}`
  if (r.status !== 0 || r.signal !== null) {
    throw new Error(`fuzz child (seed ${SEED}) ended abnormally: ${how}\nlast mutation: ${last}\n${r.stderr.slice(-3000)}`)
  }
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary
  if (summary.violationCount > 0) {
    throw new Error(`seed ${SEED}: ${summary.violationCount} violation(s) in ${iterations} mutations:\n${summary.violations.join('\n')}`)
  }
  return summary
}

describe('corrupted tables give PagedictError or an answer: never a crash, a hang or another error', () => {
  it('page files, one shard and several, every codec: verify flags every accidental change', async () => {
    const fixtures = await pageFileFixtures()
    const summary = fuzz('pagefile', fixtures, ITERATIONS ?? 2000)
    // Every kind of mutation ran (the fuzzer has not quietly narrowed).
    expect(Object.keys(summary.kinds).sort()).toEqual(
      ['damage', 'extend', 'field', 'none', 'other build', 'missing shard', 'page copy', 'page swap', 'sealed field', 'sealed page', 'sealed shard header', 'sealed shard name', 'sealed value area', 'shard swap', 'truncate'].sort(),
    )
    // Most accidental damage is refused by open() or found by verify; some of it must reach
    // lookups (damage inside a data page or the value area opens fine).
    expect(summary.counts['refused at open']).toBeGreaterThan(0)
    expect(summary.counts['opened, flagged by verify']).toBeGreaterThan(0)
    expect(summary.counts['opened, verify ok']).toBeGreaterThan(0)
  }, TEST_TIMEOUT_MS)

  it('LMDB tables: the meta pages and the length, checked before LMDB maps the file', async () => {
    const tableDir = path.join(dir, 'lmdb')
    fs.mkdirSync(tableDir)
    const table = entries(6, 1500, (next, i) => (i % 25 === 0 ? 'L'.repeat(3000) : randomString(next, 1 + Math.floor(next() * 20))))
    await build(table, path.join(tableDir, 't.lmdb'), { backend: 'lmdb' })
    const summary = fuzz('lmdb', [fixture('lmdb', 'lmdb', tableDir, 't.lmdb', table)], ITERATIONS === undefined ? 400 : Math.ceil(ITERATIONS / 4))
    expect(summary.counts['refused at open']).toBeGreaterThan(0)
  }, TEST_TIMEOUT_MS)
})

describe('files that are not regular files', () => {
  // Run through the CLI with a timeout: a regression here is a hang, not an exception.
  const get = (table: string) => spawnSync(process.execPath, [BIN, 'get', table, 'k1'], { encoding: 'utf8', timeout: 60_000 })

  it.runIf(process.platform !== 'win32')('a FIFO as the table or in place of a shard is refused at once, not waited on', async () => {
    const d = path.join(dir, 'fifo')
    fs.mkdirSync(d)
    const table = path.join(d, 't.pdict')
    await buildPageFile(
      async (sink) => {
        for (let i = 0; i < 3000; i++) {
          const k = Buffer.from(`k${i}`)
          const v = Buffer.from(`v${i}-` + 'x'.repeat(i % 4 === 0 ? 3000 : 1))
          sink(k, 0, k.length, v, 0, v.length, 0, i + 1)
        }
        return { codec: CODEC_STRING, records: 3000, bytes: 0, describe: {} }
      },
      table,
      { inputs: ['gen'], onDuplicate: 'error', memoryMiB: 64, expectedBytes: 0, shardBytes: 1 << 20, metadata: {} },
    )
    const shard = fs.readdirSync(d).find((n) => n.endsWith('.1.pdshard'))!
    fs.rmSync(path.join(d, shard))
    expect(spawnSync('mkfifo', [path.join(d, shard)]).status).toBe(0)
    const r = get(table)
    expect(r.error).toBeUndefined()
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/\.1\.pdshard: cannot open shard 1 of .*t\.pdict: not a regular file/)
    const fifo = path.join(d, 'fifo.pdict')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    const f = get(fifo)
    expect(f.error).toBeUndefined()
    expect(f.stderr).toMatch(/fifo\.pdict: cannot open the table: not a regular file/)
  })
})
