/**
 * The pool with custom job modules: results in input order whatever the completion order,
 * largest files first, a worker that dies (retried, then failed), a job that throws, a
 * missing file, start-up failures, cancelling, and every option checked up front. Workers
 * are processes forked from the compiled dist/ (npm test compiles first), and threads.
 * No assertion depends on timing: the machine may be slow and busy.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
// The pool forks dist/pool/child.js, so the pool and its error class come from dist/ too.
import { PagedictError } from '../dist/errors.js'
import { Pool } from '../dist/api/pool.js'
import type { PoolResult } from '../dist/pool/types.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('pool')
const table = path.join(dir, 'table.pdict')
const jobs = path.join(dir, 'jobs')
fs.mkdirSync(jobs)

/** Write a job module; returns its path. */
function job(name: string, source: string): string {
  const file = path.join(jobs, name)
  fs.writeFileSync(file, source)
  return file
}

/** Data files: file i holds the key "k<i>" repeated so that file sizes differ. */
function dataFiles(tag: string, count: number, size = (i: number) => 1 + ((i * 7) % 11)): string[] {
  const sub = path.join(dir, tag)
  fs.mkdirSync(sub, { recursive: true })
  return Array.from({ length: count }, (_, i) => {
    const file = path.join(sub, `f${String(i).padStart(3, '0')}.csv`)
    fs.writeFileSync(file, `k${i}\n`.repeat(size(i)))
    return file
  })
}

async function collect<R>(pool: Pool, files: string[]): Promise<PoolResult<R>[]> {
  const out: PoolResult<R>[] = []
  for await (const r of pool.run<R>(files)) out.push(r)
  return out
}

const pools: Pool[] = []
function pool(options: ConstructorParameters<typeof Pool>[0]): Pool {
  const p = new Pool(options)
  pools.push(p)
  return p
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()))
  // tmpDir's own clean-up runs at process exit, which a vitest fork may never reach.
  fs.rmSync(dir, { recursive: true, force: true })
})

await build(
  Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`] as const),
  table,
)

const echo = job(
  'echo.mjs',
  `import fs from 'node:fs'
export default async function (dict, file, ctx) {
  const key = fs.readFileSync(file, 'utf8').split('\\n')[0]
  // A little waiting that differs per file, so completion order differs from input order.
  await new Promise((r) => setTimeout(r, (ctx.index * 13) % 5))
  return { name: ctx.name, index: ctx.index, worker: ctx.workerId, value: dict.get(key) ?? null }
}
`,
)

for (const threads of [false, true]) {
  const kind = threads ? 'threads' : 'processes'

  describe(`pool with ${kind}`, () => {
    it('yields one result per file, in input order, from 2 workers', async () => {
      const files = dataFiles(`order-${kind}`, 40)
      const results = await collect<{ name: string; index: number; worker: number; value: string }>(pool({ table, job: echo, workers: 2, threads }), files)
      expect(results.map((r) => r.file)).toEqual(files)
      for (const [i, r] of results.entries()) {
        expect(r.ok).toBe(true)
        if (!r.ok) continue
        expect(r.index).toBe(i)
        expect(r.result).toMatchObject({ name: files[i], index: i, value: `v${i}` })
      }
      expect(new Set(results.map((r) => (r.ok ? r.result.worker : 0))).size).toBeGreaterThanOrEqual(1)
    })

    it('retries a file whose worker died, then reports it failed; the others still arrive', async () => {
      const crash = job(
        `crash-${kind}.mjs`,
        `export default async function (dict, file, ctx) {
  if (file.endsWith('f003.csv')) ${threads ? 'process.exit(7)' : "process.kill(process.pid, 'SIGKILL')"}
  return ctx.name
}
`,
      )
      const files = dataFiles(`crash-${kind}`, 8)
      const results = await collect(pool({ table, job: crash, workers: 2, threads, retries: 1 }), files)
      expect(results.map((r) => r.file)).toEqual(files)
      for (const [i, r] of results.entries()) {
        if (i === 3) {
          expect(r.ok).toBe(false)
          if (r.ok) continue
          expect(r.attempts).toBe(2)
          expect(r.cancelled).toBe(false)
          expect(r.error).toBeInstanceOf(PagedictError)
          expect(r.error.code).toBe('E_JOB')
          expect(r.error.message).toMatch(threads ? /worker died \(exit code 7\).*tried 2 times/ : /worker died \(killed by SIGKILL\).*tried 2 times/)
        } else {
          expect(r).toMatchObject({ ok: true, result: files[i], attempts: 1 })
        }
      }
    })

    it('a worker killed mid-file: the file is retried and counted once, no other result lost or repeated', async () => {
      // The first attempt at f005 kills its own worker halfway through scanning the file;
      // the marker file makes the retry run through. Every file's count must match its lines.
      const marker = path.join(dir, `killed-once-${kind}`)
      const killer = job(
        `kill-once-${kind}.mjs`,
        `import fs from 'node:fs'
export default async function (dict, file, ctx) {
  let lines = 0
  const stats = await ctx.scan({ key: 1 }, () => {
    lines++
    if (ctx.name.endsWith('f005.csv') && lines === 10 && !fs.existsSync(${JSON.stringify(marker)})) {
      fs.writeFileSync(${JSON.stringify(marker)}, '')
      ${threads ? 'process.exit(9)' : "process.kill(process.pid, 'SIGKILL')"}
    }
  })
  return { lines, matched: stats.matched, worker: ctx.workerId }
}
`,
      )
      const files = dataFiles(`kill-once-${kind}`, 10, () => 20)
      const results = await collect<{ lines: number; matched: number }>(pool({ table, job: killer, workers: 2, threads, retries: 1 }), files)
      expect(results.map((r) => r.file)).toEqual(files)
      expect(fs.existsSync(marker)).toBe(true)
      for (const [i, r] of results.entries()) {
        expect(r).toMatchObject({ ok: true, attempts: i === 5 ? 2 : 1, result: { lines: 20, matched: 20 } })
      }
    })

    it('a job that throws fails its file with its message, once, without a retry', async () => {
      const throws = job(
        `throws-${kind}.mjs`,
        `export default async function (dict, file, ctx) {
  if (ctx.index === 2) throw new Error('no good: ' + ctx.name)
  return ctx.index
}
`,
      )
      const files = dataFiles(`throws-${kind}`, 5)
      const results = await collect(pool({ table, job: throws, workers: 2, threads }), files)
      expect(results.map((r) => r.ok)).toEqual([true, true, false, true, true])
      const bad = results[2]
      if (bad.ok) throw new Error('expected a failure')
      expect(bad.attempts).toBe(1)
      expect(bad.error.code).toBe('E_JOB')
      expect(bad.error.message).toBe(`no good: ${files[2]}`)
    })
  })
}

describe('pool scheduling and faults', () => {
  it('hands out the largest files first', async () => {
    const seq = job('seq.mjs', `let n = 0\nexport default () => n++\n`)
    const sizes = [3, 9, 1, 7, 5]
    const files = dataFiles('largest', sizes.length, (i) => sizes[i])
    const results = await collect<number>(pool({ table, job: seq, workers: 1 }), files)
    // With one worker the job's own counter gives the order it saw the files in.
    const bySeq = results.map((r) => (r.ok ? r.result : -1))
    expect(bySeq).toEqual([3, 0, 4, 1, 2])
  })

  it('succeeds on the retry when only the first attempt crashes', async () => {
    const flaky = job(
      'flaky.mjs',
      `import fs from 'node:fs'
export default async function (dict, file) {
  const marker = file + '.tried'
  if (!fs.existsSync(marker)) { fs.writeFileSync(marker, ''); process.exit(1) }
  return 'second time lucky'
}
`,
    )
    const files = dataFiles('flaky', 3)
    const results = await collect(pool({ table, job: flaky, workers: 2 }), files)
    expect(results.map((r) => [r.ok, r.attempts])).toEqual([
      [true, 2],
      [true, 2],
      [true, 2],
    ])
  })

  it('with retries 0 a dead worker fails its file at once', async () => {
    const die = job('die.mjs', `export default () => process.exit(2)\n`)
    const [r] = await collect(pool({ table, job: die, workers: 1, retries: 0 }), dataFiles('die', 1))
    expect(r.ok).toBe(false)
    expect(r.attempts).toBe(1)
  })

  it('reports a missing file or a directory as that file failing', async () => {
    const files = dataFiles('missing', 2)
    const results = await collect(pool({ table, job: echo, workers: 2 }), [files[0], path.join(dir, 'nope.csv'), dir, files[1]])
    expect(results.map((r) => r.ok)).toEqual([true, false, false, true])
    const [missing, directory] = [results[1], results[2]]
    if (missing.ok || directory.ok) throw new Error('expected failures')
    expect(missing.error.code).toBe('E_IO')
    expect(missing.error.message).toMatch(/nope\.csv: cannot read: no such file or directory/)
    expect(directory.error.message).toMatch(/is a directory/)
  })

  it('throws when no worker can open the table', async () => {
    const p = pool({ table: path.join(dir, 'no-table.pdict'), job: echo, workers: 2 })
    await expect(collect(p, dataFiles('no-table', 2))).rejects.toMatchObject({ code: 'E_IO', message: expect.stringMatching(/no-table\.pdict/) })
  })

  it('throws when the job module has no default export', async () => {
    const none = job('none.mjs', `export const notAJob = 1\n`)
    await expect(collect(pool({ table, job: none, workers: 1 }), dataFiles('none', 1))).rejects.toMatchObject({ code: 'E_OPTION' })
  })

  it('cancel() stops the run: finished files stay, the rest are cancelled, aborted jobs see their signal', async () => {
    const waits = job(
      'waits.mjs',
      `export default (dict, file, ctx) => ctx.index === 0 ? 'quick' : new Promise((resolve, reject) => {
  ctx.signal.addEventListener('abort', () => reject(new Error('aborted as asked')))
})
`,
    )
    // File 0 is the largest, so it goes out first; the others wait for their signal.
    const files = dataFiles('cancel', 6, (i) => (i === 0 ? 50 : 1))
    const p = pool({ table, job: waits, workers: 2 })
    const results: PoolResult[] = []
    for await (const r of p.run(files)) {
      results.push(r)
      if (r.index === 0) p.cancel()
    }
    expect(results.map((r) => r.file)).toEqual(files)
    expect(results[0]).toMatchObject({ ok: true, result: 'quick' })
    for (const r of results.slice(1)) expect(r).toMatchObject({ ok: false, cancelled: true })
    // The pool still works after a cancelled run.
    const again = await collect(p, files.slice(0, 1))
    expect(again[0]).toMatchObject({ ok: true, result: 'quick' })
  })

  it('kills a job that ignores its abort signal', async () => {
    const stubborn = job('stubborn.mjs', `export default () => new Promise(() => {})\n`)
    const p = pool({ table, job: stubborn, workers: 1 })
    const it = p.run(dataFiles('stubborn', 2))[Symbol.asyncIterator]()
    setTimeout(() => p.cancel(), 50)
    const results = [await it.next(), await it.next(), await it.next()]
    expect(results.map((r) => r.done)).toEqual([false, false, true])
    for (const r of results.slice(0, 2)) expect(r.value).toMatchObject({ ok: false, cancelled: true })
  })

  it('breaking out of the loop early cancels the rest and leaves the pool usable', async () => {
    const files = dataFiles('break', 10)
    const p = pool({ table, job: echo, workers: 2 })
    for await (const r of p.run(files)) if (r.index === 1) break
    expect((await collect(p, files.slice(0, 2))).map((r) => r.ok)).toEqual([true, true])
    await p.close()
    await expect(collect(p, files)).rejects.toMatchObject({ code: 'E_OPTION' })
  })

  it('gives custom jobs the hot loop through ctx.scan', async () => {
    const scan = job(
      'scan.mjs',
      `export default async function (dict, file, ctx) {
  let values = []
  const stats = await ctx.scan({ key: 1 }, (found) => { if (found) values.push(dict.lastValue.end - dict.lastValue.start) })
  return { ...stats, valueBytes: values.reduce((a, b) => a + b, 0), options: ctx.options }
}
`,
    )
    const file = path.join(dir, 'scan.csv')
    fs.writeFileSync(file, 'k1\r\nk22\r\nnope\r\nk3')
    const [r] = await collect(pool({ table, job: scan, workers: 1, jobOptions: { any: ['json'] } }), [file])
    expect(r).toMatchObject({ ok: true, result: { lines: 4, matched: 3, missed: 1, valueBytes: 2 + 3 + 2, options: { any: ['json'] } } })
  })
})

describe('pool options are checked up front', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['options', null as unknown as Record<string, unknown>],
    ['table', { job: echo }],
    ['table', { table: '', job: echo }],
    ['job', { table }],
    ['job', { table, job: 42 }],
    ['job', { table, job: new URL('https://example.com/job.js') }],
    ['job.emit', { table, job: { emit: 'sum' } }],
    ['job.outDir', { table, job: { emit: 'join' } }],
    ['job.key', { table, job: { emit: 'count', key: 0 } }],
    ['job.key', { table, job: { emit: 'count', format: 'jsonl' } }],
    ['job.delimiter', { table, job: { emit: 'count', delimiter: '::' } }],
    ['job.format', { table, job: { emit: 'count', format: 'xml' } }],
    ['job.colour', { table, job: { emit: 'count', colour: 'red' } }],
    ['jobOptions', { table, job: echo, jobOptions: { big: 1n } }],
    ['jobOptions', { table, job: { emit: 'count' }, jobOptions: {} }],
    ['workers', { table, job: echo, workers: 0 }],
    ['workers', { table, job: echo, workers: 1.5 }],
    ['threads', { table, job: echo, threads: 'yes' }],
    ['retries', { table, job: echo, retries: -1 }],
    ['onProgress', { table, job: echo, onProgress: 'loud' }],
    ['speed', { table, job: echo, speed: 11 }],
  ]
  for (const [option, options] of cases) {
    it(`refuses a bad ${option}`, () => {
      let error: unknown
      try {
        new Pool(options as unknown as ConstructorParameters<typeof Pool>[0])
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(PagedictError)
      expect(error).toMatchObject({ code: 'E_OPTION', option })
      expect((error as Error).message.startsWith(`${option}:`)).toBe(true)
    })
  }
})
