#!/usr/bin/env node
/**
 * One measurement in a fresh process, for bench/run.js:
 *
 *   node bench/child.js <mode> '<json args>'
 *
 * Prints progress on stderr and, last, one line `RESULT <json>` on stdout. Each mode measures
 * one peer the same way the others are measured; the peers ("kinds") are
 *
 *   pagefile  pagedict's page file, through open() from dist/
 *   pdlmdb    pagedict on LMDB (--backend lmdb), through the same open()
 *   lmdbjs    lmdb-js used directly: open(), get / getBinaryFast / getMany
 *   map       a JS Map loaded from the TSV (chunked read, indexOf, toString per field)
 *   json      JSON.parse of the table as one JSON object (open only)
 */
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { KEY_BYTES, keyspace, mulberry32 } from './generate.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist')
const log = (s) => process.stderr.write(`  [${process.pid}] ${s}\n`)
const maxRssMb = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10

async function importDist(rel) {
  return import(new URL(`file://${path.join(DIST, rel)}`).href)
}

/**
 * Read a TSV in 16 MiB blocks and call fn(key, value) with fresh strings for each line: the
 * fastest plain-JS loader we found (readline + split is the naive one, see naiveScan).
 */
function eachTsvLine(file, fn) {
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.allocUnsafe(16 << 20)
  let have = 0
  let lines = 0
  for (;;) {
    const n = fs.readSync(fd, buf, have, buf.length - have, null)
    const end = have + n
    let pos = 0
    for (;;) {
      const nl = buf.indexOf(10, pos)
      if (nl < 0 || nl >= end) break
      const tab = buf.indexOf(9, pos)
      fn(buf.toString('utf8', pos, tab), buf.toString('utf8', tab + 1, nl))
      lines++
      pos = nl + 1
    }
    if (n === 0) {
      if (pos < end) throw new Error(`${file}: last line has no newline`)
      break
    }
    buf.copy(buf, 0, pos, end)
    have = end - pos
  }
  fs.closeSync(fd)
  return lines
}

function loadMap(file) {
  const map = new Map()
  eachTsvLine(file, (k, v) => map.set(k, v))
  return map
}

async function openLmdbjs(file, readOnly) {
  const { open } = await import('lmdb')
  return open({ path: file, noSubdir: true, encoding: 'string', compression: false, readOnly })
}

/** Open a peer for lookups: { get(k), getMany?(ks), bytes?(k), close() }. */
async function openKind(kind, a) {
  switch (kind) {
    case 'pagefile':
    case 'pdlmdb': {
      const { open } = await importDist('read/open.js')
      const d = open(kind === 'pagefile' ? a.pagefile : a.pdlmdb)
      return { d, get: (k) => d.get(k), getMany: (ks) => d.getMany(ks), bytes: (k) => d.getBytes(k), close: () => d.close() }
    }
    case 'lmdbjs': {
      const db = await openLmdbjs(a.lmdbjs, true)
      return {
        db,
        get: (k) => db.get(k),
        getManyAsync: (ks) => db.getMany(ks),
        bytes: (k) => db.getBinaryFast(k),
        close: () => db.close(),
      }
    }
    case 'map': {
      const m = loadMap(a.table)
      return { m, get: (k) => m.get(k), close: () => {} }
    }
    default:
      throw new Error(`unknown kind ${kind}`)
  }
}

const modes = {
  /** Build a table; ms, peak RSS, bytes. */
  async build(a) {
    const out = a.out
    // A fresh build each run: the table, LMDB's lock file and a sharded table's shard files
    // (which a build replacing the table would unlink itself, but not once the table is gone).
    const shards = fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(`${path.basename(out)}.`) && f.endsWith('.pdshard'))
    for (const f of [out, `${out}-lock`, ...shards.map((f) => path.join(path.dirname(out), f))]) fs.rmSync(f, { force: true })
    const t0 = performance.now()
    if (a.kind === 'pagefile' || a.kind === 'pdlmdb') {
      const { build } = await importDist('build/index.js')
      const r = await build({ input: a.table, output: out, format: 'tsv', key: 1, value: 'rest', backend: a.kind === 'pagefile' ? 'pagefile' : 'lmdb', memory: a.memory })
      const ms = performance.now() - t0
      return { ms, peak_rss_mb: maxRssMb(), bytes: r.bytes ?? fs.statSync(out).size, keys: r.keys, report: r }
    }
    if (a.kind === 'lmdbjs' || a.kind === 'lmdbjs-sorted') {
      const db = await openLmdbjs(out, false)
      let keys = 0
      let sortMs = 0
      if (a.kind === 'lmdbjs') {
        // keys as they come, in input order, in one write transaction
        db.transactionSync(() => {
          keys = eachTsvLine(a.table, (k, v) => db.put(k, v))
        })
      } else {
        const ks = []
        const vs = []
        eachTsvLine(a.table, (k, v) => {
          ks.push(k)
          vs.push(v)
        })
        const ts = performance.now()
        const order = Array.from(ks.keys()).sort((x, y) => (ks[x] < ks[y] ? -1 : ks[x] > ks[y] ? 1 : 0))
        sortMs = performance.now() - ts
        db.transactionSync(() => {
          for (const i of order) db.put(ks[i], vs[i])
        })
        keys = ks.length
      }
      await db.close()
      const ms = performance.now() - t0
      return { ms, sort_ms: sortMs, peak_rss_mb: maxRssMb(), bytes: fs.statSync(out).size, keys }
    }
    throw new Error(`unknown build kind ${a.kind}`)
  },

  /** Open (or load) and look the first key up; import time apart. */
  async open(a) {
    const ks = keyspace(a.seed, a.valueMin, a.valueMax)
    const i = a.probe
    const key = ks.key(i)
    const want = ks.value(i)
    let t0 = performance.now()
    let importMs = 0
    let addonMs
    let openMs
    let got
    switch (a.kind) {
      case 'pagefile':
      case 'pdlmdb': {
        const { open } = await importDist('read/open.js')
        importMs = performance.now() - t0
        if (a.preloadAddon) {
          // the first mapping in a process loads the mmap addon: do it on another file, so
          // that open() below shows what opening the table itself costs
          const { mapReadOnly } = await importDist('read/mmap.js')
          const t = performance.now()
          const fd = fs.openSync(path.join(ROOT, 'package.json'), 'r')
          mapReadOnly(fd, 1, 'package.json')
          fs.closeSync(fd)
          addonMs = performance.now() - t
        }
        t0 = performance.now()
        const d = open(a.kind === 'pagefile' ? a.pagefile : a.pdlmdb)
        openMs = performance.now() - t0
        got = d.get(key)
        break
      }
      case 'lmdbjs': {
        const { open } = await import('lmdb')
        importMs = performance.now() - t0
        t0 = performance.now()
        const db = open({ path: a.lmdbjs, noSubdir: true, encoding: 'string', compression: false, readOnly: true })
        openMs = performance.now() - t0
        got = db.get(key)
        break
      }
      case 'map': {
        const m = loadMap(a.table)
        openMs = performance.now() - t0
        got = m.get(key)
        break
      }
      case 'json': {
        const o = JSON.parse(fs.readFileSync(a.json, 'utf8'))
        openMs = performance.now() - t0
        got = o[key]
        break
      }
      default:
        throw new Error(`unknown kind ${a.kind}`)
    }
    const total = performance.now() - t0
    if (got !== want) throw new Error(`${a.kind}: first lookup of ${key} gave ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
    return { ms: total, open_ms: openMs, import_ms: importMs, addon_ms: addonMs, peak_rss_mb: maxRssMb() }
  },

  /**
   * Lookups per second, hits and misses apart, one key at a time and in batches. Every pass
   * looks up fresh strings (made just before the pass, outside the timing), as a parser
   * would hand them over: a Map cannot reuse a hash cached in a string it has seen.
   */
  async lookups(a) {
    const ks = keyspace(a.seed, a.valueMin, a.valueMax)
    const p = await openKind(a.kind, a)
    const rand = mulberry32(a.sampleSeed ?? 42)
    const n = a.n
    const hitIdx = Array.from({ length: n }, () => Math.floor(rand() * a.keys))
    const missIdx = Array.from({ length: n }, () => a.keys + Math.floor(rand() * a.keys))
    const fresh = (idx) => idx.map((i) => ks.key(i))
    const batches = (arr) => {
      const out = []
      for (let i = 0; i < arr.length; i += a.batch) out.push(arr.slice(i, i + a.batch))
      return out
    }
    // correctness first, outside the timing
    for (let j = 0; j < 200; j++) {
      const got = p.get(ks.key(hitIdx[j]))
      if (got !== ks.value(hitIdx[j])) throw new Error(`${a.kind}: key ${ks.key(hitIdx[j])} gave ${JSON.stringify(got)}`)
      if (p.get(ks.key(missIdx[j])) !== undefined) throw new Error(`${a.kind}: key ${ks.key(missIdx[j])} found, should miss`)
    }
    const one = (keys, expect) => {
      let found = 0
      const t0 = performance.now()
      for (let j = 0; j < keys.length; j++) if (p.get(keys[j]) !== undefined) found++
      const s = (performance.now() - t0) / 1000
      if (found !== expect) throw new Error(`${a.kind}: found ${found} of ${keys.length}, expected ${expect}`)
      return keys.length / s
    }
    const many = (bs, expect) => {
      let found = 0
      let total = 0
      const t0 = performance.now()
      for (const b of bs) {
        const r = p.getMany(b)
        for (let j = 0; j < r.length; j++) if (r[j] !== undefined) found++
        total += b.length
      }
      const s = (performance.now() - t0) / 1000
      if (found !== expect) throw new Error(`${a.kind}: getMany found ${found}, expected ${expect}`)
      return total / s
    }
    const manyAsync = async (bs, expect) => {
      let found = 0
      let total = 0
      const t0 = performance.now()
      for (const b of bs) {
        const r = await p.getManyAsync(b)
        for (let j = 0; j < r.length; j++) if (r[j] !== undefined) found++
        total += b.length
      }
      const s = (performance.now() - t0) / 1000
      if (found !== expect) throw new Error(`${a.kind}: getMany found ${found}, expected ${expect}`)
      return total / s
    }
    const bytes = (keys) => {
      let found = 0
      let sum = 0
      const t0 = performance.now()
      for (let j = 0; j < keys.length; j++) {
        const v = p.bytes(keys[j])
        if (v !== undefined) {
          found++
          sum += v[0]
        }
      }
      const s = (performance.now() - t0) / 1000
      if (found !== keys.length) throw new Error(`${a.kind}: bytes found ${found} of ${keys.length}`)
      return keys.length / s + (sum & 0) // sum keeps the reads alive
    }
    const res = { hit: [], miss: [], many_hit: [], many_miss: [], bytes_hit: [] }
    // pass 0 warms the mapping (page-table entries, the CPU caches) and the JIT; not reported
    for (let pass = 0; pass <= a.passes; pass++) {
      const keep = pass > 0
      let keys = fresh(hitIdx)
      let r = one(keys, n)
      if (keep) res.hit.push(r)
      keys = fresh(missIdx)
      r = one(keys, 0)
      if (keep) res.miss.push(r)
      if (p.getMany !== undefined) {
        r = many(batches(fresh(hitIdx)), n)
        if (keep) res.many_hit.push(r)
        r = many(batches(fresh(missIdx)), 0)
        if (keep) res.many_miss.push(r)
      } else if (p.getManyAsync !== undefined) {
        r = await manyAsync(batches(fresh(hitIdx)), n)
        if (keep) res.many_hit.push(r)
        r = await manyAsync(batches(fresh(missIdx)), 0)
        if (keep) res.many_miss.push(r)
      }
      if (p.bytes !== undefined) {
        r = bytes(fresh(hitIdx))
        if (keep) res.bytes_hit.push(r)
      }
      log(`${a.kind} pass ${pass}: hit ${Math.round(res.hit.at(-1) ?? 0)}/s`)
    }
    p.close()
    return res
  },

  /**
   * Map (or load) the table, touch every key, collect garbage, then report READY and stay
   * alive until stdin closes, so the parent can read /proc/<pid>/smaps_rollup.
   */
  async resident(a) {
    const ks = keyspace(a.seed, a.valueMin, a.valueMax)
    const t0 = performance.now()
    let found = 0
    // held on the global object: a local that is not read again may be collected (and a
    // collected mapping is unmapped) while the parent measures
    let keep
    if (a.kind === 'map') {
      // loading creates every entry; a lookup per key would only add garbage to collect
      const m = loadMap(a.table)
      found = m.size
      keep = m
    } else {
      const { open } = await importDist('read/open.js')
      const d = open(a.kind === 'pagefile' ? a.pagefile : a.pdlmdb)
      const kb = Buffer.alloc(KEY_BYTES)
      for (let i = 0; i < a.keys; i++) {
        ks.writeKey(kb, 0, i)
        if (d.lookupRange(kb, 0, KEY_BYTES)) found++
      }
      keep = d
    }
    if (found !== a.keys) throw new Error(`${a.kind}: touched ${found} of ${a.keys} keys`)
    globalThis.benchKeep = keep
    globalThis.gc?.()
    globalThis.gc?.()
    process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, ms: performance.now() - t0 })}\n`)
    await new Promise((resolve) => {
      process.stdin.on('data', () => {})
      process.stdin.on('end', resolve)
      process.stdin.on('close', resolve)
    })
    return { found, size: globalThis.benchKeep.size }
  },

  /** The naive scan: readline + split(',') + Map.has over the data files, Map loaded the same naive way. */
  async naive(a) {
    const t0 = performance.now()
    const map = new Map()
    const rlT = readline.createInterface({ input: fs.createReadStream(a.table), crlfDelay: Infinity })
    for await (const line of rlT) {
      const f = line.split('\t')
      map.set(f[0], f[1])
    }
    const loadMs = performance.now() - t0
    const cpu0 = process.cpuUsage()
    const t1 = performance.now()
    let lines = 0
    let matched = 0
    let bytes = 0
    for (const file of a.files) {
      const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })
      for await (const line of rl) {
        const fields = line.split(',')
        lines++
        if (map.has(fields[0])) matched++
      }
      bytes += fs.statSync(file).size
    }
    const scanMs = performance.now() - t1
    const cpu = process.cpuUsage(cpu0)
    return { load_ms: loadMs, scan_ms: scanMs, cpu_ms: (cpu.user + cpu.system) / 1000, bytes, lines, matched, peak_rss_mb: maxRssMb() }
  },

  /** The ceiling: read the data files in 1 MiB blocks and find the line ends, nothing else. */
  async lines(a) {
    const buf = Buffer.allocUnsafe(1 << 20)
    let lines = 0
    let bytes = 0
    const t0 = performance.now()
    for (const file of a.files) {
      const fd = fs.openSync(file, 'r')
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null)
        if (n === 0) break
        bytes += n
        let pos = buf.indexOf(10, 0)
        while (pos >= 0 && pos < n) {
          lines++
          pos = buf.indexOf(10, pos + 1)
        }
      }
      fs.closeSync(fd)
    }
    return { scan_ms: performance.now() - t0, bytes, lines }
  },

  /** Scale check: open time, then sampled lookups (get, has, getMany) with their values checked. */
  async sample(a) {
    const ks = keyspace(a.seed, a.valueMin, a.valueMax)
    const t0 = performance.now()
    const { open } = await importDist('read/open.js')
    const t1 = performance.now()
    const d = open(a.pagefile)
    const openMs = performance.now() - t1
    const rand = mulberry32(a.sampleSeed ?? 7)
    let wrong = 0
    let missing = 0
    const firstBad = []
    const t2 = performance.now()
    for (let j = 0; j < a.n; j++) {
      const i = Math.floor(rand() * a.keys)
      const got = d.get(ks.key(i))
      if (got === undefined) missing++
      else if (got !== ks.value(i)) wrong++
      if ((got === undefined || got !== ks.value(i)) && firstBad.length < 5) firstBad.push({ i, key: ks.key(i), got })
    }
    const lookupS = (performance.now() - t2) / 1000
    let falseHits = 0
    for (let j = 0; j < a.n; j++) if (d.has(ks.key(a.keys + Math.floor(rand() * a.keys)))) falseHits++
    // The same number of keys again through getMany (the native batch across all shards,
    // where it is built), in batches of 1000, half present and half absent.
    let manyS = 0
    for (let from = 0; from < a.n; from += 1000) {
      const idx = Array.from({ length: Math.min(1000, a.n - from) }, (_, j) => (j % 2 === 0 ? Math.floor(rand() * a.keys) : a.keys + Math.floor(rand() * a.keys)))
      const keys = idx.map((i) => ks.key(i))
      const t = performance.now()
      const got = d.getMany(keys)
      manyS += (performance.now() - t) / 1000
      got.forEach((v, j) => {
        const i = idx[j]
        if (i >= a.keys) {
          if (v !== undefined) falseHits++
        } else if (v === undefined) missing++
        else if (v !== ks.value(i)) wrong++
        if (i < a.keys && v !== ks.value(i) && firstBad.length < 5) firstBad.push({ i, key: keys[j], got: v, via: 'getMany' })
      })
    }
    return { import_ms: t1 - t0, open_ms: openMs, sampled: a.n, missing, wrong, false_hits: falseHits, first_bad: firstBad, lookups_per_s: a.n / lookupS, get_many_per_s: a.n / manyS, size: d.size, info: d.info() }
  },
}

const [mode, json] = process.argv.slice(2)
if (modes[mode] === undefined) {
  console.error(`usage: node bench/child.js <${Object.keys(modes).join('|')}> '<json args>'`)
  process.exit(2)
}
try {
  const r = await modes[mode](JSON.parse(json ?? '{}'))
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`)
  process.exit(0)
} catch (err) {
  process.stderr.write(`${mode} failed: ${err?.stack ?? err}\n`)
  process.exit(1)
}
