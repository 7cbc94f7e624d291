/**
 * Build a page-file table from a record source in bounded memory:
 *
 *   pass 1  read the input (input files: in a worker thread, worker-input.ts), hash each
 *           key, append it to its hash-range partition (in memory, spilled to one file
 *           past the memory bound; partitioner.ts);
 *   size    count records and bytes, choose the bucket count and the shards (table-plan.ts);
 *   pass 2  per partition in hash order: sort by bucket (counting sort, stable so input
 *           order survives for --on-duplicate), drop or refuse duplicates, pack pages
 *           (pack-partitions.ts);
 *   publish fsync, rename (src/build/publish.ts).
 *
 * A partition too big for the bound is split again by hash range before it is loaded.
 * A spill past MAX_SPILL_PAGES (a hostile or unlucky key set) starts pass 2 again with a
 * new seed; the partitions are rehashed, the input is not read twice.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { PagedictError, ioError } from '../errors.js'
import {
  H_CHECKSUM_OFF,
  MAX_INLINE_VALUE_BYTES,
  PAGE_SIZE,
  READ_VERSION,
  TARGET_SHARD_BYTES,
  type TableHeader,
  WRITE_VERSION,
  encodeTableHeader,
  sealChecksum,
} from '../format/layout.js'
import { type BuildOptions, type OnDuplicate, type RecordSource } from './options.js'
import { canReadInWorker, readInWorker } from './worker-input.js'
import { Partitioner } from './partitioner.js'
import { packAll } from './pack-partitions.js'
import { metadataFor, partitionCount, planTable } from './table-plan.js'
import { SpillTooLong, recordPageBytes } from './pack.js'
import { checkReplaceable, cleanLeftovers, fsyncFile, publish, tempNames, writeAt } from './publish.js'
import { isTableFile, tableShardPaths } from '../read/header.js'

const MiB = 1024 * 1024
/** What Node itself holds before a build allocates anything (heap, code, buffers). */
const BASELINE_BYTES = 48 * MiB
const MAX_RESEEDS = 8
const PASS1_SHARE = 0.4
const PARTITION_SHARE = 0.25
/**
 * Larger partitions are slower, not faster: a partition's arrays and pages stay in the CPU
 * caches when it is small (5M keys: 3.0 s with 4 MiB partitions, 4.1 s with 52 MiB; after
 * the pass-1 copy work, 2.6-2.9 s at 4 MiB, 2.7-4.2 s at 16, 2.8-2.9 s at 2 and 1). All
 * partitions spill into one file (spill-file.ts), so their count is not bound by a
 * descriptor limit.
 */
const MAX_PARTITION_BYTES = 4 * MiB

export interface PageFileBuildOptions {
  inputs: string[]
  onDuplicate: OnDuplicate
  seed?: number
  memoryMiB: number
  /** Largest shard the builder aims for (tests lower it to force shards). */
  shardBytes?: number
  /** Input bytes expected, to choose the partition count (0 when unknown). */
  expectedBytes: number
  metadata: Record<string, unknown>
  onProgress?: (done: number, total: number | undefined, phase: string) => void
  /** The options `source` was made from, when it reads input files: pass 1 may then read them in a worker thread. */
  readOptions?: BuildOptions
}

export interface BuildReport {
  output: string
  backend: 'pagefile' | 'lmdb'
  keys: number
  records: number
  bytes: number
  shards: number
  pages: number
  seed: number
  reseeds: number
  codec: string
  input_bytes: number
  ms: number
  peak_rss_mb: number
}

export async function buildPageFile(source: RecordSource, output: string, opts: PageFileBuildOptions): Promise<BuildReport> {
  const started = Date.now()
  const existed = checkReplaceable(output, isTableFile)
  const oldShards = existed ? tableShardPaths(output) : []
  cleanLeftovers(output)
  const names = tempNames(output)
  const workDir = names.prefix + '.work'
  try {
    fs.mkdirSync(workDir, { recursive: true })
  } catch (err) {
    // The first write into the target directory: an unwritable or full one fails here.
    throw ioError(output, err, 'write the table')
  }
  const temps: string[] = []
  let parts: Partitioner | undefined
  try {
    const budget = Math.max(8 * MiB, opts.memoryMiB * MiB - BASELINE_BYTES)
    // The budget's shares: pass 1 holds up to PASS1_SHARE of records in memory (they stay
    // while pass 2 runs, for a reseed); pass 2 loads one partition of up to PARTITION_SHARE,
    // plus about 0.8x that in arrays for parsing and sorting it.
    const partitionMax = Math.max(4 * MiB, Math.min(MAX_PARTITION_BYTES, Math.floor(budget * PARTITION_SHARE)))
    let seed = opts.seed ?? randomSeed()
    const count = partitionCount(opts.expectedBytes, partitionMax)
    parts = new Partitioner(count, path.join(workDir, 'p'), Math.floor(budget * PASS1_SHARE), seed % 2 ** 32, Math.floor(seed / 2 ** 32), recordPageBytes, MAX_INLINE_VALUE_BYTES)
    const first = parts
    const summary = canReadInWorker(opts.readOptions)
      ? await readInWorker(opts.readOptions, first)
      : await source((k, ks, ke, v, vs, ve, input, line) => first.add(k, ks, ke, v, vs, ve, input, line))
    const stats = parts.stats
    const buildId = crypto.randomBytes(16)
    let reseeds = 0
    for (;;) {
      const plan = planTable(stats.pageBytes, stats.valueAreaBytes, opts.shardBytes ?? TARGET_SHARD_BYTES, summary, opts, seed)
      try {
        const shards = packAll(parts, plan, partitionMax, seed, opts, buildId, names, temps)
        const header: TableHeader = {
          readVersion: READ_VERSION,
          writeVersion: WRITE_VERSION,
          headerPages: plan.headerBytes / PAGE_SIZE,
          keyCount: shards.reduce((n, s) => n + s.entry.keyCount, 0),
          seedLow: seed % 2 ** 32,
          seedHigh: Math.floor(seed / 2 ** 32),
          bucketCount: plan.bucketCount,
          codec: summary.codec,
          buildTime: Date.now(),
          buildId,
          shards: shards.map((s) => s.entry),
          metadata: metadataFor(summary.describe, opts, seed, reseeds),
        }
        const tableTemp = shards.length === 1 ? shards[0].temp : names.prefix + '.table'
        if (shards.length > 1) temps.push(tableTemp)
        writeHeader(tableTemp, header)
        const moves = shards.length === 1 ? [] : shards.map((s) => ({ temp: s.temp, final: path.join(names.dir, s.entry.name) }))
        publish(tableTemp, output, moves, oldShards)
        const bytes = header.shards.reduce((n, s) => n + (s.name === '' ? 0 : s.fileLength), 0) + fs.statSync(output).size
        return {
          output,
          backend: 'pagefile',
          keys: header.keyCount,
          records: stats.records,
          bytes,
          shards: shards.length,
          pages: header.shards.reduce((n, s) => n + s.pageCount, 0),
          seed,
          reseeds,
          codec: ['none', 'string', 'list', 'json'][summary.codec],
          input_bytes: summary.bytes,
          ms: Date.now() - started,
          peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        }
      } catch (err) {
        if (!(err instanceof SpillTooLong)) throw err
        if (++reseeds > MAX_RESEEDS) {
          throw new PagedictError('E_INPUT', `${output}: the keys collide under ${MAX_RESEEDS} seeds in a row (a page spill of ${err.spill} pages); the input is hostile to the hash`)
        }
        for (const t of temps.splice(0)) fs.rmSync(t, { force: true })
        seed = nextSeed(seed)
        parts = rehash(parts, path.join(workDir, `r${reseeds}`), seed, Math.floor(budget * PASS1_SHARE))
      }
    }
  } catch (err) {
    // A temporary file's name means nothing to the user (a full disk fails on whichever file
    // was being written): name the table being built.
    if (err instanceof PagedictError && err.code === 'E_IO' && err.path !== undefined && err.path.startsWith(names.prefix) && err.message.startsWith(err.path)) {
      throw new PagedictError('E_IO', output + err.message.slice(err.path.length), { path: output, cause: err })
    }
    throw err
  } finally {
    parts?.release()
    for (const t of temps) fs.rmSync(t, { force: true })
    fs.rmSync(workDir, { recursive: true, force: true })
  }
}

function randomSeed(): number {
  return crypto.randomBytes(8).readUIntLE(0, 6) * 32 + (crypto.randomBytes(1)[0] & 31)
}

/**
 * The next seed after a long spill: derived, so a build with --seed stays reproducible, and
 * mixed through all 53 bits (one 64-bit LCG step in exact integer arithmetic, top 53 bits),
 * so a reseed is as far from the last seed as a random one.
 */
function nextSeed(seed: number): number {
  const next = (BigInt(seed) * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn
  return Number(next >> 11n)
}

/** A new Partitioner with every record rehashed under `seed` (after a long spill). */
function rehash(old: Partitioner, filePrefix: string, seed: number, memoryLimit: number): Partitioner {
  const fresh = new Partitioner(old.parts.length, filePrefix, memoryLimit, seed % 2 ** 32, Math.floor(seed / 2 ** 32), recordPageBytes, MAX_INLINE_VALUE_BYTES)
  for (let k = 0; k < old.parts.length; k++) {
    old.forEachRecord(k, (buf, ks, ke, ve, _high, _low, input, line) => fresh.add(buf, ks, ke, buf, ke, ve, input, line))
  }
  old.release()
  return fresh
}

/** Write the header region at the start of `file` (created when it holds no data shard). */
function writeHeader(file: string, header: TableHeader): void {
  const region = encodeTableHeader(header)
  sealChecksum(region, H_CHECKSUM_OFF, zlib.crc32)
  let fd = -1
  try {
    fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'wx', 0o644)
    writeAt(fd, file, region, 0)
    fsyncFile(fd, file)
  } catch (err) {
    if (err instanceof PagedictError) throw err
    throw ioError(file, err, 'write the table header')
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}
