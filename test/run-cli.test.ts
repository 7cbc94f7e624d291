/**
 * `pagedict run` end to end through the compiled CLI: the count table and the NDJSON
 * records, combined (-o, stdout) and per-file (--out-dir) output in input order, standard
 * input, a custom job, the exit codes (1 for failed files, 2 for bad usage, one line, no
 * stack) and Ctrl-C (130, with what was done reported).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, FIXTURES, expectUsageError, pagedict } from './helpers/cli.js'
import { parseCsv } from './helpers/csv-reference.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('run-cli')
// tmpDir's own clean-up runs at process exit, which a vitest fork may never reach.
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const table = path.join(dir, 'airports.pdict')
const routesFile = path.join(FIXTURES, 'openflights', 'routes.dat')
expect(pagedict(['build', path.join(FIXTURES, 'openflights', 'airports.dat'), '--format', 'csv', '-o', table]).status).toBe(0)

const airports = new Map(parseCsv(fs.readFileSync(path.join(FIXTURES, 'openflights', 'airports.dat'), 'utf8')).map((row) => [row[0], row.slice(1)]))
const routes = fs.readFileSync(routesFile, 'utf8').split('\r\n').slice(0, -1)
const hit = (line: string): boolean => airports.has(line.split(',')[3])

// Three pieces of routes.dat (one gzipped) with a header line each.
const HEADER = 'airline,airline_id,src,src_id,dst,dst_id,codeshare,stops,equipment'
const pieceDir = path.join(dir, 'pieces')
fs.mkdirSync(pieceDir)
const thirds = [routes.slice(0, 20000), routes.slice(20000, 45000), routes.slice(45000)]
thirds.forEach((lines, i) => {
  const text = [HEADER, ...lines].join('\r\n') + '\r\n'
  const file = path.join(pieceDir, `routes-${i}.csv${i === 1 ? '.gz' : ''}`)
  fs.writeFileSync(file, i === 1 ? zlib.gzipSync(text) : text)
})
const pieceGlob = path.join(pieceDir, 'routes-*.csv*')

interface FileRecord {
  type: 'file'
  file: string
  ok: boolean
  lines?: number
  matched?: number
  error?: string
  result?: unknown
}

function records(stdout: string): Record<string, unknown>[] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

describe('pagedict run', () => {
  it('count prints a per-file and a total table; nothing on stderr when it is not a terminal', () => {
    const r = pagedict(['run', table, routesFile, '--key', '4'])
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0].split(/\s+/)).toEqual(['file', 'lines', 'matched', 'missed', 'bytes', 'ms'])
    const matched = routes.filter(hit).length
    expect(lines[1].split(/\s+/).slice(0, 4)).toEqual([routesFile, String(routes.length), String(matched), String(routes.length - matched)])
    expect(lines[2]).toMatch(new RegExp(`^total \\(1 file\\)\\s+${routes.length}\\s+${matched}\\s`))
  })

  it('--json prints a record per file in input order (a glob, expanded and sorted) and a total; a missing file fails with exit 1', () => {
    const missing = path.join(dir, 'missing.csv')
    const r = pagedict(['run', table, pieceGlob, missing, '--key', 'src_id', '--header', '--json', '--workers', '2'])
    expect(r.status).toBe(1)
    const recs = records(r.stdout)
    const files = recs.filter((x) => x.type === 'file') as unknown as FileRecord[]
    expect(files.map((f) => path.basename(f.file))).toEqual(['routes-0.csv', 'routes-1.csv.gz', 'routes-2.csv', 'missing.csv'])
    expect(files.slice(0, 3).map((f) => [f.ok, f.lines, f.matched])).toEqual(thirds.map((t) => [true, t.length, t.filter(hit).length]))
    expect(files[3]).toMatchObject({ ok: false, error: `${missing}: cannot read: no such file or directory` })
    expect(recs.at(-1)).toMatchObject({ type: 'total', files: 4, ok: 3, failed: 1, lines: routes.length, matched: routes.filter(hit).length })
  })

  it('-o writes the joined lines of every file in input order, with one header', () => {
    const out = path.join(dir, 'joined.csv')
    const r = pagedict(['run', table, pieceGlob, '--key', 'src_id', '--header', '--emit', 'join', '-o', out, '--threads'])
    expect(r.status).toBe(0)
    const rows = parseCsv(fs.readFileSync(out, 'utf8'))
    expect(rows[0]).toEqual([...HEADER.split(','), ...Array.from({ length: 13 }, (_, i) => `value_${i + 1}`)])
    expect(rows.slice(1)).toEqual(routes.filter(hit).map((l) => [...l.split(','), ...airports.get(l.split(',')[3])!]))
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.pagedict-run-'))).toEqual([])
  })

  it('writes the lines to stdout (the report to stderr), reading standard input for -', () => {
    const r = pagedict(['run', table, '-', '--key', '4', '--emit', 'misses'], { input: fs.readFileSync(routesFile) })
    expect(r.status).toBe(0)
    expect(r.stdout).toBe(
      routes
        .filter((l) => !hit(l))
        .map((l) => l + '\n')
        .join(''),
    )
    expect(r.stderr).toMatch(/^file\s+lines/)
    expect(r.stderr).toMatch(/\n-\s+67663\s/)
  })

  it('--out-dir writes one file per input, named after it', () => {
    const out = path.join(dir, 'per-file')
    const r = pagedict(['run', table, pieceDir, '--key', '4', '--emit', 'matches', '--out-dir', out, '--json'])
    expect(r.status).toBe(0)
    expect(fs.readdirSync(out).sort()).toEqual(['routes-0.csv', 'routes-1.csv', 'routes-2.csv'])
    // With column 4 and no --header, the header line is a miss; the rest are the matches.
    thirds.forEach((lines, i) => {
      expect(fs.readFileSync(path.join(out, `routes-${i}.csv`), 'utf8')).toBe(lines.filter(hit).map((l) => l + '\n').join(''))
    })
  })

  it('runs a custom job and puts its result in the records', () => {
    const job = path.join(dir, 'longest.mjs')
    fs.writeFileSync(
      job,
      `export default async function (dict, file, ctx) {
  let longest = 0
  const stats = await ctx.scan(ctx.options, (found, buf, start, end) => { if (found) longest = Math.max(longest, end - start) })
  return { longest, lines: stats.lines }
}
`,
    )
    const r = pagedict(['run', table, routesFile, '--job', job, '--key', '4', '--json'])
    expect(r.status).toBe(0)
    const [file, total] = records(r.stdout)
    const longest = Math.max(...routes.filter(hit).map((l) => Buffer.byteLength(l)))
    expect(file).toEqual({ type: 'file', file: routesFile, ok: true, result: { longest, lines: routes.length } })
    expect(total).toMatchObject({ type: 'total', files: 1, ok: 1, failed: 0 })
  })

  it('bad usage and bad input exit 2 with one line and no stack trace', () => {
    expectUsageError(pagedict(['run', table, routesFile, '--workers', '0']), /^pagedict run: --workers: must be an integer from 1 to 1024, got "0"$/, expect)
    expectUsageError(pagedict(['run', table, routesFile, '--emit', 'sum']), /^pagedict run: --emit: must be one of count, matches, misses, join, left/, expect)
    expectUsageError(pagedict(['run', table, routesFile, '-o', path.join(dir, 'x.csv')]), /^pagedict run: -o: count writes no lines/, expect)
    expectUsageError(pagedict(['run', table, routesFile, '--format', 'jsonl']), /^pagedict run: --key: jsonl data needs a field path/, expect)
    expectUsageError(pagedict(['run', table, routesFile, '--key', 'src_id']), /^pagedict run: key: .*routes\.dat is csv: "src_id" names a column, which needs the header option/, expect)
    expectUsageError(pagedict(['run', path.join(dir, 'nope.pdict'), routesFile]), /^pagedict run: .*nope\.pdict: cannot open the table: no such file or directory$/, expect)
    const noJob = path.join(dir, 'no-job.mjs')
    fs.writeFileSync(noJob, 'export const x = 1\n')
    expectUsageError(pagedict(['run', table, routesFile, '--job', noJob]), /^pagedict run: job: .*no-job\.mjs has no default export function/, expect)
  })

  it('bad data files fail alone: each names its file and line, the others are reported, output holds only good files', () => {
    const write = (name: string, content: string | Buffer): string => {
      const file = path.join(dir, name)
      fs.writeFileSync(file, content)
      return file
    }
    const good = write('good.csv', '1,a\n3797,b\n')
    const good2 = write('good2.csv', '507,c\nnot-an-id,d\n')
    const quote = write('quote.csv', '1,a\n2,"never closed\n3,c\n')
    const gz = write('cut.csv.gz', zlib.gzipSync(Buffer.from('1,a\n'.repeat(1000))).subarray(0, 40))
    const folder = path.join(dir, 'empty-folder')
    fs.mkdirSync(folder, { recursive: true })
    const missing = path.join(dir, 'missing.csv')
    const out = path.join(dir, 'bad-files.csv')
    const r = pagedict(['run', table, good, quote, gz, missing, good2, '--key', '1', '--emit', 'matches', '-o', out, '--json'])
    expect(r.status).toBe(1)
    const recs = records(r.stdout)
    expect(recs.slice(0, 5).map((x) => x.ok)).toEqual([true, false, false, false, true])
    expect(recs[1].error).toMatch(/quote\.csv:2: .*never closed/)
    expect(recs[2].error).toMatch(/cut\.csv\.gz: corrupt gzip data/)
    expect(recs[3].error).toMatch(/missing\.csv.*no such file/)
    expect(recs[5]).toMatchObject({ type: 'total', files: 5, ok: 2, failed: 3 })
    expect(fs.readFileSync(out, 'utf8')).toBe('1,a\n3797,b\n507,c\n')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('Ctrl-C stops handing out work, ends the workers, reports what was done and exits 130', async () => {
    const job = path.join(dir, 'waits.mjs')
    fs.writeFileSync(
      job,
      `export default (dict, file, ctx) => ctx.index === 0 ? 'done' : new Promise((resolve, reject) => {
  ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))
})
`,
    )
    // The first file is the largest, so it goes out first and finishes; the rest wait.
    const files = [routesFile, ...Array.from({ length: 5 }, (_, i) => path.join(pieceDir, `routes-${i % 3}.csv${i % 3 === 1 ? '.gz' : ''}`))].slice(0, 4)
    const child = spawn(process.execPath, [BIN, 'run', table, ...files, '--job', job, '--json', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        if (stdout.includes('"type":"file"')) resolve()
      })
    })
    child.kill('SIGINT')
    expect(await exited).toBe(130)
    expect(stderr).toBe('')
    const recs = records(stdout)
    expect(recs[0]).toEqual({ type: 'file', file: routesFile, ok: true, result: 'done' })
    expect(recs.filter((x) => x.type === 'file')).toHaveLength(1)
    expect(recs.at(-1)).toMatchObject({ type: 'total', files: 4, ok: 1, failed: 0, cancelled: 3, interrupted: true })
  })
})
