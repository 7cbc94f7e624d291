#!/usr/bin/env node
/**
 * Seeded data for the benchmarks: a table TSV of N keys, the same table as one JSON object,
 * and D data files of CSV lines whose first field is a table key about half the time.
 *
 *   node bench/generate.js [--keys 5000000] [--files 8] [--file-mb 64] [--seed 1]
 *                          [--value-min 10] [--value-max 40] [--out <dir>] [--json]
 *
 * Everything is a pure function of (seed, index), so any process can rebuild key i or its
 * value without reading the table (the lookup and scale benchmarks do):
 *
 *   key(i)   = "u" + 11 base-36 chars from a hash of i + 7 base-36 chars of fmix32(i + seed)
 *              19 bytes. fmix32 is a bijection on 32 bits, so the last 7 chars alone make
 *              keys with distinct i distinct: key(i) for i >= N is never in the table, which
 *              is how the data files and the benchmarks make misses that look like hits.
 *   value(i) = value-min .. value-max printable ASCII bytes (no tab, comma, quote or
 *              backslash), from a hash of i.
 *
 * Output goes to a directory keyed by the parameters (default under os.tmpdir()), written
 * under temporary names and renamed, with a manifest written last: a rerun with the same
 * parameters finds the manifest and returns at once.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const DEFAULTS = { keys: 5_000_000, files: 8, fileMb: 64, seed: 1, valueMin: 10, valueMax: 40 }

const B36 = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz', 'latin1')
// Printable ASCII without tab, comma, double quote and backslash (so the TSV, the CSV and the
// JSON copy of the table need no quoting or escaping).
const VALUE_CHARS = Buffer.from(
  Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))
    .filter((c) => c !== ',' && c !== '"' && c !== '\\')
    .join(''),
  'latin1',
)
export const KEY_BYTES = 19

function fmix32(h) {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** mulberry32: the generator for everything that is not a function of a key index. */
export function mulberry32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Key and value writers for one seed. */
export function keyspace(seed = DEFAULTS.seed, valueMin = DEFAULTS.valueMin, valueMax = DEFAULTS.valueMax) {
  const s1 = fmix32(seed ^ 0x9e3779b9)
  const s2 = fmix32(seed ^ 0x7f4a7c15)
  const s3 = fmix32(seed ^ 0x2545f491)
  const span = valueMax - valueMin + 1

  /** Write key(i) at buf[at]; returns the end. i < 2^32. */
  function writeKey(buf, at, i) {
    buf[at++] = 0x75 // 'u'
    let a = fmix32((i ^ s1) >>> 0)
    let b = fmix32((a + s2) >>> 0)
    for (let j = 0; j < 6; j++) {
      buf[at++] = B36[a % 36]
      a = Math.floor(a / 36)
    }
    for (let j = 0; j < 5; j++) {
      buf[at++] = B36[b % 36]
      b = Math.floor(b / 36)
    }
    let c = fmix32((i + s3) >>> 0) // the bijective part
    for (let j = 6; j >= 0; j--) {
      buf[at + j] = B36[c % 36]
      c = Math.floor(c / 36)
    }
    return at + 7
  }

  /** Write value(i) at buf[at]; returns the end. */
  function writeValue(buf, at, i) {
    let x = fmix32((i ^ s2 ^ 0x5bd1e995) >>> 0) | 1
    const len = valueMin + ((x >>> 0) % span)
    for (let j = 0; j < len; j++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      buf[at++] = VALUE_CHARS[(x >>> 0) % VALUE_CHARS.length]
    }
    return at
  }

  const scratch = Buffer.allocUnsafe(KEY_BYTES + valueMax)
  return {
    writeKey,
    writeValue,
    key: (i) => scratch.toString('latin1', 0, writeKey(scratch, 0, i)),
    value: (i) => scratch.toString('latin1', 0, writeValue(scratch, 0, i)),
  }
}

/** The cache directory for a set of parameters. */
export function dataDir(p) {
  const base = p.out ?? path.join(os.tmpdir(), 'pagedict-bench')
  return path.join(base, `k${p.keys}-f${p.files}x${p.fileMb}mb-s${p.seed}-v${p.valueMin}_${p.valueMax}`)
}

/** Writes a file in 4 MiB blocks under a temporary name; rename on finish. */
class BlockWriter {
  constructor(file) {
    this.file = file
    this.tmp = `${file}.tmp-${process.pid}`
    this.fd = fs.openSync(this.tmp, 'w')
    this.buf = Buffer.allocUnsafe(4 << 20)
    this.pos = 0
    this.bytes = 0
  }
  /** Make room for n more bytes. */
  room(n) {
    if (this.pos + n > this.buf.length) this.flush()
  }
  flush() {
    let off = 0
    while (off < this.pos) off += fs.writeSync(this.fd, this.buf, off, this.pos - off)
    this.bytes += this.pos
    this.pos = 0
  }
  finish() {
    this.flush()
    fs.closeSync(this.fd)
    fs.renameSync(this.tmp, this.file)
    return this.bytes
  }
}

const TAGS = ['click', 'view', 'purchase', 'refund', 'signup', 'login', 'logout', 'search', 'share', 'error'].map((t) => Buffer.from(t))

/**
 * Generate (or find) the data for parameters p. Returns the manifest:
 * { dir, table, json, files[], keys, tableBytes, jsonBytes, dataBytes, lines, hitLines, ... }.
 */
export function generate(p = {}, { json = true, log = () => {} } = {}) {
  p = { ...DEFAULTS, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) }
  if (!(Number.isInteger(p.keys) && p.keys >= 1 && p.keys <= 2 ** 31)) throw new Error(`--keys must be an integer 1 .. 2^31, got ${p.keys}`)
  if (!(Number.isInteger(p.files) && p.files >= 0)) throw new Error(`--files must be an integer >= 0, got ${p.files}`)
  if (!(p.fileMb > 0)) throw new Error(`--file-mb must be positive, got ${p.fileMb}`)
  if (!(Number.isInteger(p.valueMin) && Number.isInteger(p.valueMax) && p.valueMin >= 1 && p.valueMax >= p.valueMin && p.valueMax <= 4096)) {
    throw new Error(`--value-min/--value-max must be integers with 1 <= min <= max <= 4096`)
  }
  const dir = dataDir(p)
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true })
  const manifestFile = path.join(dir, 'manifest.json')
  let manifest = {}
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'))
  } catch {
    manifest = {}
  }
  const ks = keyspace(p.seed, p.valueMin, p.valueMax)
  const table = path.join(dir, 'table.tsv')
  const jsonFile = path.join(dir, 'table.json')
  let changed = false

  if (manifest.tableBytes === undefined || !fs.existsSync(table)) {
    const t0 = Date.now()
    const w = new BlockWriter(table)
    const lineMax = KEY_BYTES + p.valueMax + 2
    for (let i = 0; i < p.keys; i++) {
      w.room(lineMax)
      let at = ks.writeKey(w.buf, w.pos, i)
      w.buf[at++] = 9
      at = ks.writeValue(w.buf, at, i)
      w.buf[at++] = 10
      w.pos = at
    }
    manifest.tableBytes = w.finish()
    changed = true
    log(`generated ${table} (${mb(manifest.tableBytes)} MB) in ${Date.now() - t0} ms`)
  }

  if (json && (manifest.jsonBytes === undefined || !fs.existsSync(jsonFile))) {
    const t0 = Date.now()
    const w = new BlockWriter(jsonFile)
    const lineMax = KEY_BYTES + p.valueMax + 8
    w.buf[w.pos++] = 0x7b // {
    for (let i = 0; i < p.keys; i++) {
      w.room(lineMax)
      let at = w.pos
      if (i > 0) w.buf[at++] = 0x2c
      w.buf[at++] = 0x22
      at = ks.writeKey(w.buf, at, i)
      w.buf[at++] = 0x22
      w.buf[at++] = 0x3a
      w.buf[at++] = 0x22
      at = ks.writeValue(w.buf, at, i)
      w.buf[at++] = 0x22
      w.pos = at
    }
    w.room(2)
    w.buf[w.pos++] = 0x7d
    w.buf[w.pos++] = 10
    manifest.jsonBytes = w.finish()
    changed = true
    log(`generated ${jsonFile} (${mb(manifest.jsonBytes)} MB) in ${Date.now() - t0} ms`)
  }

  const files = []
  manifest.fileStats ??= {}
  for (let f = 0; f < p.files; f++) {
    const file = path.join(dir, 'data', `part-${String(f).padStart(3, '0')}.csv`)
    files.push(file)
    if (manifest.fileStats[file] !== undefined && fs.existsSync(file)) continue
    const t0 = Date.now()
    const rand = mulberry32(fmix32(p.seed * 7919 + f + 1))
    const target = Math.round(p.fileMb * 1024 * 1024)
    const w = new BlockWriter(file)
    let lines = 0
    let hits = 0
    const lineMax = KEY_BYTES + 64
    while (w.bytes + w.pos < target) {
      w.room(lineMax)
      const hit = rand() < 0.5
      // misses are key(i) for i in [N, 2N): same shape, never in the table
      const i = hit ? Math.floor(rand() * p.keys) : p.keys + Math.floor(rand() * p.keys)
      let at = ks.writeKey(w.buf, w.pos, i)
      // ,<unix seconds>,<amount>,<tag>,<session>
      w.buf[at++] = 0x2c
      at += w.buf.write(String(1_700_000_000 + Math.floor(rand() * 40_000_000)), at, 'latin1')
      w.buf[at++] = 0x2c
      at += w.buf.write((rand() * 1000).toFixed(2), at, 'latin1')
      w.buf[at++] = 0x2c
      at += TAGS[Math.floor(rand() * TAGS.length)].copy(w.buf, at)
      w.buf[at++] = 0x2c
      const sl = 8 + Math.floor(rand() * 9)
      for (let j = 0; j < sl; j++) w.buf[at++] = B36[Math.floor(rand() * 36)]
      w.buf[at++] = 10
      w.pos = at
      lines++
      if (hit) hits++
    }
    const bytes = w.finish()
    manifest.fileStats[file] = { bytes, lines, hits }
    changed = true
    log(`generated ${file} (${mb(bytes)} MB, ${lines} lines) in ${Date.now() - t0} ms`)
  }

  const stats = files.map((f) => manifest.fileStats[f])
  const result = {
    ...manifest,
    params: p,
    dir,
    table,
    json: json ? jsonFile : undefined,
    files,
    keys: p.keys,
    dataBytes: stats.reduce((n, s) => n + s.bytes, 0),
    lines: stats.reduce((n, s) => n + s.lines, 0),
    hitLines: stats.reduce((n, s) => n + s.hits, 0),
  }
  if (changed) {
    const { dir: _d, table: _t, json: _j, files: _f, params: _p, ...keep } = result
    fs.writeFileSync(`${manifestFile}.tmp`, JSON.stringify({ ...keep, params: p }, null, 1))
    fs.renameSync(`${manifestFile}.tmp`, manifestFile)
  }
  return result
}

export function mb(bytes) {
  return Math.round((bytes / 1048576) * 10) / 10
}

/** --name value flags into an object; numbers where they parse. */
export function parseFlags(argv, spec) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const name = a.slice(2)
    const kind = spec[name]
    if (kind === undefined) throw new Error(`unknown flag ${a} (known: ${Object.keys(spec).map((k) => `--${k}`).join(' ')})`)
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (kind === 'bool') out[key] = true
    else {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value`)
      if (kind === 'number') {
        const n = Number(v.replace(/_/g, '').replace(/[mM]$/, 'e6').replace(/[kK]$/, 'e3'))
        if (!Number.isFinite(n)) throw new Error(`${a} needs a number, got ${v}`)
        out[key] = n
      } else out[key] = v
    }
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main()
  } catch (err) {
    process.stderr.write(`bench/generate.js: ${err.message}\n`)
    process.exit(2)
  }
}

function main() {
  const flags = parseFlags(process.argv.slice(2), {
    keys: 'number',
    files: 'number',
    'file-mb': 'number',
    seed: 'number',
    'value-min': 'number',
    'value-max': 'number',
    out: 'string',
    'no-json': 'bool',
  })
  console.log(`node ${process.version}`)
  const m = generate(flags, { json: !flags.noJson, log: (s) => console.log(s) })
  console.log(`${m.dir}\n  table: ${m.keys} keys, ${mb(m.tableBytes)} MB TSV${m.jsonBytes ? `, ${mb(m.jsonBytes)} MB JSON` : ''}`)
  console.log(`  data: ${m.files.length} files, ${mb(m.dataBytes)} MB, ${m.lines} lines, ${((m.hitLines / Math.max(1, m.lines)) * 100).toFixed(1)}% hits`)
}
