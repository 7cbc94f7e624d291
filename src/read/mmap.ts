/**
 * The one seam to the native mapping code. It loads @riaskov/mmap-io's compiled addon
 * directly: the package's JavaScript wrapper first searches for its binary through
 * node-pre-gyp, which costs about 60 ms per process against about 2 ms for the addon itself,
 * and every pool worker pays it at start.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { ioError } from '../errors.js'

interface MmapAddon {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer
  advise(buffer: Buffer, advise: number): void
  PROT_READ: number
  MAP_SHARED: number
  MADV_RANDOM: number
  MADV_SEQUENTIAL: number
  MADV_WILLNEED: number
}

const require = createRequire(import.meta.url)
let addon: MmapAddon | undefined

function loadAddon(): MmapAddon {
  if (addon !== undefined) return addon
  const root = path.dirname(require.resolve('@riaskov/mmap-io/package.json'))
  // node-gyp puts the addon in build/Release; the package's own build step then copies it
  // to the node-pre-gyp path. Try both before falling back to the slow wrapper.
  const candidates = [path.join(root, 'build', 'Release', 'mmap_io.node')]
  const binding = path.join(root, 'build', 'binding', 'Release')
  if (fs.existsSync(binding)) for (const d of fs.readdirSync(binding)) candidates.push(path.join(binding, d, 'mmap_io.node'))
  for (const file of candidates) {
    if (fs.existsSync(file)) {
      addon = require(file) as MmapAddon
      return addon
    }
  }
  addon = require('@riaskov/mmap-io') as MmapAddon
  return addon
}

/**
 * Map `length` bytes of the open file `fd` read-only and shared: every process that maps
 * the same file shares the page cache's one copy. `length` must be 1 .. 2^31-1.
 * The mapping lives until the returned Buffer is garbage collected.
 */
export function mapReadOnly(fd: number, length: number, file: string): Buffer {
  const m = loadAddon()
  try {
    // Lookups touch pages at random; readahead would only read pages nobody asked for.
    return m.map(length, m.PROT_READ, m.MAP_SHARED, fd, 0, m.MADV_RANDOM)
  } catch (err) {
    throw ioError(file, err, 'map the table')
  }
}

/** Hint that the whole mapping will be read in order (iteration, verify, dump). */
export function adviseSequential(buf: Buffer): void {
  const m = loadAddon()
  m.advise(buf, m.MADV_SEQUENTIAL)
}

export function adviseRandom(buf: Buffer): void {
  const m = loadAddon()
  m.advise(buf, m.MADV_RANDOM)
}
