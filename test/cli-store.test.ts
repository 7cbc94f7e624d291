/**
 * The store's command line end to end on real data from fixtures/: build, get, info,
 * verify and dump on OpenFlights airports (by id, and by ICAO code with a header), the word
 * list as a key set, JSONL and JSON-object tables and gzip input; then the bad inputs, each
 * of which must exit 2 with one line naming the file, the line and the reason, and leave no
 * output file.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { FIXTURES, expectUsageError, pagedict } from './helpers/cli.js'
import { parseCsv } from './helpers/csv-reference.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('cli-store')
const airportsFile = path.join(FIXTURES, 'openflights', 'airports.dat')
const airports = parseCsv(fs.readFileSync(airportsFile, 'utf8'))
const byId = new Map(airports.map((row) => [row[0], row.slice(1)]))
const words = fs.readFileSync(path.join(FIXTURES, 'english-words', 'words.txt'), 'utf8').split('\n').filter((w) => w !== '')
const HEADER = 'id,name,city,country,iata,icao,lat,lon,alt,tz,dst,tzdb,type,source'

function getJson(table: string, keys: string[]): { key: string; found: boolean; value?: unknown }[] {
  const r = pagedict(['get', table, '--json'], { input: keys.join('\n') + '\n' })
  return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { key: string; found: boolean; value?: unknown })
}

function noLeftovers(table: string): void {
  expect(fs.existsSync(table)).toBe(false)
  expect(fs.readdirSync(path.dirname(table)).filter((n) => n.startsWith(`.${path.basename(table)}.tmp-`))).toEqual([])
}

const BACKENDS = ['pagefile', 'lmdb'] as const

describe.each(BACKENDS)('pagedict build and get on OpenFlights airports (%s)', (backend) => {
  const table = path.join(dir, `airports.${backend}`)
  const build = (args: string[]) => pagedict(['build', ...args, '--backend', backend])

  it('keys airports by id (column 1) with every other column as the value', () => {
    const r = build([airportsFile, '--format', 'csv', '-o', table, '--json'])
    expect(r.status).toBe(0)
    const report = JSON.parse(r.stdout) as { keys: number; codec: string }
    expect(report.keys).toBe(byId.size)
    expect(report.codec).toBe('list')
    const ids = [...byId.keys()]
    const sample = ids.filter((_, i) => i % 97 === 0).concat(['3797', '1', ids[ids.length - 1]])
    for (const rec of getJson(table, [...sample, 'no-such-id'])) {
      if (rec.key === 'no-such-id') expect(rec).toEqual({ key: 'no-such-id', found: false })
      else expect(rec).toEqual({ key: rec.key, found: true, value: byId.get(rec.key) })
    }
    // Quoted fields with commas and doubled quotes come back unescaped.
    const quirky = airports.find((row) => row[1].includes('"') || row[1].includes(','))!
    expect(getJson(table, [quirky[0]])[0].value).toEqual(quirky.slice(1))
  })

  it('prints plain values, and exits 1 when a key is missing', () => {
    const one = pagedict(['get', table, '3797'])
    expect(one.status).toBe(0)
    expect(one.stdout).toBe(byId.get('3797')!.join('\t') + '\n')
    const some = pagedict(['get', table, '3797', 'nope'])
    expect(some.status).toBe(1)
    expect(some.stdout).toBe(['3797', ...byId.get('3797')!].join('\t') + '\n')
    expect(some.stderr).toMatch(/not found: nope/)
  })

  it('keys airports by ICAO code through a header, with named value columns', () => {
    const csv = path.join(dir, 'airports-header.csv')
    fs.writeFileSync(csv, HEADER + '\n' + fs.readFileSync(airportsFile, 'utf8'))
    const icao = path.join(dir, `icao.${backend}`)
    const r = build([csv, '--header', '--key', 'icao', '--value', 'name,city', '-o', icao])
    expect(r.status).toBe(0)
    const expected = new Map(airports.map((row) => [row[5], [row[1], row[2]]]))
    for (const rec of getJson(icao, ['KJFK', 'EGLL', 'YSSY', 'AYGA'])) expect(rec.value).toEqual(expected.get(rec.key))
    const info = JSON.parse(pagedict(['info', icao, '--json']).stdout) as Record<string, unknown>
    expect(info).toMatchObject({ keys: expected.size, backend, format_version: backend === 'pagefile' ? 2 : 1, codec: 'list' })
    expect(info.build).toMatchObject({ key: 'icao', value: 'name,city', header: true, on_duplicate: 'error' })
  })

  it('refuses duplicate IATA codes by default, and keeps the first or last when asked', () => {
    const csv = path.join(dir, 'airports-header.csv')
    const iata = path.join(dir, `iata.${backend}`)
    // IATA is \N for many airports: the default policy names the second one's line.
    const dup = build([csv, '--header', '--key', 'iata', '--value', 'name', '-o', iata])
    const rows = airports.map((row, i) => ({ iata: row[4], name: row[1], line: i + 2 }))
    const firstDup = rows.find((row, i) => rows.findIndex((o) => o.iata === row.iata) < i)!
    const firstSeen = rows.find((o) => o.iata === firstDup.iata)!
    expectUsageError(dup, new RegExp(`airports-header\\.csv:${firstDup.line}: duplicate key "${firstDup.iata.replace(/\\/g, '\\\\\\\\')}" \\(first at line ${firstSeen.line}\\)`), expect)
    noLeftovers(iata)
    for (const policy of ['first', 'last']) {
      expect(build([csv, '--header', '--key', 'iata', '--value', 'name', '--on-duplicate', policy, '-o', iata]).status).toBe(0)
      const named = rows.filter((row) => row.iata === '\\N')
      expect(getJson(iata, ['\\N'])[0].value).toBe(policy === 'first' ? named[0].name : named[named.length - 1].name)
    }
  })

  it('verifies a sound table and dumps every entry', () => {
    const v = pagedict(['verify', table])
    expect(v.status).toBe(0)
    expect(v.stdout).toMatch(/: ok: .*7698 (keys|entries)/)
    const dump = pagedict(['dump', table, '--format', 'jsonl'])
    const dumped = new Map(dump.stdout.trimEnd().split('\n').map((l) => {
      const o = JSON.parse(l) as { key: string; value: string[] }
      return [o.key, o.value]
    }))
    expect(dumped).toEqual(byId)
    const tsv = pagedict(['dump', table]).stdout.trimEnd().split('\n')
    expect(tsv.length).toBe(byId.size)
  })
})

describe.each(BACKENDS)('other table kinds (%s)', (backend) => {
  const build = (args: string[]) => pagedict(['build', ...args, '--backend', backend])
  it('builds the word list as a key set', () => {
    const table = path.join(dir, `words.${backend}`)
    expect(build([path.join(FIXTURES, 'english-words', 'words.txt'), '-o', table]).status).toBe(0)
    const asked = [words[0], words[1000], words[words.length - 1], 'zzzz-not-a-word']
    expect(getJson(table, asked)).toEqual([...asked.slice(0, 3).map((key) => ({ key, found: true })), { key: 'zzzz-not-a-word', found: false }])
    expect(JSON.parse(pagedict(['info', table, '--json']).stdout)).toMatchObject({ keys: words.length, codec: 'none' })
  })

  it('builds JSONL by a nested key path, and one big JSON object', () => {
    const jsonl = path.join(dir, 'airports.jsonl')
    fs.writeFileSync(jsonl, airports.map((r) => JSON.stringify({ name: r[1], codes: { iata: r[4], id: Number(r[0]) }, geo: [Number(r[6]), Number(r[7])] })).join('\n') + '\n')
    const t1 = path.join(dir, `jsonl.${backend}`)
    expect(build([jsonl, '--key', 'codes.id', '-o', t1]).status).toBe(0)
    expect(getJson(t1, ['3797'])[0].value).toEqual({ name: 'John F Kennedy International Airport', codes: { iata: 'JFK', id: 3797 }, geo: [40.63980103, -73.77890015] })
    const t2 = path.join(dir, `jsonl-name.${backend}`)
    expect(build([jsonl, '--key', 'codes.id', '--value', 'name', '-o', t2]).status).toBe(0)
    expect(getJson(t2, ['3797'])[0].value).toBe('John F Kennedy International Airport')
    const json = path.join(dir, 'airports.json')
    fs.writeFileSync(json, JSON.stringify(Object.fromEntries(airports.map((r) => [r[5], { name: r[1], alt: Number(r[8]) }])), null, 2))
    const t3 = path.join(dir, `json.${backend}`)
    expect(build([json, '-o', t3]).status).toBe(0)
    expect(getJson(t3, ['KJFK'])[0].value).toEqual({ name: 'John F Kennedy International Airport', alt: 13 })
  })

  it('reads gzip input by its bytes, whatever its name', () => {
    const gz = zlib.gzipSync(fs.readFileSync(airportsFile))
    const named = path.join(dir, 'airports.csv.gz')
    const unnamed = path.join(dir, 'airports-gzipped.csv')
    fs.writeFileSync(named, gz)
    fs.writeFileSync(unnamed, gz)
    for (const input of [named, unnamed]) {
      const table = `${input}.${backend}`
      expect(build([input, '-o', table]).status).toBe(0)
      expect(getJson(table, ['3797'])[0].value).toEqual(byId.get('3797'))
    }
  })

  it('makes an empty table from an empty input', () => {
    const empty = path.join(dir, 'empty.csv')
    fs.writeFileSync(empty, '')
    const table = path.join(dir, `empty.${backend}`)
    expect(build([empty, '-o', table]).status).toBe(0)
    expect(JSON.parse(pagedict(['info', table, '--json']).stdout)).toMatchObject({ keys: 0 })
    expect(pagedict(['get', table, 'x']).status).toBe(1)
  })
})

describe('put and delete', () => {
  it('update an LMDB table in place and refuse a page file', () => {
    const input = path.join(dir, 'kv.csv')
    fs.writeFileSync(input, 'a,1\nb,2\n')
    const lmdb = path.join(dir, 'kv.lmdb')
    const page = path.join(dir, 'kv.pdict')
    expect(pagedict(['build', input, '--backend', 'lmdb', '-o', lmdb]).status).toBe(0)
    expect(pagedict(['build', input, '-o', page]).status).toBe(0)
    expect(pagedict(['put', lmdb, 'c', '3', 'a', 'one']).status).toBe(0)
    expect(pagedict(['put', lmdb], { input: 'd\t4\r\n' }).status).toBe(0)
    expect(pagedict(['delete', lmdb, 'b']).status).toBe(0)
    expect(getJson(lmdb, ['a', 'b', 'c', 'd'])).toEqual([
      { key: 'a', found: true, value: 'one' },
      { key: 'b', found: false },
      { key: 'c', found: true, value: '3' },
      { key: 'd', found: true, value: '4' },
    ])
    expect(JSON.parse(pagedict(['info', lmdb, '--json']).stdout)).toMatchObject({ keys: 3 })
    expectUsageError(pagedict(['put', page, 'c', '3']), /kv\.pdict: a page file is read-only; rebuild it/, expect)
    expectUsageError(pagedict(['delete', page, 'a']), /kv\.pdict: a page file is read-only; rebuild it/, expect)
  })
})

describe('bad input: exit 2, one line naming file, line and reason, no output', () => {
  const cases: [string, string, string[], RegExp][] = [
    ['a missing input', '', ['missing.csv'], /missing\.csv: .*no such file/],
    ['an unknown format', 'a,b\n', ['data.xyz'], /data\.xyz.*--format/],
    ['an unterminated quote', 'k1,v1\nk2,"never closed\n', ['bad.csv'], /bad\.csv:2: .*unterminated/],
    ['an invalid JSON line', '{"k":"a"}\n{"k":\n', ['bad.jsonl', '--key', 'k'], /bad\.jsonl:2: /],
    ['a row without the key column', 'a,b,c\nd\n', ['short.csv', '--key', '3'], /short\.csv:2: /],
    ['a duplicate key', 'a,1\nb,2\na,3\n', ['dup.csv'], /dup\.csv:3: duplicate key "a" \(first at line 1\)/],
    ['a key over the maximum', `${'k'.repeat(1025)},v\n`, ['long.csv'], /long\.csv:1: .*1025 bytes.*1024/],
  ]
  it.each(cases)('%s', (_what, content, args, pattern) => {
    const input = path.join(dir, args[0])
    if (content !== '') fs.writeFileSync(input, content)
    const table = path.join(dir, `bad-${args[0]}.pdict`)
    const r = pagedict(['build', input, ...args.slice(1), '-o', table])
    expectUsageError(r, pattern, expect)
    noLeftovers(table)
  })

  it('a failed build leaves the old table byte-identical', () => {
    const table = path.join(dir, 'kept.pdict')
    fs.writeFileSync(path.join(dir, 'good.csv'), 'a,1\nb,2\n')
    expect(pagedict(['build', path.join(dir, 'good.csv'), '-o', table]).status).toBe(0)
    const before = fs.readFileSync(table)
    fs.writeFileSync(path.join(dir, 'dup2.csv'), 'a,1\na,2\n')
    expect(pagedict(['build', path.join(dir, 'dup2.csv'), '-o', table]).status).toBe(2)
    expect(fs.readFileSync(table).equals(before)).toBe(true)
  })

  it('refuses to replace a file that is not a table', () => {
    const precious = path.join(dir, 'precious.csv')
    fs.writeFileSync(precious, 'a,1\n')
    const r = pagedict(['build', precious, '-o', precious])
    expectUsageError(r, /precious\.csv: exists and is not a pagedict table/, expect)
    expect(fs.readFileSync(precious, 'utf8')).toBe('a,1\n')
  })
})

describe('damaged tables are refused with a message that says which damage', () => {
  const good = path.join(dir, 'good.pdict')
  it('builds the table to damage', () => {
    fs.writeFileSync(path.join(dir, 'good-input.csv'), Array.from({ length: 2000 }, (_, i) => `k${i},v${i}`).join('\n') + '\n')
    expect(pagedict(['build', path.join(dir, 'good-input.csv'), '-o', good]).status).toBe(0)
  })
  const damaged = (name: string, change: (b: Buffer) => Buffer): string => {
    const file = path.join(dir, name)
    fs.writeFileSync(file, change(Buffer.from(fs.readFileSync(good))))
    return file
  }
  it('a truncated table', () => {
    const file = damaged('truncated.pdict', (b) => b.subarray(0, b.length - 4096))
    expectUsageError(pagedict(['get', file, 'k1']), /truncated\.pdict: table file is \d+ bytes, its header says \d+; it was truncated/, expect)
  })
  it('a file of another format', () => {
    const file = damaged('other.pdict', () => Buffer.from('id,name\n1,x\n'))
    expectUsageError(pagedict(['info', file]), /other\.pdict: not a pagedict table/, expect)
  })
  it('a table from a newer format version', () => {
    const file = damaged('newer.pdict', (b) => {
      b.writeUInt16LE(99, 8)
      return b
    })
    expectUsageError(pagedict(['get', file, 'k1']), /newer\.pdict: table format version 99 is newer than this pagedict reads \(2\)/, expect)
  })
  it('a damaged header', () => {
    const file = damaged('header.pdict', (b) => {
      b[200] ^= 0xff
      return b
    })
    expectUsageError(pagedict(['get', file, 'k1']), /header\.pdict: header checksum/, expect)
  })
  it('a damaged page: open works, verify finds it and exits 2', () => {
    const file = damaged('page.pdict', (b) => {
      b[b.length - 100] ^= 0x01
      return b
    })
    const r = pagedict(['verify', file])
    expect(r.status).toBe(2)
    expect(r.stdout).toMatch(/DAMAGED/)
    expect(r.stdout).toMatch(/page \d+: checksum mismatch/)
  })
})
