/**
 * Build a page-file table from a record source in bounded memory:
 *
 *   pass 1  read the input (input files: in a worker thread, worker-input.ts), hash each
 *           key, append it to its hash-range partition (in memory, spilled to one file
 *           past the memory bound);
 *   size    count records and bytes, choose the bucket count and the shards;
 *   pass 2  per partition in hash order: sort by bucket (counting sort, stable so input
 *           order survives for --on-duplicate), drop or refuse duplicates, pack pages;
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
  MAX_MAPPED_BYTES,
  PAGE_SIZE,
  READ_VERSION,
  SH_CHECKSUM_OFF,
  SH_HEADER_BYTES,
  type ShardEntry,
  TARGET_SHARD_BYTES,
  type TableHeader,
  WRITE_VERSION,
  bucketOf,
  encodeShardHeader,
  encodeTableHeader,
  sealChecksum,
} from '../format/layout.js'
import { type BuildOptions, type OnDuplicate, type RecordSource } from './options.js'
import { canReadInWorker, readInWorker } from './worker-input.js'
import { Partitioner } from './partitioner.js'
import { type Plan, metadataFor, partitionCount, planTable } from './table-plan.js'
import { type LoadedPartition, PartitionLoader, REC_STRIDE, R_HIGH, R_KEY_AT, R_KEY_LEN, R_LOW, R_VALUE_LEN } from './partition-loader.js'
import { DROPPED, type DuplicateFound, Duplicates } from './duplicates.js'
import { ShardPacker, SpillTooLong, recordPageBytes } from './pack.js'
import { checkReplaceable, cleanLeftovers, fsyncFile, publish, shardFileName, tempNames } from './publish.js'
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
 * the pass-1 copy work, 2.6-2.9 s at 4 MiB, 2.7-4.2 s at 16, 2.8-2.9 s at 2 and 1). Spill
 * files are not held open, so the partition count is not bound by a descriptor limit.
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

interface ShardOut {
  temp: string
  entry: ShardEntry
}

/** Pass 2: pack every partition, in hash order, into the shards. */
function packAll(parts: Partitioner, plan: Plan, partitionMax: number, seed: number, opts: PageFileBuildOptions, buildId: Buffer, names: ReturnType<typeof tempNames>, temps: string[]): ShardOut[] {
  const shards: ShardOut[] = []
  const inline = plan.shardCount === 1
  let packer: ShardPacker | undefined
  let fd = -1
  let temp = ''
  const open = (index: number): void => {
    temp = inline ? `${names.prefix}.table` : `${names.prefix}.${index}.shard`
    temps.push(temp)
    try {
      fd = fs.openSync(temp, 'w', 0o644)
    } catch (err) {
      throw ioError(temp, err, 'create the table')
    }
    const first = index * plan.bucketsPerShard
    const count = Math.min(plan.bucketsPerShard, plan.bucketCount - first)
    packer = new ShardPacker(fd, temp, inline ? plan.headerBytes : SH_HEADER_BYTES, first, count, `${names.prefix}.${index}.values`)
    temps.push(`${names.prefix}.${index}.values`)
  }
  const close = (): void => {
    if (packer === undefined) return
    const index = shards.length
    const entry = packer.finish()
    if (entry.fileLength > MAX_MAPPED_BYTES) {
      throw new PagedictError('E_VALUE_TOO_LONG', `${temp}: shard ${index} would be ${entry.fileLength} bytes, over the 2 GiB a mapping can hold; the values are too skewed`)
    }
    if (!inline) {
      entry.name = shardFileName(names.base, buildId, index)
      const head = encodeShardHeader(index, buildId, entry)
      sealChecksum(head, SH_CHECKSUM_OFF, zlib.crc32)
      writeAt(fd, temp, head, 0)
    }
    fsyncFile(fd, temp)
    fs.closeSync(fd)
    fd = -1
    shards.push({ temp, entry })
    packer = undefined
  }
  const found: DuplicateFound = {}
  const loader = new PartitionLoader()
  const sorter = new BucketSort()
  open(0)
  let done = 0
  const total = parts.parts.length
  const each = (part: LoadedPartition, lowBucket: number, highBucket: number): void => {
    packPartition(part, lowBucket, highBucket, plan, opts, found, sorter, (bucket, i) => {
      while (bucket >= packer!.firstBucket + packer!.bucketCount) {
        close()
        open(shards.length)
      }
      const r = i * REC_STRIDE
      const rec = part.rec
      const keyAt = rec[r + R_KEY_AT]
      const keyLen = rec[r + R_KEY_LEN]
      packer!.add(bucket - packer!.firstBucket, rec[r + R_LOW], part.buf, keyAt, keyLen, part.buf, keyAt + keyLen, rec[r + R_VALUE_LEN])
    })
  }
  try {
    for (let k = 0; k < total; k++) {
      forEachLoaded(parts, k, loader, partitionMax, plan.bucketCount, seed, each)
      opts.onProgress?.(++done, total, 'pack')
    }
    while (shards.length < plan.shardCount) {
      close()
      if (shards.length < plan.shardCount) open(shards.length)
    }
    if (found.first !== undefined) throw found.first.error
  } catch (err) {
    packer?.abandon()
    if (fd >= 0) fs.closeSync(fd)
    throw err
  }
  return shards
}

/** Load partition k, splitting it by hash range first when it is too big for the bound. */
function forEachLoaded(parts: Partitioner, k: number, loader: PartitionLoader, partitionMax: number, bucketCount: number, seed: number, each: (p: LoadedPartition, lo: number, hi: number) => void): void {
  const range = parts.parts[k]
  const lo = bucketOf(range.hashStart, bucketCount)
  const hi = bucketOf(range.hashEnd - 1, bucketCount)
  if (parts.sizeOf(k) <= partitionMax || range.hashEnd - range.hashStart < 2 || range.records < 2) {
    each(parts.load(k, loader), lo, hi)
    return
  }
  // Too big: stream it into narrower hash ranges (spilled at once), then take those in order.
  const pieces = Math.min(range.hashEnd - range.hashStart, Math.ceil(parts.sizeOf(k) / partitionMax) * 2)
  const sub = new Partitioner(pieces, range.name + '.s', Math.floor(partitionMax / 2), seed % 2 ** 32, Math.floor(seed / 2 ** 32), recordPageBytes, MAX_INLINE_VALUE_BYTES, range.hashStart, range.hashEnd)
  try {
    parts.forEachRecord(k, (buf, ks, ke, ve, high, low, input, line) => sub.add(buf, ks, ke, buf, ke, ve, input, line, high, low))
    sub.spillAll()
    for (let j = 0; j < pieces; j++) forEachLoaded(sub, j, loader, partitionMax, bucketCount, seed, each)
  } finally {
    sub.release()
  }
}

/**
 * Sort one partition's records by bucket (stable), settle duplicates, and hand each kept
 * record to `place` in bucket order.
 */
function packPartition(
  part: LoadedPartition,
  lowBucket: number,
  highBucket: number,
  plan: Plan,
  opts: PageFileBuildOptions,
  found: DuplicateFound,
  sorter: BucketSort,
  place: (bucket: number, i: number) => void,
): void {
  const n = part.count
  const span = highBucket - lowBucket + 1
  const { buckets, starts, order, next } = sorter.arrays(n, span)
  for (let i = 0; i < n; i++) {
    const b = bucketOf(part.rec[i * REC_STRIDE + R_HIGH], plan.bucketCount) - lowBucket
    buckets[i] = b
    starts[b + 1]++
  }
  for (let b = 0; b < span; b++) starts[b + 1] += starts[b]
  next.set(starts.subarray(0, span))
  for (let i = 0; i < n; i++) order[next[buckets[i]]++] = i
  const dedupe = new Duplicates(part, opts, found)
  for (let b = 0; b < span; b++) {
    const from = starts[b]
    const to = starts[b + 1]
    if (from === to) continue
    dedupe.settle(order, from, to)
    for (let j = from; j < to; j++) {
      const i = order[j]
      if (i !== DROPPED) place(lowBucket + b, i)
    }
  }
}

/** The counting sort's arrays, reused from partition to partition (see PartitionLoader). */
class BucketSort {
  private records = new Uint32Array(0)
  private spans = new Uint32Array(0)

  /** Views for n records over span buckets; `starts` comes zeroed. */
  arrays(n: number, span: number): { buckets: Uint32Array; order: Uint32Array; starts: Uint32Array; next: Uint32Array } {
    if (this.records.length < 2 * n) this.records = new Uint32Array(Math.max(2 * n, Math.floor(this.records.length * 1.5)))
    if (this.spans.length < 2 * span + 1) this.spans = new Uint32Array(Math.max(2 * span + 1, Math.floor(this.spans.length * 1.5)))
    const starts = this.spans.subarray(0, span + 1)
    starts.fill(0)
    return { buckets: this.records.subarray(0, n), order: this.records.subarray(n, 2 * n), starts, next: this.spans.subarray(span + 1, 2 * span + 1) }
  }
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

function writeAt(fd: number, file: string, buf: Buffer, position: number): void {
  try {
    let done = 0
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done)
  } catch (err) {
    throw ioError(file, err, 'write the table')
  }
}
