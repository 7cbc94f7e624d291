/**
 * Pass 2 of a page-file build, the loop: take the partitions in hash order (splitting one
 * too big for the memory bound), sort each one's records by bucket, settle duplicates
 * (duplicates.ts), and hand the records to the shard packer (pack.ts), closing one shard
 * file and opening the next where the buckets cross a shard boundary.
 */
import fs from 'node:fs'
import zlib from 'node:zlib'
import { PagedictError, ioError } from '../errors.js'
import { MAX_INLINE_VALUE_BYTES, MAX_MAPPED_BYTES, SH_CHECKSUM_OFF, SH_HEADER_BYTES, type ShardEntry, bucketOf, encodeShardHeader, sealChecksum } from '../format/layout.js'
import { DROPPED, type DuplicateFound, Duplicates } from './duplicates.js'
import { ShardPacker, recordPageBytes } from './pack.js'
import type { PageFileBuildOptions } from './pagefile.js'
import { type LoadedPartition, PartitionLoader, REC_STRIDE, R_HIGH, R_KEY_AT, R_KEY_LEN, R_LOW, R_VALUE_LEN } from './partition-loader.js'
import { Partitioner } from './partitioner.js'
import { fsyncFile, shardFileName, type TempNames, writeAt } from './publish.js'
import type { Plan } from './table-plan.js'

export interface ShardOut {
  temp: string
  entry: ShardEntry
}

/** Pass 2: pack every partition, in hash order, into the shards. */
export function packAll(parts: Partitioner, plan: Plan, partitionMax: number, seed: number, opts: PageFileBuildOptions, buildId: Buffer, names: TempNames, temps: string[]): ShardOut[] {
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
