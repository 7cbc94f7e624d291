/**
 * The corruption fuzzer's child process (test/reliability-corruption.test.ts spawns it with a
 * timeout, so a native crash or a hang fails that test instead of killing vitest). It runs
 * against the compiled library in dist/.
 *
 *   node test/helpers/corruption-child.mjs <manifest.json>
 *
 * The manifest names pristine tables (each in its own directory) and the keys they hold. Each
 * iteration copies one table into a scratch directory (hard links for the files it leaves
 * alone), mutates it with a seeded PRNG, then runs open, get/has/getBytes of present and
 * absent keys, getMany, run's native CSV lookups, a full iteration, info and verify. Each must succeed or throw
 * PagedictError. verify must flag (throw PagedictError, or ok: false) every mutation marked
 * `mustFlag`: every byte of a page file lies in a checksummed region (table header, shard
 * header page, data page or value area), so any changed byte, any length change, a missing
 * shard and a shard of another build or position must be caught. A mutation whose bytes are
 * re-sealed (checksums recomputed after the change: a hostile file, not an accident) need not
 * be flagged, but must still give an error or an answer, never a crash or a hang.
 *
 * Before each iteration the child writes its description to the progress file, so a crash or
 * a hang names the mutation. The last stdout line is a JSON summary.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { PagedictError } from '../../dist/errors.js'
import * as L from '../../dist/format/layout.js'
import { readHeaderFromFile } from '../../dist/read/header.js'
import { LineScan } from '../../dist/read/native.js'
import { open } from '../../dist/read/open.js'
import { verify } from '../../dist/read/verify.js'

const manifest = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const { iterations, scratch, progress } = manifest
const next = rng(manifest.seed)

/** Load each fixture's pristine bytes and geometry once. */
const fixtures = manifest.fixtures.map((f) => {
  const files = Object.fromEntries(f.files.map((name) => [name, fs.readFileSync(path.join(f.dir, name))]))
  const alt = f.alt && { dir: f.alt.dir, files: Object.fromEntries(f.alt.files.map((name) => [name, fs.readFileSync(path.join(f.alt.dir, name))])) }
  const header = f.kind === 'pagefile' ? readHeaderFromFile(path.join(f.dir, f.table)) : undefined
  return { ...f, bytes: files, alt, header }
})

const counts = {}
const kinds = {}
const violations = []

async function main() {
  const progressFd = fs.openSync(progress, 'w')
  for (let i = 0; i < iterations; i++) {
    // A closed table's mapping is unmapped by a finalizer that runs only when the event loop
    // turns: a loop that never yields keeps every mapping (and dies at vm.max_map_count).
    if (i % 200 === 0) await new Promise((resolve) => setImmediate(resolve))
    const f = fixtures[i % fixtures.length]
    const m = f.kind === 'pagefile' ? pageFileMutation(f) : lmdbMutation(f)
    const desc = `#${i} ${f.name}: ${m.desc}`
    fs.ftruncateSync(progressFd, 0)
    fs.writeSync(progressFd, desc + '\n', 0)
    stage(f, m)
    const outcome = exercise(f, m, desc)
    counts[outcome] = (counts[outcome] ?? 0) + 1
    const kind = m.desc.slice(0, m.desc.indexOf(':'))
    kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  fs.closeSync(progressFd)
  process.stdout.write(JSON.stringify({ iterations, counts, kinds, violations: violations.slice(0, 30), violationCount: violations.length }) + '\n')
}

// ---- running one mutated table --------------------------------------------------------------

function violation(desc, what, err) {
  violations.push(`${desc}: ${what}${err === undefined ? '' : `: ${err?.name}: ${err?.message}\n${String(err?.stack).split('\n').slice(1, 4).join('\n')}`}`)
}

/** Run `op`; a PagedictError counts as a clean refusal, anything else is a violation. */
function attempt(desc, what, op) {
  try {
    return { ok: true, value: op() }
  } catch (err) {
    if (!(err instanceof PagedictError)) violation(desc, `${what} threw a non-PagedictError`, err)
    return { ok: false, error: err }
  }
}

function exercise(f, m, desc) {
  const table = path.join(scratch, f.table)
  const opened = attempt(desc, 'open', () => open(table))
  if (opened.ok) {
    const dict = opened.value
    let answers = 0
    let wrong = 0
    for (const k of f.present) {
      const got = attempt(desc, `get(${JSON.stringify(k)})`, () => dict.get(k))
      if (got.ok) {
        answers++
        if (JSON.stringify(got.value) !== JSON.stringify(f.expected[k])) wrong++
      }
      attempt(desc, 'has', () => dict.has(k))
      attempt(desc, 'getBytes', () => dict.getBytes(Buffer.from(k, 'utf8')))
    }
    for (const k of f.absent) {
      const got = attempt(desc, `get(absent ${JSON.stringify(k)})`, () => dict.get(k))
      if (got.ok && got.value !== undefined) wrong++
      attempt(desc, 'has(absent)', () => dict.has(k))
    }
    attempt(desc, 'getMany', () => dict.getMany([...f.present, ...f.absent]))
    if (typeof dict.scanLines === 'function') {
      // run's native CSV path: the same keys as records of a block
      const block = Buffer.from([...f.present, ...f.absent].map((k) => `${k.replace(/[",\r\n]/g, '')},tail\n`).join(''), 'utf8')
      attempt(desc, 'scanLines', () => dict.scanLines(new LineScan(), block, 0, block.length, true))
    }
    attempt(desc, 'iteration', () => {
      let n = 0
      for (const entry of dict) if (entry[0] !== undefined) n++
      return n
    })
    attempt(desc, 'size', () => dict.size)
    attempt(desc, 'info', () => dict.info())
    attempt(desc, 'close', () => dict.close())
    // An unchanged table must answer exactly as built (a changed one may answer wrongly).
    if (m.changed === false && (wrong > 0 || answers !== f.present.length)) {
      violation(desc, `unchanged table gave ${wrong} wrong and ${f.present.length - answers} failed answers`)
    }
  }
  const report = attempt(desc, 'verify', () => verify(table))
  const flagged = !report.ok || report.value.ok === false
  if (m.mustFlag && !flagged) violation(desc, 'verify did not flag the damage')
  if (m.changed === false && flagged) violation(desc, `verify flagged an unchanged table: ${report.ok ? report.value.problems[0] : report.error.message}`)
  return !opened.ok ? 'refused at open' : flagged ? 'opened, flagged by verify' : 'opened, verify ok'
}

// ---- staging a mutation in the scratch directory -------------------------------------------

/** Put the fixture's files in `scratch`: hard links, except the ones the mutation rewrites. */
function stage(f, m) {
  for (const name of fs.readdirSync(scratch)) fs.rmSync(path.join(scratch, name), { force: true })
  for (const name of Object.keys(f.bytes)) {
    if (name in m.files) continue
    fs.linkSync(path.join(f.dir, name), path.join(scratch, name))
  }
  for (const [name, bytes] of Object.entries(m.files)) if (bytes !== null) fs.writeFileSync(path.join(scratch, name), bytes)
}

// ---- page-file mutations --------------------------------------------------------------------

/** The regions of one file of a page-file table: [start, end) per kind of bytes. */
function regionsOf(f, name) {
  const h = f.header
  const size = f.bytes[name].length
  if (name === f.table) {
    const headerBytes = h.headerPages * L.PAGE_SIZE
    const out = [{ kind: 'table header', start: 0, end: headerBytes }]
    if (h.shards[0].name === '') out.push(...segmentRegions(h.shards[0]))
    return out.filter((r) => r.end > r.start && r.end <= size)
  }
  const s = h.shards.find((x) => x.name === name)
  return [{ kind: 'shard header', start: 0, end: L.SH_HEADER_BYTES }, ...segmentRegions(s)].filter((r) => r.end > r.start)
}

function segmentRegions(s) {
  return [
    { kind: 'data pages', start: s.dataOffset, end: s.dataOffset + s.pageCount * L.PAGE_SIZE, shard: s },
    { kind: 'value area', start: s.valueOffset, end: s.valueOffset + s.valueLength, shard: s },
  ]
}

function pick(list) {
  return list[Math.floor(next() * list.length)]
}

function int(n) {
  return Math.floor(next() * n)
}

const INTERESTING_U32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
const INTERESTING_U64 = [0, 1, 4096, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -1 /* all ones */, -(2 ** 63) /* sign bit only */]

function writeU64(buf, at, v) {
  if (v === -1) {
    buf.writeUInt32LE(0xffffffff, at)
    buf.writeUInt32LE(0xffffffff, at + 4)
  } else if (v === -(2 ** 63)) {
    buf.writeUInt32LE(0, at)
    buf.writeUInt32LE(0x80000000, at + 4)
  } else L.writeU64(buf, at, v)
}

/** Header fields: [offset, width] of every numeric field of the table header and entry 0..n. */
function tableHeaderFields(h) {
  const fields = [
    [L.H_READ_VERSION_OFF, 2], [L.H_WRITE_VERSION_OFF, 2], [L.H_PAGE_SIZE_OFF, 4], [L.H_FLAGS_OFF, 4], [L.H_HEADER_PAGES_OFF, 4],
    [L.H_SHARD_COUNT_OFF, 4], [L.H_KEY_COUNT_OFF, 8], [L.H_SEED_OFF, 8], [L.H_BUCKET_COUNT_OFF, 4], [L.H_CODEC_OFF, 1], [L.H_HASH_ID_OFF, 1],
    [L.H_RESERVED1_OFF, 2], [L.H_BUILD_TIME_OFF, 8], [L.H_META_OFF_OFF, 4], [L.H_META_LEN_OFF, 4], [L.H_RESERVED2_OFF, 8],
  ]
  const entry = [
    [L.S_FIRST_BUCKET_OFF, 4], [L.S_BUCKET_COUNT_OFF, 4], [L.S_PAGE_COUNT_OFF, 4], [L.S_MAX_SPILL_OFF, 4], [L.S_KEY_COUNT_OFF, 8],
    [L.S_DATA_OFF_OFF, 8], [L.S_VALUE_OFF_OFF, 8], [L.S_VALUE_LEN_OFF, 8], [L.S_FILE_LEN_OFF, 8], [L.S_VALUE_CRC_OFF, 4], [L.S_RESERVED_OFF, 4],
  ]
  for (let i = 0; i < h.shards.length; i++) for (const [off, w] of entry) fields.push([L.H_DIRECTORY_OFF + i * L.SHARD_ENTRY_BYTES + off, w])
  return fields
}

const SHARD_HEADER_FIELDS = [[L.SH_READ_VERSION_OFF, 2], [L.SH_WRITE_VERSION_OFF, 2], [L.SH_PAGE_SIZE_OFF, 4], [L.SH_INDEX_OFF, 4], [L.SH_FIRST_BUCKET_OFF, 4], [L.SH_BUCKET_COUNT_OFF, 4], [L.SH_PAGE_COUNT_OFF, 4]]

/** Set a field to an interesting (huge, "negative", zero, off-by-one) or random value. */
function setField(buf, off, width) {
  const before = Buffer.from(buf.subarray(off, off + width))
  if (width === 1) buf[off] = pick([0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, buf[off] + 1 & 0xff])
  else if (width === 2) buf.writeUInt16LE(pick([0, 1, 2, 0x7fff, 0x8000, 0xffff, (buf.readUInt16LE(off) + 1) & 0xffff]), off)
  else if (width === 4) {
    const old = buf.readUInt32LE(off)
    buf.writeUInt32LE(next() < 0.8 ? pick(INTERESTING_U32) : pick([(old + 1) >>> 0, (old - 1) >>> 0, int(2 ** 32)]), off)
  } else {
    const old = L.readU64(buf, off)
    writeU64(buf, off, next() < 0.8 ? pick(INTERESTING_U64) : pick([old + 1, Math.max(0, old - 1), old + 4096, int(2 ** 32) * 4096]))
  }
  return `${before.toString('hex')} -> ${buf.subarray(off, off + width).toString('hex')}`
}

/** Recompute the table header's checksum (over the header_pages the mutated header claims). */
function sealTableHeader(buf) {
  const pages = buf.readUInt32LE(L.H_HEADER_PAGES_OFF)
  const bytes = pages * L.PAGE_SIZE
  if (pages < 1 || bytes > buf.length) return false
  const region = buf.subarray(0, bytes)
  L.sealChecksum(region, L.H_CHECKSUM_OFF, zlib.crc32)
  return true
}

function sealPage(buf, at) {
  const page = buf.subarray(at, at + L.PAGE_SIZE)
  page.writeUInt32LE(0, L.P_CHECKSUM_OFF)
  page.writeUInt32LE(zlib.crc32(page), L.P_CHECKSUM_OFF)
}

/** Damage bytes in [start, end): bit flips, a run of one byte value, or random bytes. */
function damage(buf, start, end) {
  const r = next()
  if (r < 0.45) {
    const flips = 1 + int(8)
    const at = []
    for (let k = 0; k < flips; k++) {
      const pos = start + int(end - start)
      buf[pos] ^= 1 << int(8)
      at.push(pos)
    }
    return `${flips} bit flip(s) at ${at.join(',')}`
  }
  const len = Math.min(end - start, 1 + int(next() < 0.7 ? 16 : 512))
  const pos = start + int(end - start - len + 1)
  const fill = pick(['zero', 'ones', 'random', 'byte'])
  const b = int(256)
  for (let k = 0; k < len; k++) buf[pos + k] = fill === 'zero' ? 0 : fill === 'ones' ? 0xff : fill === 'random' ? int(256) : b
  return `${len} ${fill} byte(s) at ${pos}`
}

/** A structural spot in a data page: count, flags, overflow, fingerprints, offsets, a record head. */
function pageSpot(buf, base) {
  const count = buf.readUInt16LE(base)
  const spots = [base + L.P_COUNT_OFF, base + L.P_COUNT_OFF + 1, base + L.P_FLAGS_OFF, base + L.P_RESERVED_OFF, base + L.P_OVERFLOW_OFF + int(8)]
  // The count may itself be damaged already: only a directory that fits the page is followed.
  if (count > 0 && L.P_HEADER_BYTES + L.DIRECTORY_BYTES_PER_RECORD * count <= L.PAGE_SIZE) {
    const i = int(count)
    spots.push(base + L.P_FINGERPRINTS_OFF + i, base + L.P_FINGERPRINTS_OFF + count + 2 * i, base + L.P_FINGERPRINTS_OFF + count + 2 * i + 1)
    const rec = base + buf.readUInt16LE(base + L.P_FINGERPRINTS_OFF + count + 2 * i)
    if (rec + 10 < base + L.PAGE_SIZE) spots.push(rec, rec + 1, rec + 2, rec + 3)
  }
  return pick(spots)
}

function pageFileMutation(f) {
  const h = f.header
  const names = Object.keys(f.bytes)
  const shardNames = h.shards.map((s) => s.name).filter((n) => n !== '')
  const kinds = ['damage', 'damage', 'damage', 'truncate', 'extend', 'field', 'sealed field', 'sealed page', 'sealed page', 'page swap', 'page copy', 'sealed value area', 'none']
  if (shardNames.length > 0) kinds.push('missing shard', 'shard swap', 'other build', 'sealed shard header', 'sealed shard name')
  const kind = pick(kinds)
  const copy = (name) => Buffer.from(f.bytes[name])
  const mutation = (desc, files, flags = {}) => ({ desc: `${kind}: ${desc}`, files, mustFlag: true, sealed: false, ...flags })

  if (kind === 'none') return mutation('no change', {}, { mustFlag: false, changed: false })
  if (kind === 'damage') {
    const name = pick(names)
    const buf = copy(name)
    const region = pick(regionsOf(f, name))
    const what = damage(buf, region.start, region.end)
    if (buf.equals(f.bytes[name])) return mutation(`${name} ${region.kind}: ${what} (no change)`, {}, { mustFlag: false, changed: false })
    return mutation(`${name} ${region.kind}: ${what}`, { [name]: buf })
  }
  if (kind === 'truncate') {
    const name = pick(names)
    const size = f.bytes[name].length
    const to = pick([0, 1, 7, 8, 64, 4095, 4096, size - 1, size - L.PAGE_SIZE, int(size)].filter((n) => n >= 0 && n < size))
    return mutation(`${name} cut from ${size} to ${to} bytes`, { [name]: Buffer.from(f.bytes[name].subarray(0, to)) })
  }
  if (kind === 'extend') {
    const name = pick(names)
    const extra = Buffer.alloc(pick([1, 8, 4096, 1 + int(9000)]), next() < 0.5 ? 0 : int(256))
    return mutation(`${name} extended by ${extra.length} bytes`, { [name]: Buffer.concat([f.bytes[name], extra]) })
  }
  if (kind === 'field' || kind === 'sealed field') {
    const buf = copy(f.table)
    const [off, width] = pick(tableHeaderFields(h))
    const what = setField(buf, off, width)
    if (buf.equals(f.bytes[f.table])) return mutation(`header field @${off} unchanged`, {}, { mustFlag: false, changed: false })
    if (kind === 'sealed field') {
      if (!sealTableHeader(buf)) return mutation(`header field @${off}: ${what}, not sealable`, { [f.table]: buf })
      return mutation(`header field @${off}: ${what}, checksum resealed`, { [f.table]: buf }, { mustFlag: false, sealed: true })
    }
    return mutation(`header field @${off}: ${what}`, { [f.table]: buf })
  }
  if (kind === 'sealed shard name') {
    // A directory entry naming another file: another shard, the table itself, nothing, a path.
    const buf = copy(f.table)
    const i = int(h.shards.length)
    const at = L.H_DIRECTORY_OFF + i * L.SHARD_ENTRY_BYTES + L.S_NAME_OFF
    const choices = ['', '.', '..', 'a/b', '/etc/passwd', f.table, 'no-such-shard', ...shardNames]
    const name = next() < 0.85 ? Buffer.from(pick(choices)) : Buffer.from(Array.from({ length: 1 + int(L.SHARD_NAME_BYTES) }, () => 1 + int(255)))
    buf.fill(0, at, at + L.SHARD_NAME_BYTES)
    name.copy(buf, at, 0, Math.min(name.length, L.SHARD_NAME_BYTES))
    if (buf.equals(f.bytes[f.table])) return mutation(`shard ${i} name unchanged`, {}, { mustFlag: false, changed: false })
    sealTableHeader(buf)
    return mutation(`shard ${i} named ${JSON.stringify(name.toString('latin1'))}, header checksum resealed`, { [f.table]: buf }, { mustFlag: false, sealed: true })
  }
  if (kind === 'sealed shard header') {
    const name = pick(shardNames)
    const buf = copy(name)
    const r = next()
    let what
    if (r < 0.7) {
      const [off, width] = pick(SHARD_HEADER_FIELDS)
      what = `field @${off}: ${setField(buf, off, width)}`
    } else {
      what = damage(buf, 0, L.SH_HEADER_BYTES)
    }
    L.sealChecksum(buf.subarray(0, L.SH_HEADER_BYTES), L.SH_CHECKSUM_OFF, zlib.crc32)
    return mutation(`${name} ${what}, checksum resealed`, { [name]: buf }, { mustFlag: false, sealed: true })
  }
  // The rest work on the data pages or the value area of one segment.
  const segIndex = int(h.shards.length)
  const s = h.shards[segIndex]
  const name = s.name === '' ? f.table : s.name
  const buf = copy(name)
  if (kind === 'sealed page') {
    const page = int(s.pageCount)
    const base = s.dataOffset + page * L.PAGE_SIZE
    const spots = 1 + int(3)
    const parts = []
    for (let k = 0; k < spots; k++) {
      if (next() < 0.6) {
        const at = pageSpot(buf, base)
        const before = buf[at]
        buf[at] = next() < 0.5 ? buf[at] ^ (1 << int(8)) : pick([0, 0x7f, 0x80, 0xff, int(256)])
        parts.push(`byte ${at - base} ${before}->${buf[at]}`)
      } else parts.push(damage(buf, base + L.P_HEADER_BYTES, base + L.PAGE_SIZE))
    }
    sealPage(buf, base)
    return mutation(`${name} page ${page}: ${parts.join('; ')}, page checksum resealed`, { [name]: buf }, { mustFlag: false, sealed: true })
  }
  if (kind === 'page swap' || kind === 'page copy') {
    if (s.pageCount < 2) return mutation('one page only: no change', {}, { mustFlag: false, changed: false })
    const a = int(s.pageCount)
    let b = int(s.pageCount - 1)
    if (b >= a) b++
    const pa = s.dataOffset + a * L.PAGE_SIZE
    const pb = s.dataOffset + b * L.PAGE_SIZE
    const pageA = Buffer.from(buf.subarray(pa, pa + L.PAGE_SIZE))
    const pageB = Buffer.from(buf.subarray(pb, pb + L.PAGE_SIZE))
    if (pageA.equals(pageB)) return mutation(`pages ${a} and ${b} are equal: no change`, {}, { mustFlag: false, changed: false })
    pageA.copy(buf, pb)
    if (kind === 'page swap') pageB.copy(buf, pa)
    return mutation(`${name} pages ${a} and ${b} (${pageA.readUInt16LE(0)} and ${pageB.readUInt16LE(0)} records)`, { [name]: buf })
  }
  if (kind === 'sealed value area') {
    if (s.valueLength === 0) return mutation('no value area: no change', {}, { mustFlag: false, changed: false })
    const what = damage(buf, s.valueOffset, s.valueOffset + s.valueLength)
    const crc = zlib.crc32(buf.subarray(s.valueOffset, s.valueOffset + s.valueLength))
    const table = name === f.table ? buf : copy(f.table)
    table.writeUInt32LE(crc, L.H_DIRECTORY_OFF + segIndex * L.SHARD_ENTRY_BYTES + L.S_VALUE_CRC_OFF)
    sealTableHeader(table)
    const files = name === f.table ? { [name]: buf } : { [name]: buf, [f.table]: table }
    return mutation(`${name} value area: ${what}, value and header checksums resealed`, files, { mustFlag: false, sealed: true })
  }
  if (kind === 'missing shard') {
    const gone = pick(shardNames)
    return mutation(`${gone} removed`, { [gone]: null })
  }
  if (kind === 'shard swap') {
    const a = int(shardNames.length)
    let b = int(shardNames.length - 1)
    if (b >= a) b++
    return mutation(`${shardNames[a]} <-> ${shardNames[b]}`, { [shardNames[a]]: f.bytes[shardNames[b]], [shardNames[b]]: f.bytes[shardNames[a]] })
  }
  if (kind === 'other build') {
    const alt = f.alt
    const altTable = alt.files[f.table]
    const altHeader = readHeaderFromFile(path.join(alt.dir, f.table))
    if (next() < 0.5) {
      // This build's table file naming the other build's shards, which are not there.
      return mutation(`table file of the other build`, { [f.table]: altTable })
    }
    // A shard of the other build under this build's shard name.
    const k = int(shardNames.length)
    const other = altHeader.shards[Math.min(k, altHeader.shards.length - 1)].name
    return mutation(`${shardNames[k]} replaced by the other build's ${other}`, { [shardNames[k]]: alt.files[other] })
  }
  throw new Error(`unknown mutation ${kind}`)
}

// ---- LMDB mutations ---------------------------------------------------------------------------

/**
 * LMDB keeps no checksums, and lmdb-js crashes the process (SIGSEGV/SIGBUS) on some damage in
 * the middle of the file: that is LMDB's behaviour, which pagedict does not promise about
 * (README, Promises). What pagedict checks before LMDB maps the file is fuzzed here: the two
 * meta pages (bytes and fields) and the file's length. Nothing is required of verify.
 */
function lmdbMutation(f) {
  const name = f.table
  const bytes = f.bytes[name]
  const pageSize = bytes.readUInt32LE(48)
  const kind = pick(['meta damage', 'meta damage', 'meta field', 'truncate', 'extend', 'none'])
  const buf = Buffer.from(bytes)
  const mutation = (desc, files, extra = {}) => ({ desc: `lmdb ${kind}: ${desc}`, files, mustFlag: false, sealed: false, ...extra })
  if (kind === 'none') return mutation('no change', {}, { changed: false })
  if (kind === 'meta damage') {
    const meta = int(2) * pageSize
    const what = damage(buf, meta, meta + (next() < 0.8 ? 160 : pageSize))
    return mutation(`meta page ${meta / pageSize}: ${what}`, { [name]: buf })
  }
  if (kind === 'meta field') {
    // mm_magic, mm_version, mm_mapsize, the two MDB_db records, mm_last_pg, mm_txnid
    const meta = int(2) * pageSize
    const off = meta + pick([24, 28, 40, 48, 52, 54, 56, 64, 72, 80, 88, 96, 100, 102, 104, 112, 120, 128, 136, 144, 152])
    const what = setField(buf, off, off % 8 === 0 ? 8 : 4)
    return mutation(`meta page ${meta / pageSize} field @${off % pageSize}: ${what}`, { [name]: buf })
  }
  if (kind === 'truncate') {
    const to = pick([0, 16, 100, pageSize, 2 * pageSize - 1, 2 * pageSize, bytes.length - pageSize, int(bytes.length)].filter((n) => n >= 0 && n < bytes.length))
    return mutation(`cut from ${bytes.length} to ${to} bytes`, { [name]: Buffer.from(bytes.subarray(0, to)) })
  }
  const extra = Buffer.alloc(pick([1, pageSize, 1 + int(9000)]), int(256))
  return mutation(`extended by ${extra.length} bytes`, { [name]: Buffer.concat([bytes, extra]) })
}

/** mulberry32, as test/helpers/random.ts (this file runs under plain node, without TypeScript). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

await main()
