/**
 * The one seam to the native mapping code. It loads @riaskov/mmap-io's compiled addon
 * directly, when this module is imported (as lmdb-js loads its addon at import), so open()
 * does not pay for it. The package's JavaScript wrapper first searches for its binary through
 * node-pre-gyp, about 60 ms per process; `createRequire` + `require.resolve` + `require` of
 * the binary cost about 2 ms; finding the binary next to this module and `process.dlopen`-ing
 * it costs about 0.25 ms. The slower ways remain as fallbacks.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
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

const PACKAGE = path.join('node_modules', '@riaskov', 'mmap-io')

/**
 * The addon is not context-aware: a second dlopen of it in one process fails ("did not
 * self-register"), so every copy of this module in a process shares the first one's.
 */
const SHARED = Symbol.for('pagedict.mmap-io')
type Shared = { [SHARED]?: MmapAddon }

/** The package directory as Node's resolution would find it: the nearest node_modules up from here. */
function packageDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (path.basename(dir) !== 'node_modules' && fs.existsSync(path.join(dir, PACKAGE))) return path.join(dir, PACKAGE)
    const up = path.dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

/** node-gyp puts the addon in build/Release; the package's own build step copies it to the node-pre-gyp path. */
function binaryIn(root: string): string | undefined {
  const release = path.join(root, 'build', 'Release', 'mmap_io.node')
  if (fs.existsSync(release)) return release
  const binding = path.join(root, 'build', 'binding', 'Release')
  if (fs.existsSync(binding)) {
    for (const d of fs.readdirSync(binding)) {
      const file = path.join(binding, d, 'mmap_io.node')
      if (fs.existsSync(file)) return file
    }
  }
  return undefined
}

function loadAddon(): MmapAddon {
  const shared = globalThis as Shared
  if (shared[SHARED] !== undefined) return shared[SHARED]
  let addon: MmapAddon | undefined
  const root = packageDir()
  const file = root === undefined ? undefined : binaryIn(root)
  if (file !== undefined) {
    try {
      const m = { exports: {} as MmapAddon }
      process.dlopen(m, file)
      addon = m.exports
    } catch {
      // loaded already through require() by something else: require returns that one
    }
  }
  if (addon === undefined) {
    const require = createRequire(import.meta.url)
    const resolved = binaryIn(path.dirname(require.resolve('@riaskov/mmap-io/package.json')))
    addon = (resolved !== undefined ? require(resolved) : require('@riaskov/mmap-io')) as MmapAddon
  }
  shared[SHARED] = addon
  return addon
}

/** Loaded at import; a failure is kept and thrown at the first mapping, so build and LMDB users never see it. */
let addon: MmapAddon | undefined
let addonError: unknown
try {
  addon = loadAddon()
} catch (err) {
  addonError = err
}

function mmapAddon(): MmapAddon {
  if (addon === undefined) throw addonError
  return addon
}

/**
 * Map `length` bytes of the open file `fd` from `offset` (a multiple of the system's page
 * size) read-only and shared: every process that maps the same file shares the page cache's
 * one copy. `length` and `offset` must be below 2^31. The mapping lives until the returned
 * Buffer is garbage collected.
 */
export function mapReadOnly(fd: number, length: number, file: string, offset = 0): Buffer {
  try {
    const m = mmapAddon()
    // Lookups touch pages at random; readahead would only read pages nobody asked for.
    return m.map(length, m.PROT_READ, m.MAP_SHARED, fd, offset, m.MADV_RANDOM)
  } catch (err) {
    throw ioError(file, err, 'map the table')
  }
}

/** Hint that the whole mapping will be read in order (iteration, verify, dump). */
export function adviseSequential(buf: Buffer): void {
  const m = mmapAddon()
  m.advise(buf, m.MADV_SEQUENTIAL)
}

export function adviseRandom(buf: Buffer): void {
  const m = mmapAddon()
  m.advise(buf, m.MADV_RANDOM)
}
