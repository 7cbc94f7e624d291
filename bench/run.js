#!/usr/bin/env node
/**
 * pagedict against its peers, in one run, on the same generated data (issue 5).
 *
 *   npm run bench                         # compiles, then: node bench/run.js
 *   node bench/run.js [--keys 5000000] [--files 8] [--file-mb 64] [--runs 3]
 *                     [--only build,open,lookups,scan,pss] [--lookups 500000]
 *                     [--no-cold] [--out <data dir>] [--results <file>]
 *   node bench/run.js --scale [--keys 50000000] [--value-min 60] [--value-max 100] [--memory 512]
 *
 * Peers: pagedict's page file, pagedict on LMDB, lmdb-js used directly, a JS Map loaded from
 * the TSV, JSON.parse of the table as one object, and the naive readline + split scan. Every
 * measurement that depends on a process's start (open, build, RSS) runs in a fresh child
 * process (bench/child.js); each figure is the median of --runs runs, the runs of the peers
 * interleaved so that noise from other work on the machine spreads over all of them.
 *
 * Data comes from bench/generate.js and is cached under os.tmpdir() (or --out), keyed by its
 * parameters; tables built here go to <data dir>/work. Results: a table on stdout (Markdown,
 * pasted into BENCHMARKS.md) and the raw figures in bench/results/latest.json.
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { generate, mb, parseFlags } from './generate.js'
import { READ_VERSION, WRITE_VERSION } from '../dist/format/layout.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(HERE, '..')
const CHILD = path.join(HERE, 'child.js')
const CLI = path.join(ROOT, 'bin', 'pagedict.js')
const FIGURES = ['build', 'open', 'lookups', 'scan', 'pss']

function usage(message) {
  process.stderr.write(`bench/run.js: ${message} (see --help)\n`)
  process.exit(2)
}

let flags
try {
  flags = parseFlags(process.argv.slice(2), {
  keys: 'number',
  files: 'number',
  'file-mb': 'number',
  seed: 'number',
  'value-min': 'number',
  'value-max': 'number',
  runs: 'number',
  only: 'string',
  lookups: 'number',
  batch: 'number',
  memory: 'number',
  'no-cold': 'bool',
  scale: 'bool',
  samples: 'number',
  out: 'string',
  results: 'string',
  verbose: 'bool',
  help: 'bool',
  })
} catch (err) {
  usage(err.message)
}
if (flags.help) {
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8')
  console.log(text.slice(text.indexOf('/**') + 3, text.indexOf('*/')).replace(/^ \* ?/gm, ''))
  process.exit(0)
}
const RUNS = flags.runs ?? 3
const only = new Set((flags.only ?? FIGURES.join(',')).split(',').map((s) => s.trim()))
for (const f of only) if (!FIGURES.includes(f)) usage(`--only: unknown figure "${f}" (figures: ${FIGURES.join(', ')})`)
if (!(Number.isInteger(RUNS) && RUNS >= 1)) usage(`--runs must be an integer >= 1, got ${RUNS}`)
const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)}s`
const say = (s) => process.stderr.write(`[${elapsed()}] ${s}\n`)

// ---------------------------------------------------------------- machine

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpu = m[1]
  } catch {}
  return {
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    cpu,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

/** Drop the page cache (root only). Returns whether it worked. */
function dropCaches() {
  try {
    spawnSync('sync')
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1\n')
    return true
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- children

function child(mode, args, nodeArgs = []) {
  const r = spawnSync(process.execPath, [...nodeArgs, CHILD, mode, JSON.stringify(args)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', flags.verbose ? 'inherit' : 'pipe'],
  })
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (r.status !== 0 || line === undefined) {
    throw new Error(`child ${mode} ${args.kind ?? ''} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr ?? ''}${r.stdout}`)
  }
  return JSON.parse(line.slice(7))
}

const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return undefined
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Run fn(kind, run) for every kind, `runs` times, interleaved; returns { kind: [results] }. */
function interleave(kinds, runs, fn) {
  const out = Object.fromEntries(kinds.map((k) => [k, []]))
  for (let run = 0; run < runs; run++) for (const k of kinds) out[k].push(fn(k, run))
  return out
}

// ---------------------------------------------------------------- figures

function figureBuild(ctx) {
  const kinds = ['pagefile', 'pdlmdb', 'lmdbjs', 'lmdbjs-sorted']
  say(`build: ${kinds.join(', ')}, ${RUNS} runs each`)
  const raw = interleave(kinds, RUNS, (kind, run) => {
    const r = child('build', { ...ctx.args, kind, out: ctx.tables[kind] })
    say(`  build ${kind} run ${run + 1}: ${(r.ms / 1000).toFixed(2)} s, peak RSS ${r.peak_rss_mb} MB, ${mb(r.bytes)} MB`)
    return r
  })
  const fig = {}
  for (const k of kinds) {
    fig[k] = {
      s: median(raw[k].map((r) => r.ms / 1000)),
      peak_rss_mb: median(raw[k].map((r) => r.peak_rss_mb)),
      size_mb: mb(raw[k].at(-1).bytes),
      size_x_tsv: raw[k].at(-1).bytes / ctx.data.tableBytes,
      sort_s: k === 'lmdbjs-sorted' ? median(raw[k].map((r) => r.sort_ms / 1000)) : undefined,
    }
  }
  return { fig, raw }
}

/** A page file's read_version/write_version (bytes 8-11): a table left by an older pagedict is rebuilt. */
function versionsOf(file) {
  const fd = fs.openSync(file, 'r')
  try {
    const head = Buffer.alloc(12)
    fs.readSync(fd, head, 0, 12, 0)
    return `${head.readUInt16LE(8)}/${head.readUInt16LE(10)}`
  } finally {
    fs.closeSync(fd)
  }
}

/** Make sure the tables the later figures read exist (when --only skips the build figure). */
function ensureTables(ctx) {
  for (const kind of ['pagefile', 'pdlmdb', 'lmdbjs']) {
    if (fs.existsSync(ctx.tables[kind]) && (kind !== 'pagefile' || versionsOf(ctx.tables[kind]) === `${READ_VERSION}/${WRITE_VERSION}`)) continue
    say(`building ${kind} (not timed: the build figure was skipped)`)
    child('build', { ...ctx.args, kind, out: ctx.tables[kind] })
  }
}

function figureOpen(ctx) {
  const kinds = ['pagefile', 'pdlmdb', 'lmdbjs', 'map', 'json']
  const probe = Math.floor(ctx.data.keys / 3)
  const one = (kind, preloadAddon = false) => child('open', { ...ctx.args, kind, probe, preloadAddon })
  say(`open + first lookup, page cache warm: ${kinds.join(', ')}, 1 warm-up + ${RUNS} runs each`)
  for (const k of kinds) one(k)
  const warm = interleave(kinds, RUNS, (k) => one(k))
  // pagedict's open() in a fresh process also loads the mmap addon; how much of it is that
  const preloaded = interleave(['pagefile'], RUNS, (k) => one(k, true))
  let cold
  if (!flags.noCold && ctx.canDrop) {
    say(`open + first lookup, cold (page cache dropped before each run): ${RUNS} runs each`)
    cold = interleave(kinds, RUNS, (k) => {
      dropCaches()
      return one(k)
    })
  }
  const fig = {}
  for (const k of kinds) {
    fig[k] = {
      warm_ms: median(warm[k].map((r) => r.ms)),
      warm_total_ms: median(warm[k].map((r) => r.ms + r.import_ms)),
      warm_addon_preloaded_ms: k === 'pagefile' ? median(preloaded[k].map((r) => r.ms)) : undefined,
      addon_ms: k === 'pagefile' ? median(preloaded[k].map((r) => r.addon_ms)) : undefined,
      warm_import_ms: median(warm[k].map((r) => r.import_ms)),
      cold_ms: cold ? median(cold[k].map((r) => r.ms)) : undefined,
      cold_import_ms: cold ? median(cold[k].map((r) => r.import_ms)) : undefined,
      peak_rss_mb: median(warm[k].map((r) => r.peak_rss_mb)),
    }
  }
  return { fig, raw: { warm, preloaded, cold }, cold: cold !== undefined }
}

function figureLookups(ctx) {
  const kinds = ['pagefile', 'pdlmdb', 'lmdbjs', 'map']
  const n = flags.lookups ?? 500_000
  const passes = Math.max(RUNS, 3)
  say(`lookups: ${kinds.join(', ')}; ${n} hits and ${n} misses per pass, 1 warm-up + ${passes} passes, one child per peer`)
  const fig = {}
  const raw = {}
  for (const kind of kinds) {
    const r = child('lookups', { ...ctx.args, kind, n, passes, batch: flags.batch ?? 1000 })
    raw[kind] = r
    fig[kind] = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]))
    say(`  ${kind}: hits ${fmtRate(fig[kind].hit)}/s, misses ${fmtRate(fig[kind].miss)}/s, getMany ${fmtRate(fig[kind].many_hit)}/${fmtRate(fig[kind].many_miss)}`)
  }
  return { fig, raw, n, passes }
}

function countJob(ctx, table, workers) {
  const args = [CLI, 'run', table, ...ctx.data.files, '--key', '1', '--json', '--workers', String(workers), '--no-progress']
  const cpu0 = childrenCpuSeconds()
  const t0 = performance.now()
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 })
  const ms = performance.now() - t0
  const cpuS = childrenCpuSeconds() - cpu0
  if (r.status !== 0) throw new Error(`pagedict run failed (status ${r.status}): ${r.stderr}`)
  const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  const total = recs.find((x) => x.type === 'total')
  const files = recs.filter((x) => x.type === 'file')
  if (total.matched !== ctx.data.hitLines || total.lines !== ctx.data.lines) {
    throw new Error(`count job: ${total.matched} matched of ${total.lines} lines, expected ${ctx.data.hitLines} of ${ctx.data.lines}`)
  }
  const jobMs = files.reduce((n, f) => n + f.ms, 0)
  return {
    wall_ms: ms,
    total_ms: total.ms,
    job_ms: jobMs,
    cpu_s: cpuS,
    cores_used: cpuS / (ms / 1000),
    bytes: total.bytes,
    mbps: total.bytes / 1048576 / (ms / 1000),
    mbps_cpu: total.bytes / 1048576 / cpuS,
    job_mbps_per_worker: total.bytes / 1048576 / (jobMs / 1000),
  }
}

/**
 * CPU seconds (user + system) of the children this process has waited for, from
 * /proc/self/stat (cutime, cstime): a command's workers are waited for by the command, so
 * their time is included.
 */
function childrenCpuSeconds() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields 16 and 17 of stat(5), counted from 1; f[0] is field 3
    return (Number(f[13]) + Number(f[14])) / 100
  } catch {
    return Number.NaN
  }
}

function figureScan(ctx) {
  // pagedict on LMDB with one worker only: at LMDB's lookup rate a run takes half a minute
  const variants = { 'pagefile-w1': [ctx.tables.pagefile, 1], 'pagefile-w2': [ctx.tables.pagefile, 2], 'pdlmdb-w1': [ctx.tables.pdlmdb, 1] }
  say(`scan: count job (pagedict run --json) with 1 and 2 workers, 1 warm-up + ${RUNS} runs; naive scan ${RUNS} runs`)
  countJob(ctx, ctx.tables.pagefile, 2) // warms the data files into the page cache
  const raw = interleave(Object.keys(variants), RUNS, (v, run) => {
    const r = countJob(ctx, ...variants[v])
    say(`  ${v} run ${run + 1}: ${r.mbps.toFixed(0)} MB/s (wall), ${r.mbps_cpu.toFixed(0)} MB per CPU-second, ${r.cores_used.toFixed(2)} cores busy; ${r.job_mbps_per_worker.toFixed(0)} MB/s per worker inside jobs`)
    return r
  })
  raw.naive = []
  for (let run = 0; run < RUNS; run++) {
    const r = child('naive', { ...ctx.args, files: ctx.data.files })
    if (r.matched !== ctx.data.hitLines) throw new Error(`naive scan matched ${r.matched}, expected ${ctx.data.hitLines}`)
    r.mbps = r.bytes / 1048576 / (r.scan_ms / 1000)
    r.mbps_cpu = r.bytes / 1048576 / (r.cpu_ms / 1000)
    say(`  naive run ${run + 1}: ${r.mbps.toFixed(1)} MB/s (wall, one thread), ${r.mbps_cpu.toFixed(1)} MB/s per CPU-second; Map load ${(r.load_ms / 1000).toFixed(1)} s`)
    raw.naive.push(r)
  }
  raw.lines = []
  for (let run = 0; run < RUNS; run++) {
    const r = child('lines', { files: ctx.data.files })
    if (r.lines !== ctx.data.lines) throw new Error(`line scan found ${r.lines} lines, expected ${ctx.data.lines}`)
    r.mbps = r.bytes / 1048576 / (r.scan_ms / 1000)
    raw.lines.push(r)
  }
  say(`  byte scan that only finds line ends (the ceiling): ${median(raw.lines.map((r) => r.mbps)).toFixed(0)} MB/s`)
  const fig = {}
  fig.lines = { mbps: median(raw.lines.map((r) => r.mbps)) }
  for (const v of Object.keys(variants)) {
    fig[v] = {
      mbps: median(raw[v].map((r) => r.mbps)),
      lines_per_s: median(raw[v].map((r) => ctx.data.lines / (r.wall_ms / 1000))),
      mbps_cpu: median(raw[v].map((r) => r.mbps_cpu)),
      cores_used: median(raw[v].map((r) => r.cores_used)),
      job_mbps_per_worker: median(raw[v].map((r) => r.job_mbps_per_worker)),
      wall_s: median(raw[v].map((r) => r.wall_ms / 1000)),
    }
  }
  fig.naive = { mbps: median(raw.naive.map((r) => r.mbps)), mbps_cpu: median(raw.naive.map((r) => r.mbps_cpu)), load_s: median(raw.naive.map((r) => r.load_ms / 1000)), scan_s: median(raw.naive.map((r) => r.scan_ms / 1000)) }
  return { fig, raw }
}

function smapsRollup(pid) {
  const out = {}
  for (const line of fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line)
    if (m) out[m[1]] = Number(m[2]) / 1024
  }
  return out
}

/** n processes that each map (or load) the table and touch every key; their PSS summed. */
async function residentSet(ctx, kind, n) {
  const procs = []
  for (let i = 0; i < n; i++) {
    const p = spawn(process.execPath, ['--expose-gc', CHILD, 'resident', JSON.stringify({ ...ctx.args, kind })], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stderr.on('data', (d) => (err += d))
    const ready = new Promise((resolve, reject) => {
      p.stdout.on('data', (d) => {
        out += d
        const m = /READY (.*)\n/.exec(out)
        if (m) resolve(JSON.parse(m[1]))
      })
      p.on('exit', (code) => reject(new Error(`resident ${kind} exited with ${code} before READY: ${err}`)))
    })
    const exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)))
    procs.push({ p, ready, exited })
  }
  const readies = await Promise.all(procs.map((x) => x.ready))
  const rollups = readies.map((r) => smapsRollup(r.pid))
  for (const x of procs) x.p.stdin.end()
  await Promise.all(procs.map((x) => x.exited))
  const sum = (f) => rollups.reduce((s, r) => s + (r[f] ?? 0), 0)
  return {
    pss_mb: sum('Pss'),
    rss_mb: sum('Rss'),
    pss_anon_mb: sum('Pss_Anon'),
    pss_file_mb: sum('Pss_File'),
    touch_ms: median(readies.map((r) => r.ms)),
    per_process: rollups.map((r) => ({ pss_mb: r.Pss, rss_mb: r.Rss, pss_anon_mb: r.Pss_Anon, pss_file_mb: r.Pss_File })),
  }
}

async function figurePss(ctx) {
  const kinds = ['pagefile', 'pdlmdb', 'map']
  say(`memory: 4 processes per peer (${kinds.join(', ')}) that map or load the table and touch every key; PSS from /proc/<pid>/smaps_rollup`)
  const fig = {}
  for (const kind of kinds) {
    fig[kind] = await residentSet(ctx, kind, 4)
    say(`  ${kind}: sum of PSS ${fig[kind].pss_mb.toFixed(0)} MB (sum of RSS ${fig[kind].rss_mb.toFixed(0)} MB)`)
  }
  return { fig }
}

// ---------------------------------------------------------------- report

function fmtRate(x) {
  if (x === undefined) return '–'
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`
}
const fmt = (x, d = 1) => (x === undefined ? undefined : x >= 100 ? x.toFixed(0) : x.toFixed(d))

/**
 * One row: the pagedict figure, then each peer with how many times better pagedict is
 * (higher-is-better figures: pagedict / peer; lower-is-better: peer / pagedict).
 */
function row(name, better, base, cells, show = (x) => fmt(x, 2)) {
  const out = [name, base === undefined ? '–' : show(base)]
  for (const c of cells) {
    if (c === undefined || c === null) out.push('')
    else if (base === undefined || c === 0) out.push(show(c))
    else out.push(`${show(c)} (${(better === 'higher' ? base / c : c / base).toFixed(1)}x)`)
  }
  return out
}

function markdownTable(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
  for (const r of rows) lines.push(`| ${[...r, ...Array(Math.max(0, header.length - r.length)).fill('')].join(' | ')} |`)
  return lines.join('\n')
}

function report(res) {
  const { build, open, lookups, scan, pss } = res.figures
  const header = ['figure', 'pagedict (page file)', 'pagedict on LMDB', 'lmdb-js', 'lmdb-js, sorted', 'Map', 'JSON.parse', 'naive scan']
  const rows = []
  const peers = (o, f, kinds = ['pdlmdb', 'lmdbjs', 'lmdbjs-sorted', 'map', 'json', 'naive']) => kinds.map((k) => (o?.[k] ? f(o[k]) : undefined))
  if (open) {
    const O = open.fig
    rows.push(row('open + first lookup, warm (ms)', 'lower', O.pagefile.warm_ms, peers(O, (x) => x.warm_ms)))
    rows.push(row('  of which loading the mmap addon (ms)', 'lower', O.pagefile.addon_ms, []))
    if (open.cold) rows.push(row('open + first lookup, cold (ms)', 'lower', O.pagefile.cold_ms, peers(O, (x) => x.cold_ms)))
    rows.push(row('module import, warm (ms, not in open)', 'lower', O.pagefile.warm_import_ms, peers(O, (x) => x.warm_import_ms || undefined)))
    rows.push(row('import + open + first lookup, warm (ms)', 'lower', O.pagefile.warm_total_ms, peers(O, (x) => x.warm_total_ms)))
    rows.push(row('peak RSS after open + lookup (MB)', 'lower', open.fig.pagefile.peak_rss_mb, peers(open.fig, (x) => x.peak_rss_mb), (x) => fmt(x, 0)))
  }
  if (lookups) {
    const L = lookups.fig
    rows.push(row('get, hits, one at a time (/s)', 'higher', L.pagefile.hit, peers(L, (x) => x.hit), fmtRate))
    rows.push(row('get, misses, one at a time (/s)', 'higher', L.pagefile.miss, peers(L, (x) => x.miss), fmtRate))
    rows.push(row(`getMany, hits, batches of ${flags.batch ?? 1000} (/s)`, 'higher', L.pagefile.many_hit, peers(L, (x) => x.many_hit), fmtRate))
    rows.push(row(`getMany, misses (/s)`, 'higher', L.pagefile.many_miss, peers(L, (x) => x.many_miss), fmtRate))
    rows.push(row('getBytes / getBinaryFast, hits (/s)', 'higher', L.pagefile.bytes_hit, peers(L, (x) => x.bytes_hit), fmtRate))
  }
  if (build) {
    const B = build.fig
    rows.push(row('build from the TSV (s)', 'lower', B.pagefile.s, peers(B, (x) => x.s)))
    rows.push(row('build peak RSS (MB)', 'lower', B.pagefile.peak_rss_mb, peers(B, (x) => x.peak_rss_mb), (x) => fmt(x, 0)))
    rows.push(row('file size (MB)', 'lower', B.pagefile.size_mb, peers(B, (x) => x.size_mb), (x) => fmt(x, 0)))
    rows.push(row('file size / TSV size', 'lower', B.pagefile.size_x_tsv, peers(B, (x) => x.size_x_tsv), (x) => x.toFixed(2)))
  }
  if (scan) {
    const S = scan.fig
    const naive = [undefined, undefined, undefined, undefined, undefined, S.naive.mbps]
    rows.push(row('count job, 1 worker (MB/s, wall)', 'higher', S['pagefile-w1'].mbps, [S['pdlmdb-w1'].mbps, ...naive.slice(1)]))
    rows.push(row('count job, 2 workers (MB/s, wall)', 'higher', S['pagefile-w2'].mbps, naive))
    rows.push(row('count job, inside the job (MB/s per worker)', 'higher', S['pagefile-w1'].job_mbps_per_worker, [S['pdlmdb-w1'].job_mbps_per_worker, ...naive.slice(1)]))
    rows.push(row('count job, 1 worker (MB per CPU-second)', 'higher', S['pagefile-w1'].mbps_cpu, [S['pdlmdb-w1'].mbps_cpu, undefined, undefined, undefined, undefined, S.naive.mbps_cpu]))
    rows.push(row('count job, 2 workers (MB per CPU-second)', 'higher', S['pagefile-w2'].mbps_cpu, [undefined, undefined, undefined, undefined, undefined, S.naive.mbps_cpu]))
    rows.push(row('count job, cores busy, 1 / 2 workers', 'higher', undefined, [], () => ''))
    rows.at(-1)[1] = `${S['pagefile-w1'].cores_used.toFixed(2)} / ${S['pagefile-w2'].cores_used.toFixed(2)}`
    rows.push(row('count job, 1 worker (lines/s, wall)', 'higher', S['pagefile-w1'].lines_per_s, [S['pdlmdb-w1'].lines_per_s], fmtRate))
    rows.push(row('reference: a byte scan that only finds line ends (MB/s)', 'higher', undefined, [undefined, undefined, undefined, undefined, undefined, S.lines.mbps], (x) => fmt(x, 0)))
  }
  if (pss) {
    const P = pss.fig
    rows.push(row('4 processes, sum of PSS (MB)', 'lower', P.pagefile.pss_mb, peers(P, (x) => x.pss_mb), (x) => fmt(x, 0)))
  }
  return markdownTable(header, rows)
}

function goals(res) {
  const { build, open, lookups, scan, pss } = res.figures
  const g = []
  const add = (figure, goal, measured, pass) => g.push({ figure, goal, measured, pass })
  if (lookups) {
    const L = lookups.fig
    const hit = L.pagefile.hit
    add('lookups, one key at a time', 'hits >= 3M/s', `${fmtRate(hit)}/s`, hit >= 3e6)
    add('lookups, one key at a time', 'hits >= 5x lmdb-js', `${(hit / L.lmdbjs.hit).toFixed(1)}x (lmdb-js ${fmtRate(L.lmdbjs.hit)}/s)`, hit >= 5 * L.lmdbjs.hit)
    add('lookups, one key at a time', 'hits >= 3x the Map', `${(hit / L.map.hit).toFixed(1)}x (Map ${fmtRate(L.map.hit)}/s)`, hit >= 3 * L.map.hit)
    add('lookups, one key at a time', 'misses >= 5M/s', `${fmtRate(L.pagefile.miss)}/s`, L.pagefile.miss >= 5e6)
    const mh = L.pagefile.many_hit / hit
    const mm = L.pagefile.many_miss / L.pagefile.miss
    add('getMany', '>= 1.3x one key at a time', `hits ${mh.toFixed(2)}x, misses ${mm.toFixed(2)}x`, mh >= 1.3 && mm >= 1.3)
  }
  if (open) {
    const o = open.fig.pagefile
    const worst = open.cold ? Math.max(o.warm_ms, o.cold_ms) : o.warm_ms
    add('open + first lookup', '<= 5 ms, cold or warm', `warm ${o.warm_ms.toFixed(2)} ms${open.cold ? `, cold ${o.cold_ms.toFixed(2)} ms` : ' (cold not measured)'}`, worst <= 5)
  }
  if (build) {
    const B = build.fig
    add('build', '>= 6x faster than lmdb-js in one transaction', `${(B.lmdbjs.s / B.pagefile.s).toFixed(1)}x (${B.pagefile.s.toFixed(1)} s vs ${B.lmdbjs.s.toFixed(1)} s)`, B.lmdbjs.s >= 6 * B.pagefile.s)
    add('build', 'peak RSS <= 256 MB', `${B.pagefile.peak_rss_mb.toFixed(0)} MB`, B.pagefile.peak_rss_mb <= 256)
    add('file size', '<= 1.2x the TSV', `${B.pagefile.size_x_tsv.toFixed(2)}x`, B.pagefile.size_x_tsv <= 1.2)
  }
  if (scan) {
    const S = scan.fig
    const r1 = S['pagefile-w1'].mbps / S.naive.mbps
    const c1 = S['pagefile-w1'].mbps_cpu / S.naive.mbps_cpu
    add('count job', '>= 9x the naive scan per core', `${r1.toFixed(1)}x (${S['pagefile-w1'].mbps.toFixed(0)} vs ${S.naive.mbps.toFixed(1)} MB/s); per CPU-second ${c1.toFixed(1)}x`, r1 >= 9)
    const r2 = S['pagefile-w2'].mbps / S['pagefile-w1'].mbps
    add('count job', '2 workers >= 1.7x one worker', `${r2.toFixed(2)}x (cores busy: ${S['pagefile-w1'].cores_used.toFixed(2)} with 1 worker, ${S['pagefile-w2'].cores_used.toFixed(2)} with 2)`, r2 >= 1.7)
  }
  if (pss) {
    const size = fs.statSync(res.tables.pagefile).size / 1048576
    const p = pss.fig.pagefile.pss_mb
    add('4 workers', 'sum of PSS <= table file + 4 x 28 MB', `${p.toFixed(0)} MB vs ${(size + 112).toFixed(0)} MB (file ${size.toFixed(0)} MB)`, p <= size + 112)
  }
  return g
}

// ---------------------------------------------------------------- scale

async function scale() {
  const p = {
    keys: flags.keys ?? 50_000_000,
    files: 0,
    fileMb: 1,
    seed: flags.seed ?? 1,
    valueMin: flags.valueMin ?? 60,
    valueMax: flags.valueMax ?? 100,
    out: flags.out,
  }
  const memory = flags.memory ?? 512
  const m = machine()
  console.log(`pagedict scale check  node ${m.node}  ${m.cores} cores  ${m.memory_gib} GiB  ${m.cpu}`)
  say(`generating ${p.keys} keys (values ${p.valueMin}-${p.valueMax} bytes)`)
  const data = generate(p, { json: false, log: say })
  console.log(`table: ${p.keys} keys, ${mb(data.tableBytes)} MB TSV (${data.table})`)
  const work = path.join(data.dir, 'work')
  fs.mkdirSync(work, { recursive: true })
  const out = path.join(work, 'scale.pdict')
  const args = { table: data.table, seed: p.seed, valueMin: p.valueMin, valueMax: p.valueMax, keys: p.keys, pagefile: out }
  say(`building with --memory ${memory}`)
  const b = child('build', { ...args, kind: 'pagefile', out, memory })
  const info = b.report
  console.log(`build: ${(b.ms / 1000).toFixed(1)} s, peak RSS ${b.peak_rss_mb} MB (bound ${memory} MiB), ${mb(info.bytes)} MB on disk (${(info.bytes / data.tableBytes).toFixed(2)}x the TSV) in ${info.shards} shards`)
  const samples = flags.samples ?? 200_000
  const warm = child('sample', { ...args, n: samples })
  let cold
  if (!flags.noCold && dropCaches()) cold = child('sample', { ...args, n: 1000, sampleSeed: 99 })
  const ok = warm.missing === 0 && warm.wrong === 0 && warm.false_hits === 0 && (cold === undefined || (cold.missing === 0 && cold.wrong === 0))
  console.log(`open: ${warm.open_ms.toFixed(2)} ms warm${cold ? `, ${cold.open_ms.toFixed(2)} ms cold` : ''}; ${warm.sampled} sampled keys: ${warm.missing} missing, ${warm.wrong} wrong values, ${warm.false_hits} absent keys found; get ${fmtRate(warm.lookups_per_s)}/s, getMany ${fmtRate(warm.get_many_per_s)}/s (and as many again through getMany, half absent)`)
  console.log(ok ? 'PASS: every sampled key found with the right value' : `FAIL: ${JSON.stringify(warm.first_bad)}`)
  const res = { kind: 'scale', machine: m, params: p, memory_mib: memory, table_bytes: data.tableBytes, build: b, open_warm: warm, open_cold: cold, pass: ok, elapsed_s: (performance.now() - started) / 1000 }
  writeResults(res, flags.results ?? path.join(HERE, 'results', 'scale.json'))
}

function writeResults(res, file) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  // Paths of this machine stay out of the committed results: the data directory is named
  // relative to the temp dir.
  const text = JSON.stringify(res, null, 1).split(os.tmpdir()).join('$TMPDIR')
  fs.writeFileSync(file, `${text}\n`)
  say(`raw results: ${path.relative(process.cwd(), file)}`)
}

// ---------------------------------------------------------------- main

async function main() {
  if (flags.scale) return scale()
  const p = { keys: flags.keys, files: flags.files, fileMb: flags.fileMb, seed: flags.seed, valueMin: flags.valueMin, valueMax: flags.valueMax, out: flags.out }
  const m = machine()
  console.log(`pagedict benchmarks  node ${m.node}  ${m.platform}`)
  console.log(`machine: ${m.cores} cores, ${m.memory_gib} GiB, ${m.cpu}; load average ${m.loadavg.join(' ')}`)
  const needJson = only.has('open')
  const data = generate(p, { json: needJson, log: say })
  console.log(
    `data: ${data.keys} keys, TSV ${mb(data.tableBytes)} MB${data.jsonBytes ? `, JSON ${mb(data.jsonBytes)} MB` : ''}; ` +
      `${data.files.length} data files, ${mb(data.dataBytes)} MB, ${data.lines} lines, ${((data.hitLines / data.lines) * 100).toFixed(1)}% hits (${data.dir})`,
  )
  const work = path.join(data.dir, 'work')
  fs.mkdirSync(work, { recursive: true })
  const tables = {
    pagefile: path.join(work, 'table.pdict'),
    pdlmdb: path.join(work, 'table.lmdb'),
    lmdbjs: path.join(work, 'lmdbjs.mdb'),
    'lmdbjs-sorted': path.join(work, 'lmdbjs-sorted.mdb'),
  }
  const args = { ...tables, table: data.table, json: data.json, seed: data.params.seed, valueMin: data.params.valueMin, valueMax: data.params.valueMax, keys: data.keys }
  const canDrop = !flags.noCold && only.has('open') && dropCaches()
  if (only.has('open') && !flags.noCold && !canDrop) say('cannot drop the page cache (not root?): cold figures skipped, warm only')
  const ctx = { data, tables, args, canDrop }
  const res = { machine: m, params: data.params, runs: RUNS, data: { keys: data.keys, tsv_bytes: data.tableBytes, json_bytes: data.jsonBytes, data_files: data.files.length, data_bytes: data.dataBytes, lines: data.lines, hit_lines: data.hitLines }, tables, figures: {} }
  // other work on the machine shows in the load average; it is recorded with each figure
  const measure = async (name, fn) => {
    if (!only.has(name)) return
    const before = os.loadavg()[0]
    res.figures[name] = await fn(ctx)
    res.figures[name].loadavg_1min = [before, os.loadavg()[0]]
  }
  await measure('build', figureBuild)
  ensureTables(ctx)
  await measure('open', figureOpen)
  await measure('lookups', figureLookups)
  await measure('scan', figureScan)
  await measure('pss', figurePss)
  res.elapsed_s = (performance.now() - started) / 1000
  res.loadavg_end = os.loadavg()
  console.log(`\nmedians of ${RUNS} runs (lookups: of ${res.figures.lookups?.passes ?? RUNS} passes); in parentheses: how many times better pagedict's page file is\n`)
  console.log(report(res))
  res.goals = goals(res)
  console.log('\ngoals (issue 5):\n')
  console.log(markdownTable(['figure', 'goal', 'measured', ''], res.goals.map((x) => [x.figure, x.goal, x.measured, x.pass ? 'PASS' : 'FAIL'])))
  console.log(`\nopen cold figures: ${res.figures.open?.cold ? 'page cache dropped before each run (echo 1 > /proc/sys/vm/drop_caches)' : 'not measured'}; total time ${elapsed()}`)
  writeResults(res, flags.results ?? path.join(HERE, 'results', 'latest.json'))
}

await main()
