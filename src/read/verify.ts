/**
 * verify(): the deep check open() does not do. For a page file: every page's checksum,
 * every record's bounds, every key back on a page its hash allows (home page up to the
 * shard's max spill), its fingerprint and overflow bit, every value decodable, and the key
 * counts against the header. For LMDB, which keeps no page checksums: every entry read
 * through and decoded, and the count against the metadata.
 */
import zlib from 'node:zlib'
import { PagedictError } from '../errors.js'
import { hashLow, pdhash64 } from '../format/hash.js'
import { type CodecId, PAGE_CONTINUES, PAGE_SIZE, P_CHECKSUM_OFF, P_FLAGS_OFF, P_OVERFLOW_OFF, P_RESERVED_OFF, P_COUNT_OFF, P_FINGERPRINTS_OFF, SORTED_DIRECTORY_VERSION, bucketOf, fingerprintExtensionOf, fingerprintOf, overflowBitOf } from '../format/layout.js'
import { decodeValue } from '../format/values.js'
import type { Dict } from './dict.js'
import { open } from './open.js'
import { PageFileDict } from './pagefile.js'

export interface VerifyReport {
  path: string
  backend: string
  ok: boolean
  keys: number
  pages: number
  /** What was checked, for the report. */
  checked: string[]
  /** One line per problem found; empty when ok. At most MAX_PROBLEMS are listed. */
  problems: string[]
}

const MAX_PROBLEMS = 100

/** Check the whole table at `file`. Throws only when it cannot be opened at all. */
export function verify(file: string): VerifyReport {
  const dict = open(file)
  try {
    return dict instanceof PageFileDict ? verifyPageFile(dict) : verifyEntries(dict)
  } finally {
    dict.close()
  }
}

function verifyPageFile(dict: PageFileDict): VerifyReport {
  const problems: string[] = []
  const note = (msg: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(msg)
  }
  const header = dict.header
  // Shard header pages first, as open() used to: a damaged one is an error, not a finding.
  for (const seg of dict.segmentsForVerify) seg.checkHeader()
  // Lookups in a table of write_version >= 2 stop at the first fingerprint past theirs.
  const sorted = header.writeVersion >= SORTED_DIRECTORY_VERSION
  let pages = 0
  for (const seg of dict.segmentsForVerify) {
    for (let page = 0; page < seg.pageCount; page++) {
      pages++
      const base = seg.dataOffset + page * PAGE_SIZE
      const copy = Buffer.from(seg.buf.subarray(base, base + PAGE_SIZE))
      const stored = copy.readUInt32LE(P_CHECKSUM_OFF)
      copy.writeUInt32LE(0, P_CHECKSUM_OFF)
      if (zlib.crc32(copy) !== stored) note(`${seg.file}: page ${page}: checksum mismatch`)
      if ((copy[P_FLAGS_OFF] & ~PAGE_CONTINUES) !== 0 || copy[P_RESERVED_OFF] !== 0) note(`${seg.file}: page ${page}: unknown flags or a nonzero reserved byte`)
      if (sorted && !fingerprintsInOrder(copy)) note(`${seg.file}: page ${page}: fingerprints out of order`)
    }
  }
  // Walk the records. A structural error stops the walk of that table (the iterator cannot
  // know where the next record is), so it is reported after the checksum findings.
  let keys = 0
  const shardKeys = new Map<string, number>()
  try {
    for (const r of dict.records()) {
      keys++
      const seg = r.seg
      shardKeys.set(seg.file, (shardKeys.get(seg.file) ?? 0) + 1)
      const high = pdhash64(seg.buf, r.keyStart, r.keyEnd, header.seedLow, header.seedHigh)
      const low = hashLow
      const home = bucketOf(high, header.bucketCount) - seg.firstBucket
      const where = `${seg.file}: page ${r.page}: key ${JSON.stringify(r.key.slice(0, 60))}`
      if (home < 0 || home >= seg.bucketCount) note(`${where}: hashes to another shard`)
      else if (r.page < home || r.page > home + seg.maxSpill) note(`${where}: on page ${r.page}, its home is ${home} (max spill ${seg.maxSpill})`)
      else if (r.page > home) {
        const bit = overflowBitOf(low)
        const at = seg.dataOffset + home * PAGE_SIZE + P_OVERFLOW_OFF + (bit >>> 3)
        if ((seg.buf[at] & (1 << (bit & 7))) === 0) note(`${where}: spilled from page ${home} without its overflow bit`)
        // A lookup walks from the home page only while each page says CONTINUES.
        for (let p = home; p < r.page; p++) {
          if ((seg.buf[seg.dataOffset + p * PAGE_SIZE + P_FLAGS_OFF] & PAGE_CONTINUES) === 0) {
            note(`${where}: spilled from page ${home} past page ${p}, which does not say CONTINUES`)
            break
          }
        }
      }
      if (r.fingerprint !== fingerprintOf(low)) note(`${where}: fingerprint mismatch`)
      if (r.extension >= 0 && r.extension !== fingerprintExtensionOf(low)) note(`${where}: fingerprint extension mismatch`)
      try {
        decodeValue(header.codec as CodecId, seg.buf, r.valueStart, r.valueEnd)
      } catch (err) {
        note(`${where}: ${(err as Error).message}`)
      }
    }
    header.shards.forEach((s, i) => {
      const seg = dict.segmentsForVerify[i]
      const crc = zlib.crc32(seg.buf.subarray(s.valueOffset, s.valueOffset + s.valueLength))
      if (crc !== s.valueChecksum) note(`${seg.file}: shard ${i}: value area checksum mismatch`)
      const found = shardKeys.get(seg.file) ?? 0
      if (found !== s.keyCount) note(`${seg.file}: shard ${i} holds ${found} keys, the header says ${s.keyCount}`)
    })
  } catch (err) {
    if (!(err instanceof PagedictError)) throw err
    note(err.message)
  }
  return {
    path: dict.path,
    backend: 'pagefile',
    ok: problems.length === 0,
    keys,
    pages,
    checked: ['header checksum', 'page checksums', 'record bounds', 'page flags', 'key placement', 'continuation flags', 'fingerprints', 'fingerprint extensions', 'fingerprint order', 'overflow filters', 'values', 'value area checksums', 'key counts'],
    problems,
  }
}

/** Whether a page's fingerprints ascend (its count, if damaged, bounded by the page). */
function fingerprintsInOrder(page: Buffer): boolean {
  const count = Math.min(page.readUInt16LE(P_COUNT_OFF), PAGE_SIZE - P_FINGERPRINTS_OFF)
  for (let i = 1; i < count; i++) if (page[P_FINGERPRINTS_OFF + i] < page[P_FINGERPRINTS_OFF + i - 1]) return false
  return true
}

function verifyEntries(dict: Dict): VerifyReport {
  const problems: string[] = []
  let keys = 0
  try {
    for (const [key] of dict) {
      keys++
      if (!dict.has(key)) problems.push(`key ${JSON.stringify(key.slice(0, 60))}: listed but not found by lookup`)
      if (problems.length >= MAX_PROBLEMS) break
    }
    if (keys !== dict.size) problems.push(`${keys} entries read, the metadata says ${dict.size}`)
  } catch (err) {
    problems.push((err as Error).message)
  }
  return {
    path: dict.path,
    backend: dict.backend,
    ok: problems.length === 0,
    keys,
    pages: 0,
    checked: ['every entry read and decoded', 'every key found by lookup', 'key count'],
    problems,
  }
}
