/**
 * Sizing a page-file build: how many hash-range partitions pass 1 cuts the input into, and,
 * once pass 1 has counted the records and their bytes, how many buckets and shards the table
 * gets and how big its header region is.
 */
import { MAX_MAPPED_BYTES, PAGE_SIZE, P_HEADER_BYTES, TARGET_FILL, headerPagesFor } from '../format/layout.js'
import type { PageFileBuildOptions } from './pagefile.js'

export interface Plan {
  bucketCount: number
  bucketsPerShard: number
  shardCount: number
  headerBytes: number
}

export function partitionCount(expectedBytes: number, partitionMax: number): number {
  // A spilled record is its input bytes plus a header of about 12 bytes; 1.5x covers short
  // rows, and a partition that still comes out too big is split again before it is loaded.
  const want = expectedBytes > 0 ? Math.ceil((expectedBytes * 1.5) / partitionMax) : 16
  let n = 1
  while (n < want && n < 4096) n *= 2
  return n
}

export function planTable(pageBytes: number, valueAreaBytes: number, shardBytes: number, summary: { describe: Record<string, unknown> }, opts: PageFileBuildOptions, seed: number): Plan {
  const bucketCount = Math.max(1, Math.ceil(pageBytes / ((PAGE_SIZE - P_HEADER_BYTES) * TARGET_FILL)))
  const estimate = bucketCount * PAGE_SIZE + valueAreaBytes
  const wantShards = Math.max(1, Math.ceil(estimate / Math.min(shardBytes, MAX_MAPPED_BYTES)))
  const bucketsPerShard = Math.ceil(bucketCount / wantShards)
  const shardCount = Math.ceil(bucketCount / bucketsPerShard)
  const metaBytes = Buffer.byteLength(JSON.stringify(metadataFor(summary.describe, opts, seed, 0))) + 256
  return { bucketCount, bucketsPerShard, shardCount, headerBytes: headerPagesFor(shardCount, metaBytes) * PAGE_SIZE }
}

/** The table header's metadata; planTable sizes the header region for it with reseeds at 0. */
export function metadataFor(describe: Record<string, unknown>, opts: PageFileBuildOptions, seed: number, reseeds: number): Record<string, unknown> {
  return { ...opts.metadata, ...describe, on_duplicate: opts.onDuplicate, seed_given: opts.seed !== undefined, seed, reseeds, memory_mib: opts.memoryMiB }
}
