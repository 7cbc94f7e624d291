/**
 * Faults during a build and while readers map the table (issue 6):
 *
 *   - a build killed with SIGKILL in each phase (reading, spilling partitions, writing pages,
 *     writing shards; for LMDB sorting and loading): no new table appears, the old table and
 *     its shards stay byte-identical and sound, and the next build removes the leftovers;
 *   - the disk filling up: a real full file system (a small tmpfs in a private mount
 *     namespace, where the sandbox allows one), a file-size limit (RLIMIT_FSIZE, which works
 *     anywhere), and ENOSPC injected at every point of a library build: the old table intact,
 *     one clear line naming the table, no leftovers;
 *   - a table rebuilt and republished again and again while 4 reader processes look keys up
 *     and reopen it (a page file with one shard and with several, and LMDB): no SIGBUS, no
 *     error, each open() answers from one build only, never an older build after a newer one,
 *     and a reader that keeps the first build open (its files unlinked since) keeps answering.
 *
 * No timing assertion: the kills are placed by watching the build's own temporary files.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { buildPageFile } from '../src/build/pagefile.js'
import type { RecordSource } from '../src/build/options.js'
import { PagedictError } from '../src/errors.js'
import { CODEC_STRING } from '../src/format/layout.js'
import { open } from '../src/read/open.js'
import { verify } from '../src/read/verify.js'
import { BIN, expectUsageError, pagedict } from './helpers/cli.js'
import { leftoversOf, snapshot } from './helpers/leftovers.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('faults')
const BUILD_CHILD = fileURLToPath(new URL('./helpers/build-child.mjs', import.meta.url))
const READER_CHILD = fileURLToPath(new URL('./helpers/reader-child.mjs', import.meta.url))

/** A CSV of `lines` rows k<i>,<tag>-<i>: 300k rows (13 MB) make a build of a few seconds. */
function csv(name: string, lines: number, tag: string): string {
  const file = path.join(dir, name)
  const fd = fs.openSync(file, 'w')
  for (let i = 0; i < lines; i += 10_000) {
    let chunk = ''
    for (let j = i; j < Math.min(lines, i + 10_000); j++) chunk += `k${j},${tag}-${j}-abcdefghij\n`
    fs.writeSync(fd, chunk)
  }
  fs.closeSync(fd)
  return file
}

/**
 * The temporary names of the build with process id `pid` in `d` (a killed build's files stay
 * until the next build: they must not trigger the next kill) and its spill files.
 */
function tempState(d: string, table: string, pid: number): { temps: string[]; spills: string[] } {
  const temps = fs.readdirSync(d).filter((n) => n.startsWith(`.${table}.tmp-${pid}-`))
  const spills: string[] = []
  for (const t of temps.filter((n) => n.endsWith('.work'))) {
    try {
      spills.push(...fs.readdirSync(path.join(d, t)))
    } catch {
      // removed between the two reads
    }
  }
  return { temps, spills }
}

/**
 * Spawn `args` and SIGKILL it as soon as `phase` sees its files. Resolves when it is dead;
 * fails the test when the process ended on its own first (the phase was never seen).
 */
async function killDuring(args: string[], phase: (pid: number) => boolean): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  while (child.exitCode === null && child.signalCode === null) {
    if (phase(child.pid!)) {
      child.kill('SIGKILL')
      break
    }
    await sleep(1)
  }
  const [code, signal] = await exited
  expect({ code, signal, stderr }).toEqual({ code: null, signal: 'SIGKILL', stderr: '' })
}

/**
 * Every file of `d` but the build's temporary files and LMDB's lock file (readers' state,
 * written by every open), with a digest of its bytes.
 */
function published(d: string, table: string): Map<string, string> {
  const all = snapshot(d)
  for (const n of [...all.keys()]) if (n.startsWith(`.${table}.tmp-`) || n.endsWith('-lock')) all.delete(n)
  return all
}

describe('a build killed with SIGKILL', () => {
  it('in each phase of a CLI build: the old table stays byte-identical, the next build cleans up', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'kill-cli-'))
    const table = path.join(d, 't.pdict')
    const small = csv('old.csv', 1000, 'old')
    expect(pagedict(['build', small, '-o', table]).status).toBe(0)
    const before = snapshot(d)
    const big = csv('big.csv', 300_000, 'new')
    const cli = [BIN, 'build', big, '--memory', '32', '--no-progress', '-o', table]
    const phases: [string, (pid: number) => boolean][] = [
      ['reading the input', (pid) => tempState(d, 't.pdict', pid).temps.some((n) => n.endsWith('.work'))],
      ['spilling partitions', (pid) => tempState(d, 't.pdict', pid).spills.length > 0],
      ['writing pages', (pid) => tempState(d, 't.pdict', pid).temps.some((n) => n.endsWith('.table'))],
    ]
    let leftovers = 0
    for (const [, phase] of phases) {
      await killDuring(cli, phase)
      expect(published(d, 't.pdict')).toEqual(before)
      leftovers += leftoversOf(table).length
      const dict = open(table)
      expect(dict.get('k1')).toBe('old-1-abcdefghij')
      expect(dict.size).toBe(1000)
      dict.close()
      expect(verify(table).ok).toBe(true)
    }
    expect(leftovers).toBeGreaterThan(0) // a killed build cannot clean up after itself
    // A fresh target: nothing appears at all.
    const fresh = path.join(d, 'fresh.pdict')
    await killDuring([BIN, 'build', big, '--memory', '32', '-o', fresh], (pid) => tempState(d, 'fresh.pdict', pid).temps.some((n) => n.endsWith('.table')))
    expect(fs.existsSync(fresh)).toBe(false)
    // The next build of each table removes the dead builds' files.
    const next = csv('next.csv', 2000, 'next')
    expect(pagedict(['build', next, '-o', table]).status).toBe(0)
    expect(pagedict(['build', next, '-o', fresh]).status).toBe(0)
    expect(leftoversOf(table)).toEqual([])
    expect(leftoversOf(fresh)).toEqual([])
    expect(fs.readdirSync(d).sort()).toEqual(['fresh.pdict', 't.pdict'])
    expect(verify(table).ok).toBe(true)
  })

  it('while writing the shards of a multi-shard table: no new shard appears, the old ones stay', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'kill-shards-'))
    const table = path.join(d, 't.pdict')
    // 4000 keys, a quarter with 3000-byte values: ~3 MB in 1 MiB shards.
    expect(spawnSync(process.execPath, [BUILD_CHILD, table, '4000', 'build-0', String(1 << 20)]).status).toBe(0)
    const before = snapshot(d)
    expect([...before.keys()].filter((n) => n.endsWith('.pdshard')).length).toBeGreaterThanOrEqual(3)
    // The new build is bigger (~15 shards), so each shard's temp file is there long enough to see.
    const args = [BUILD_CHILD, table, '20000', 'build-1', String(1 << 20)]
    const shardTemp = (k: number) => (pid: number) => tempState(d, 't.pdict', pid).temps.some((n) => n.endsWith(`.${k}.shard`))
    for (const phase of [shardTemp(0), shardTemp(1), shardTemp(4)]) {
      await killDuring(args, phase)
      expect(published(d, 't.pdict')).toEqual(before)
      const dict = open(table)
      expect(String(dict.get('k8'))).toMatch(/^build-0\|8\|p+$/)
      dict.close()
      expect(verify(table).ok).toBe(true)
    }
    expect(spawnSync(process.execPath, [BUILD_CHILD, table, '20000', 'build-2', String(1 << 20)]).status).toBe(0)
    expect(leftoversOf(table)).toEqual([])
    // Only the new table's shards remain: the old ones were unlinked, no killed build's shard is left.
    const dict = open(table) as unknown as { header: { shards: { name: string }[] }; close(): void }
    const named = dict.header.shards.map((s) => s.name).sort()
    dict.close()
    expect(fs.readdirSync(d).filter((n) => n !== 't.pdict').sort()).toEqual(named)
  })
})

describe('an LMDB build killed with SIGKILL', () => {
  it('while sorting and while loading: the old table stays byte-identical, the next build cleans up', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'kill-lmdb-'))
    const table = path.join(d, 't.lmdb')
    expect(pagedict(['build', csv('old-lmdb.csv', 1000, 'old'), '--backend', 'lmdb', '-o', table]).status).toBe(0)
    const before = published(d, 't.lmdb')
    // 1M rows (30 MB) pass the 32 MiB sort budget: the sorter spills a run file, and loading
    // a million keys keeps the environment's temporary file there long enough to see.
    const big = csv('big-lmdb.csv', 1_000_000, 'new')
    const cli = [BIN, 'build', big, '--memory', '32', '--backend', 'lmdb', '-o', table]
    const phases: ((pid: number) => boolean)[] = [
      (pid) => tempState(d, 't.lmdb', pid).temps.some((n) => n.endsWith('.run0')),
      (pid) => tempState(d, 't.lmdb', pid).temps.some((n) => /^\.t\.lmdb\.tmp-\d+-[0-9a-f]+$/.test(n)),
    ]
    for (const phase of phases) {
      await killDuring(cli, phase)
      expect(published(d, 't.lmdb')).toEqual(before)
      expect(leftoversOf(table).length).toBeGreaterThan(0)
      const dict = open(table)
      expect(dict.get('k1')).toBe('old-1-abcdefghij')
      dict.close()
      expect(verify(table).ok).toBe(true)
    }
    expect(pagedict(['build', csv('next-lmdb.csv', 10, 'next'), '--backend', 'lmdb', '-o', table]).status).toBe(0)
    expect(leftoversOf(table)).toEqual([])
    expect(fs.readdirSync(d).sort()).toEqual(['t.lmdb', 't.lmdb-lock'])
  })
})

describe('the disk filling up during a build', () => {
  const oldTable = (d: string, backend: string): string => {
    const table = path.join(d, `t.${backend}`)
    expect(pagedict(['build', csv(`old-${backend}.csv`, 1000, 'old'), '--backend', backend, '-o', table]).status).toBe(0)
    return table
  }

  it.for(['pagefile', 'lmdb'])('a full file system (%s): the old table intact, one line, no leftovers', (backend, ctx) => {
    // A 3 MiB tmpfs in a private mount namespace: as root, or through a user namespace.
    const probe = ['-Urm', '-m'].find((flag) => spawnSync('unshare', [flag, 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs "${dir}"`]).status === 0)
    if (probe === undefined) ctx.skip('no private mount namespace here (unshare -Urm and -m refused); the RLIMIT_FSIZE and injected-ENOSPC tests still run')
    const d = fs.mkdtempSync(path.join(dir, 'full-'))
    oldTable(d, backend)
    const before = snapshot(d)
    const big = csv(`full-${backend}.csv`, 300_000, 'new')
    const mnt = path.join(d, 'mnt')
    fs.mkdirSync(mnt)
    // Everything on the tmpfs happens inside the namespace; the results are copied out.
    const script = `
      set -e
      mount -t tmpfs -o size=3m tmpfs "$1"
      cp -p "$2"/t.* "$1"/
      set +e
      node "$3" build "$4" --backend "$5" -o "$1/t.$5" 2> "$6/stderr"
      echo $? > "$6/status"
      ls -A "$1" > "$6/listing"
      mkdir "$6/after" && cp -p "$1"/t.* "$6/after"/`
    const out = fs.mkdtempSync(path.join(dir, 'full-out-'))
    const r = spawnSync('unshare', [probe!, 'bash', '-c', script, 'bash', mnt, d, BIN, big, backend, out], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const stderr = fs.readFileSync(path.join(out, 'stderr'), 'utf8')
    expectUsageError({ status: Number(fs.readFileSync(path.join(out, 'status'), 'utf8')), stdout: '', stderr }, backend === 'pagefile' ? /t\.pagefile: cannot write .*: no space left on device/ : /t\.lmdb: cannot write the LMDB table: /, expect)
    // LMDB reports a full disk as EIO (a short write), so its message cannot say "no space".
    const listing = fs.readFileSync(path.join(out, 'listing'), 'utf8').trim().split('\n').sort()
    expect(listing).toEqual([...before.keys()].filter((n) => n.startsWith('t.')).sort())
    expect(snapshot(path.join(out, 'after'))).toEqual(before)
  })

  it.each(['pagefile', 'lmdb'])('a file-size limit (RLIMIT_FSIZE, %s): the old table intact, one line, no leftovers', (backend) => {
    const d = fs.mkdtempSync(path.join(dir, 'fsize-'))
    const table = oldTable(d, backend)
    const before = snapshot(d)
    const big = csv(`fsize-${backend}.csv`, 100_000, 'new')
    // Node ignores SIGXFSZ, so a write past the limit fails with EFBIG. 64 KiB stops the first
    // spill or page write; 2 MiB lets the build get well into its table file. LMDB needs its
    // 64 KiB lock file first: lmdb-js crashes (SIGSEGV) when it cannot extend it, which is
    // LMDB's behaviour (README, Promises), so LMDB starts at 512 KiB.
    for (const kib of backend === 'lmdb' ? [512, 2048] : [64, 2048]) {
      const r = spawnSync('bash', ['-c', `ulimit -f ${kib} && exec "$0" "$@"`, process.execPath, BIN, 'build', big, '--memory', '32', '--backend', backend, '-o', table], { encoding: 'utf8' })
      expectUsageError({ status: r.status, stdout: r.stdout, stderr: r.stderr }, new RegExp(`t\\.${backend}: cannot write .*(file too large|Input/output error)`), expect)
      expect(snapshot(d)).toEqual(before)
    }
    expect(leftoversOf(table)).toEqual([])
  })

  describe('ENOSPC injected at every point of a library build', () => {
    const real = fs.writeSync
    afterEach(() => {
      fs.writeSync = real
    })

    /** Make fs.writeSync fail with ENOSPC once `budget` bytes have been written; returns the count. */
    function diskOf(budget: number): { written: number } {
      const disk = { written: 0 }
      fs.writeSync = ((fd: number, buffer: NodeJS.ArrayBufferView | string, ...rest: unknown[]) => {
        const length = typeof buffer === 'string' ? Buffer.byteLength(buffer) : typeof rest[1] === 'number' ? rest[1] : buffer.byteLength
        if (disk.written + length > budget) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
        disk.written += length
        return (real as (...a: unknown[]) => number)(fd, buffer, ...rest)
      }) as typeof fs.writeSync
      return disk
    }

    // Spill files, pages, the value area, shard headers, the table header: 7 shards of 1 MiB,
    // a quarter of the values in the value area, built with partitions that spill.
    const source: RecordSource = async (sink) => {
      const pad = 'v'.repeat(2000)
      for (let i = 0; i < 12_000; i++) {
        const k = Buffer.from(`key-${i}`)
        const v = Buffer.from(i % 4 === 0 ? `new-${i}-${pad}` : `new-${i}`)
        sink(k, 0, k.length, v, 0, v.length, 0, i + 1)
      }
      return { codec: CODEC_STRING, records: 12_000, bytes: 0, describe: {} }
    }
    const buildNew = (table: string) => buildPageFile(source, table, { inputs: ['gen'], onDuplicate: 'error', memoryMiB: 32, expectedBytes: 0, shardBytes: 1 << 20, metadata: {} })

    it('the error names the table and says the disk is full; the old table and its shards stay', async () => {
      const d = fs.mkdtempSync(path.join(dir, 'enospc-'))
      const table = path.join(d, 't.pdict')
      await build([['key-1', 'old']], table)
      const total = diskOf(Infinity) // how much a whole build writes
      await buildNew(path.join(d, 'scratch.pdict'))
      fs.writeSync = real
      for (const n of fs.readdirSync(d)) if (n.startsWith('scratch.pdict')) fs.rmSync(path.join(d, n))
      const before = snapshot(d)
      for (const share of [0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]) {
        diskOf(Math.floor(total.written * share))
        const err = await buildNew(table).then(() => undefined, (e: unknown) => e)
        fs.writeSync = real
        expect(err).toBeInstanceOf(PagedictError)
        expect((err as PagedictError).code).toBe('E_IO')
        expect((err as PagedictError).message).toMatch(new RegExp(`^${table.replace(/[.\\/]/g, '\\$&')}: cannot [a-z ]+: no space left on device$`))
        expect(snapshot(d)).toEqual(before)
      }
      expect(open(table).get('key-1')).toBe('old')
    })
  })
})

describe('a table republished while 4 readers look keys up', () => {
  const running: ChildProcess[] = []
  afterEach(() => {
    for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  })

  async function republishUnderReaders(keys: number, rounds: number, shardBytes: number, backend: 'pagefile' | 'lmdb' = 'pagefile'): Promise<void> {
    const d = fs.mkdtempSync(path.join(dir, 'republish-'))
    const table = path.join(d, backend === 'lmdb' ? 't.lmdb' : 't.pdict')
    const stop = path.join(dir, `stop-${path.basename(d)}`)
    const buildRound = async (round: number) => {
      const child = spawn(process.execPath, [BUILD_CHILD, table, String(keys), `build-${round}`, String(shardBytes), backend], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()))
      const [code] = (await once(child, 'exit')) as [number | null]
      expect(code, stderr).toBe(0)
    }
    await buildRound(0)
    const readers = [1, 2, 3, 4].map((seed) => {
      const child = spawn(process.execPath, [READER_CHILD, table, String(keys), stop, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
      running.push(child)
      const out = { stdout: '', stderr: '' }
      child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()))
      child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()))
      return { out, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> }
    })
    // Each reader has the first build open before the first rebuild starts.
    while (!readers.every((r) => r.out.stdout.startsWith('ready\n') || r.out.stderr !== '')) await sleep(10)
    for (let round = 1; round <= rounds; round++) await buildRound(round)
    fs.writeFileSync(stop, '')
    const builds = new Set<string>()
    for (const r of readers) {
      const [code, signal] = await r.exited
      expect({ code, signal, stderr: r.out.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
      const summary = JSON.parse(r.out.stdout.trim().split('\n').pop()!) as { opens: number; builds: string[] }
      expect(summary.opens).toBeGreaterThan(0)
      expect(summary.builds.length).toBeGreaterThan(1)
      for (const b of summary.builds) builds.add(b)
    }
    // The readers reopened across rebuilds (the first and at least one later build were seen).
    expect(builds.has('build-0')).toBe(true)
    expect(builds.size).toBeGreaterThan(1)
    // Every old shard was unlinked, nothing temporary is left.
    expect(leftoversOf(table)).toEqual([])
    const dict = open(table) as unknown as { header?: { shards: { name: string }[] }; get(k: string): unknown; close(): void }
    expect(String(dict.get('k3'))).toBe(`build-${rounds}|3`)
    const others = backend === 'lmdb' ? ['t.lmdb-lock'] : dict.header!.shards.map((s) => s.name).filter((n) => n !== '')
    dict.close()
    expect(fs.readdirSync(d).filter((n) => n !== path.basename(table)).sort()).toEqual(others.sort())
  }

  it('a single-shard table: every open() sees one build, no reader fails', async () => {
    await republishUnderReaders(3000, 8, 0)
  })

  it('a multi-shard table: old shards are unlinked under readers that still map them', async () => {
    await republishUnderReaders(4000, 5, 1 << 20)
  })

  it('an LMDB table: the file and its lock file are replaced under readers that still map them', async () => {
    await republishUnderReaders(3000, 6, 0, 'lmdb')
  })
})
