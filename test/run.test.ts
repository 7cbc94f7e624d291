/**
 * The built-in jobs on real data: OpenFlights routes (source airport id, column 4; CRLF line
 * ends; some ids are \N or unknown) looked up in a table of airports keyed by id. Every emit
 * is checked against an expectation this file computes on its own, in plain JS, from the
 * fixtures. Then the same over many pieces (gzip, LF and CRLF, TSV, JSONL, a header) with
 * two workers, processes and threads, and the CSV corners: quotes, a key in the last column.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { build } from '../src/build/index.js'
import { Pool } from '../dist/api/pool.js'
import type { RunResult } from '../dist/run/job.js'
import type { RunSpec } from '../dist/run/spec.js'
import { FIXTURES } from './helpers/cli.js'
import { parseCsv } from './helpers/csv-reference.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('run')
const table = path.join(dir, 'airports.pdict')
const routesFile = path.join(FIXTURES, 'openflights', 'routes.dat')
await build({ input: path.join(FIXTURES, 'openflights', 'airports.dat'), output: table, format: 'csv', key: 1 })
const lmdbTable = path.join(dir, 'airports.lmdb')
await build({ input: path.join(FIXTURES, 'openflights', 'airports.dat'), output: lmdbTable, format: 'csv', key: 1, backend: 'lmdb' })
/** The same table on each backend: every built-in job must give the same bytes on both. */
const TABLES = { pagefile: table, lmdb: lmdbTable } as const

// ---- the expectation, computed independently ------------------------------------------------

const airports = new Map(parseCsv(fs.readFileSync(path.join(FIXTURES, 'openflights', 'airports.dat'), 'utf8')).map((row) => [row[0], row.slice(1)]))
const routes = fs.readFileSync(routesFile, 'utf8').split('\r\n').slice(0, -1) // routes.dat has no quotes
const keyOf = (line: string, delimiter = ','): string => line.split(delimiter)[3]
const WIDTH = 13 // airports.dat has 14 columns; the value is every one but the id

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

function expected(emit: string, lines: readonly string[], delimiter = ','): string {
  const field = delimiter === ',' ? csvField : (s: string) => s.replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
  const out: string[] = []
  for (const line of lines) {
    const value = airports.get(keyOf(line, delimiter))
    if (emit === 'matches' && value) out.push(line)
    if (emit === 'misses' && !value) out.push(line)
    if ((emit === 'join' || emit === 'left') && value) out.push([line, ...value.map(field)].join(delimiter))
    if (emit === 'left' && !value) out.push(line + delimiter.repeat(WIDTH))
  }
  return out.map((l) => l + '\n').join('')
}

const matchedRoutes = routes.filter((l) => airports.has(keyOf(l))).length

// ---- helpers --------------------------------------------------------------------------------

const pools: Pool[] = []
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()))
  // tmpDir's own clean-up runs at process exit, which a vitest fork may never reach.
  fs.rmSync(dir, { recursive: true, force: true })
})

async function run(spec: RunSpec, files: string[], opts: { threads?: boolean; workers?: number; table?: string } = {}): Promise<RunResult[]> {
  const pool = new Pool({ table: opts.table ?? table, job: spec, workers: opts.workers ?? 2, threads: opts.threads ?? false })
  pools.push(pool)
  const out: RunResult[] = []
  for await (const r of pool.run<RunResult>(files)) {
    if (!r.ok) throw r.error
    out.push(r.result)
  }
  await pool.close()
  return out
}

function outDir(tag: string): string {
  const d = path.join(dir, `out-${tag}`)
  fs.mkdirSync(d, { recursive: true })
  return d
}

/** Split lines into `n` pieces of different sizes. */
function pieces(lines: readonly string[], n: number): string[][] {
  const out: string[][] = []
  let at = 0
  for (let i = 0; i < n; i++) {
    const size = i === n - 1 ? lines.length - at : Math.floor((lines.length / n) * (0.3 + ((i * 7) % 10) / 7))
    out.push(lines.slice(at, at + Math.min(size, lines.length - at)))
    at += Math.min(size, lines.length - at)
  }
  return out
}

// ---- the tests ------------------------------------------------------------------------------

describe.each(Object.keys(TABLES) as (keyof typeof TABLES)[])('OpenFlights: routes by source airport id against airports (%s)', (backend) => {
  it('count', async () => {
    const [r] = await run({ emit: 'count', key: 4 }, [routesFile], { table: TABLES[backend] })
    expect(r).toMatchObject({ lines: routes.length, matched: matchedRoutes, missed: routes.length - matchedRoutes, bytes: fs.statSync(routesFile).size })
    expect(r.output).toBeUndefined()
  })

  for (const emit of ['matches', 'misses', 'join', 'left'] as const) {
    for (const threads of [false, true]) {
      it(`${emit} (${threads ? 'threads' : 'processes'})`, async () => {
        const d = outDir(`${emit}-${threads}-${backend}`)
        const [r] = await run({ emit, key: 4, outDir: d }, [routesFile], { threads, table: TABLES[backend] })
        expect(r.output).toBe(path.join(d, 'routes.dat'))
        expect(fs.readFileSync(r.output!, 'utf8')).toBe(expected(emit, routes))
      })
    }
  }

  it('keeps the order of many pieces over 2 workers; gzip, LF and CRLF alike', async () => {
    const d = path.join(dir, `pieces-${backend}`)
    fs.mkdirSync(d)
    const parts = pieces(routes, 12)
    const files = parts.map((lines, i) => {
      const crlf = i % 2 === 0
      const text = lines.map((l) => l + (crlf ? '\r\n' : '\n')).join('')
      const name = path.join(d, `part-${String(i).padStart(2, '0')}.csv${i % 3 === 0 ? '.gz' : ''}`)
      fs.writeFileSync(name, i % 3 === 0 ? zlib.gzipSync(text) : text)
      return name
    })
    for (const threads of [false, true]) {
      const counts = await run({ emit: 'count', key: 4 }, files, { threads, table: TABLES[backend] })
      expect(counts.map((c) => c.lines)).toEqual(parts.map((p) => p.length))
      expect(counts.map((c) => c.matched)).toEqual(parts.map((p) => p.filter((l) => airports.has(keyOf(l))).length))
      const o = outDir(`pieces-${threads}-${backend}`)
      const joined = await run({ emit: 'join', key: 4, outDir: o }, files, { threads, table: TABLES[backend] })
      expect(joined.map((j) => path.basename(j.output!))).toEqual(files.map((f) => path.basename(f).replace(/\.gz$/, '')))
      expect(joined.map((j) => fs.readFileSync(j.output!, 'utf8')).join('')).toBe(expected('join', routes))
    }
  })

  it('reads TSV and escapes values for it', async () => {
    const tsv = path.join(dir, `routes-${backend}.tsv`)
    const lines = routes.map((l) => l.replaceAll(',', '\t'))
    fs.writeFileSync(tsv, lines.join('\n') + '\n')
    const [r] = await run({ emit: 'left', key: 4, outDir: outDir(`tsv-${backend}`) }, [tsv], { table: TABLES[backend] })
    expect(fs.readFileSync(r.output!, 'utf8')).toBe(expected('left', lines, '\t'))
  })

  it('finds the key column by its header name and writes one header with the new columns', async () => {
    const header = 'airline,airline_id,src,src_id,dst,dst_id,codeshare,stops,equipment'
    const file = path.join(dir, `routes-header-${backend}.csv`)
    fs.writeFileSync(file, '\ufeff' + header + '\r\n' + routes.join('\r\n') + '\r\n')
    const [r] = await run({ emit: 'join', key: 'src_id', header: true, as: 'airport', outDir: outDir(`header-${backend}`) }, [file], { table: TABLES[backend] })
    const names = Array.from({ length: WIDTH }, (_, i) => `airport_${i + 1}`).join(',')
    expect(r.headerBytes).toBe(Buffer.byteLength(`${header},${names}\n`))
    expect(fs.readFileSync(r.output!, 'utf8')).toBe(`${header},${names}\n` + expected('join', routes))
    expect(r.lines).toBe(routes.length)
  })

  it('JSONL: finds the key by a field path and adds the value as a field', async () => {
    const file = path.join(dir, `routes-${backend}.jsonl`)
    const objects = routes.map((l) => {
      const f = l.split(',')
      return { airline: f[0], src: { code: f[2], id: f[3] === '\\N' ? null : Number.isNaN(Number(f[3])) ? f[3] : Number(f[3]) }, dst: f[4] }
    })
    fs.writeFileSync(file, objects.map((o) => JSON.stringify(o)).join('\n') + '\n\n')
    const [r] = await run({ emit: 'left', key: 'src.id', as: 'airport', outDir: outDir(`jsonl-${backend}`) }, [file], { table: TABLES[backend] })
    const got = fs.readFileSync(r.output!, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)
    expect(got).toEqual(objects.map((o) => ({ ...o, airport: airports.get(String(o.src.id)) ?? null })))
    expect(r).toMatchObject({ lines: routes.length, matched: matchedRoutes })
  })
})

describe('CSV corners', () => {
  it('quoted keys, quoted newlines after the key, and CRLF after a last-column key', async () => {
    const file = path.join(dir, 'corners.csv')
    const text = [
      'x,"3797"', // a quoted key
      'x,"37""97"', // a key with a doubled quote: not in the table
      'x,3797,"a field with a\r\nnewline, and a comma"', // one record over two lines
      'x,1', // the \r of CRLF must not stick to a key in the last column
      'x,\\N',
      '',
    ].join('\r\n')
    fs.writeFileSync(file, text)
    const d = outDir('corners')
    const [count] = await run({ emit: 'count', key: 2 }, [file])
    expect(count).toMatchObject({ lines: 5, matched: 3, missed: 2 })
    const [m] = await run({ emit: 'matches', key: 2, outDir: d }, [file])
    expect(fs.readFileSync(m.output!, 'utf8')).toBe('x,"3797"\nx,3797,"a field with a\r\nnewline, and a comma"\nx,1\n')
  })

  it('a list value with quotes and commas is quoted only where needed', async () => {
    const file = path.join(dir, 'quirky.csv')
    const quirky = [...airports.entries()].filter(([, v]) => v.some((f) => /[",]/.test(f))).slice(0, 5)
    fs.writeFileSync(file, quirky.map(([id]) => `q,${id}`).join('\n') + '\n')
    const [r] = await run({ emit: 'join', key: 2, outDir: outDir('quirky') }, [file])
    const back = parseCsv(fs.readFileSync(r.output!, 'utf8'))
    expect(back).toEqual(quirky.map(([id, v]) => ['q', id, ...v]))
  })
})
