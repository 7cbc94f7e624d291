/**
 * Pass 1 in a worker thread (src/build/worker-input.ts). The worker's .js file exists only in
 * dist/, so this suite, which runs the TypeScript sources, builds in one thread; the CLI runs
 * dist/ and reads in a worker. These tests hold the two paths to the same tables and the same
 * error messages, and cover what only the worker path has (a record longer than a ring slot).
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { canReadInWorker as canReadInWorkerSrc } from '../src/build/worker-input.js'
import { open } from '../src/read/open.js'
import { verify } from '../src/read/verify.js'
import { pagedict } from './helpers/cli.js'
import { leftoversOf } from './helpers/leftovers.js'
import { fileWriter, tmpDir } from './helpers/tmp.js'

const dir = tmpDir('worker')
const write = fileWriter(dir)

/** The error message of a library build in this process (one thread), or '' when it succeeds. */
async function inThread(input: string, output: string, extra: Record<string, unknown> = {}): Promise<string> {
  try {
    await build({ input, output, seed: 42, ...extra })
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

describe('pass 1 in a worker thread', () => {
  it('is used by the compiled package for input files, not for standard input, and not from the sources', async () => {
    const dist = (await import(new URL('../dist/build/worker-input.js', import.meta.url).href)) as { canReadInWorker: typeof canReadInWorkerSrc }
    expect(dist.canReadInWorker({ input: 'a.csv', output: 'o' })).toBe(true)
    expect(dist.canReadInWorker({ input: ['a.csv', '-'], output: 'o' })).toBe(false)
    expect(canReadInWorkerSrc({ input: 'a.csv', output: 'o' })).toBe(false)
  })

  it('builds the same table as one thread, with the same seed', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `k${i}\tv${i}\t${'x'.repeat(i % 50)}`)
    const input = write('same.tsv', rows.join('\n') + '\n')
    const a = path.join(dir, 'one-thread.pdict')
    const b = path.join(dir, 'worker.pdict')
    expect(await inThread(input, a, { memory: 32 })).toBe('')
    expect(pagedict(['build', input, '--seed', '42', '--memory', '32', '-o', b]).status).toBe(0)
    const dumpA = pagedict(['dump', a, '--format', 'jsonl'])
    const dumpB = pagedict(['dump', b, '--format', 'jsonl'])
    expect(dumpB.stdout.split('\n').length).toBe(20_001)
    expect(dumpB.stdout).toBe(dumpA.stdout) // same seed: same hash order, same records
    expect(verify(b).ok).toBe(true)
  })

  it('fails with the same one-line messages as one thread, and leaves nothing behind', async () => {
    const cases: [string, string, string[]][] = [
      ['missing-key.csv', 'k1,v1\nk2,v2\n\u00a0\n' + 'k3,v3\n'.repeat(3) + 'k4\n', ['--key', '2']],
      ['duplicate.csv', Array.from({ length: 5000 }, (_, i) => `k${i % 4000},v${i}`).join('\n') + '\n', []],
      ['bad-quote.csv', 'k1,v1\nk2,"never\n', []],
    ]
    for (const [name, content, args] of cases) {
      const input = write(name, content)
      const table = path.join(dir, name + '.pdict')
      const expected = await inThread(input, table, args.length > 0 ? { key: 2 } : {})
      expect(expected).not.toBe('')
      const r = pagedict(['build', input, ...args, '-o', table])
      expect(r.status).toBe(2)
      expect(r.stderr.trim()).toBe(`pagedict build: ${expected}`)
      expect(fs.existsSync(table)).toBe(false)
      expect(leftoversOf(table)).toEqual([])
    }
  })

  it('carries a record longer than a ring slot, in input order', () => {
    const big = 'b'.repeat(3 << 20) // a value of 3 MiB: past the 1 MiB slot
    const input = write('long.tsv', `k1\tv1\nk2\t${big}\nk3\tv3\nk2\tlast\n`)
    const table = path.join(dir, 'long.pdict')
    expect(pagedict(['build', input, '--on-duplicate', 'first', '-o', table]).status).toBe(0)
    const dict = open(table)
    expect(dict.get('k2')).toBe(big) // the first of the two, so the long record kept its place
    expect(dict.get('k3')).toBe('v3')
    expect(dict.size).toBe(3)
    dict.close()
  })

  it('still reads standard input (in the main thread)', () => {
    const table = path.join(dir, 'stdin.pdict')
    expect(pagedict(['build', '-', '--format', 'csv', '-o', table], { input: 'a,1\nb,2\n' }).status).toBe(0)
    const dict = open(table)
    expect(dict.get('b')).toBe('2')
    dict.close()
  })
})
