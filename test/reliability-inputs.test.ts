/**
 * A catalogue of bad inputs and bad options for `pagedict build` (issue 6), beyond the ones
 * test/cli-store.test.ts already covers. Each must exit 2 with exactly one line on stderr
 * that names the file (and the line, where there is one) and the reason, print no stack
 * trace, and leave neither an output file nor a temporary file behind. The input errors are
 * checked on both backends: they fail at different points of the build (the page-file
 * builder partitions as it reads, the LMDB builder sorts), and both must clean up.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { BIN, expectUsageError, pagedict } from './helpers/cli.js'
import { leftoversOf } from './helpers/leftovers.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('inputs')
let counter = 0

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  return file
}

/** Run a build of `args` into a fresh table name; check the error contract and the cleanup. */
function expectRefused(args: string[], pattern: RegExp, backend: 'pagefile' | 'lmdb' = 'pagefile', output?: string): void {
  const table = output ?? path.join(dir, `out-${++counter}.${backend}`)
  const r = pagedict(['build', ...args, '--backend', backend, '-o', table])
  expectUsageError(r, pattern, expect)
  expect(r.stderr).toMatch(/^pagedict build: /)
  if (output === undefined) expect(fs.existsSync(table)).toBe(false)
  expect(leftoversOf(table)).toEqual([])
}

const gz = (text: string): Buffer => zlib.gzipSync(Buffer.from(text))

/** Bad data: found while reading, after the build has started writing its spill files. */
const badData: [string, string, string | Buffer, string[], RegExp][] = [
  ['a CSV quote opened mid-file and never closed', 'midquote.csv', 'k1,v1\nk2,"v2\nk3,v3\nk4,v4\n', [], /midquote\.csv:2: unterminated quoted field/],
  ['an unterminated quote after CRLF lines', 'crlf.csv', 'k1\r\nk2,"x\r\nk3\r\n', ['--value', 'none'], /crlf\.csv:2: unterminated quoted field/],
  ['a row wider than the first under --value rest', 'widen.csv', 'a,b\nc,d\ne,f,g\n', [], /widen\.csv:3: row has 3 fields, but the first row had 2/],
  ['a value column past the end of a row', 'short-value.csv', 'a,b,c\nd,e\n', ['--value', '3'], /short-value\.csv:2: row has 2 fields, the value column 3 is missing/],
  ['a header without the named key column', 'header.csv', 'id,name\n1,a\n', ['--header', '--key', 'icao'], /header\.csv:1: the header has no column "icao" \(--key\)/],
  ['a header without the named value column', 'header2.csv', 'id,name\n1,a\n', ['--header', '--value', 'city'], /header2\.csv:1: the header has no column "city" \(--value\)/],
  ['a JSON object with trailing garbage', 'trailing.json', '{"a": 1, "b": 2}\n garbage\n', [], /trailing\.json:2: unexpected data after the object/],
  ['a JSON array instead of an object', 'array.json', '[1, 2, 3]\n', [], /array\.json:1: expected '\{'/],
  ['a JSON member without a value', 'novalue.json', '{\n "a": 1,\n "b": \n}\n', [], /novalue\.json:4: expected a value/],
  ['a repeated member in a JSON object', 'dup.json', '{\n "a": 1,\n "a": 2\n}\n', [], /dup\.json:3: duplicate key "a" \(first at line 2\)/],
  ['a JSONL line that is an array', 'array-line.jsonl', '{"k":"a"}\n[1,2]\n', ['--key', 'k'], /array-line\.jsonl:2: the key field k is missing/],
  ['a JSONL key that is a boolean', 'bool-key.jsonl', '{"k":"a"}\n{"k":true}\n', ['--key', 'k'], /bool-key\.jsonl:2: the key field k is a boolean, expected a string or a number/],
  ['a JSONL key that is an object', 'obj-key.jsonl', '{"k":"a"}\n{"k":{"x":1}}\n', ['--key', 'k'], /obj-key\.jsonl:2: the key field k is an object/],
  ['a JSONL key that is null', 'null-key.jsonl', '{"k":"a"}\n\n{"k":null}\n', ['--key', 'k'], /null-key\.jsonl:3: the key field k is null/],
  ['a JSONL nested key path that is missing', 'path.jsonl', '{"a":{"b":1}}\n{"a":{}}\n', ['--key', 'a.b'], /path\.jsonl:2: the key field a\.b is missing/],
  ['a JSONL value path that is missing', 'value.jsonl', '{"k":"a","v":1}\n{"k":"b"}\n', ['--key', 'k', '--value', 'v'], /value\.jsonl:2: the value field v is missing/],
  ['a JSONL key over the maximum length', 'long.jsonl', `{"k":"${'k'.repeat(1100)}"}\n`, ['--key', 'k'], /long\.jsonl:1: key is 1100 bytes, the maximum is 1024/],
  ['a gzip file cut short', 'cut.csv.gz', gz(Array.from({ length: 3000 }, (_, i) => `k${i},v${i}\n`).join('')).subarray(0, 200), [], /cut\.csv\.gz: corrupt gzip data/],
  ['gzip data that is not deflate', 'garbage.csv.gz', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from('garbage garbage garbage')]), [], /garbage\.csv\.gz: corrupt gzip data/],
  ['a bad line inside gzip, counted after decompression', 'quote.csv.gz', gz('k1,v1\nk2,v2\nk3,"open\n'), [], /quote\.csv\.gz:3: unterminated quoted field/],
]

describe.each(['pagefile', 'lmdb'] as const)('bad input data (%s): exit 2, one line naming file and line, nothing left behind', (backend) => {
  it.each(badData)('%s', (_what, name, content, args, pattern) => {
    expectRefused([write(name, content), ...args], pattern, backend)
  })

  it('names the second input and its own line when the first is fine', () => {
    const good = write('good.csv', 'a,1\nb,2\nc,3\n')
    const bad = write('second.csv', 'd,4\ne,"5\n')
    expectRefused([good, bad], /second\.csv:2: unterminated quoted field/, backend)
  })

  it('names standard input as -', () => {
    const table = path.join(dir, `stdin.${backend}`)
    const r = pagedict(['build', '-', '--format', 'csv', '--backend', backend, '-o', table], { input: 'k1,v1\nk2,"never\n' })
    expectUsageError(r, /^pagedict build: -:2: unterminated quoted field$/, expect)
    expect(fs.existsSync(table)).toBe(false)
    expect(leftoversOf(table)).toEqual([])
  })

  it('a directory as input', () => {
    const d = path.join(dir, `indir-${backend}.csv`)
    fs.mkdirSync(d)
    expectRefused([d], /indir-\w+\.csv: cannot read: is a directory/, backend)
  })

  it('an output in a missing directory', () => {
    const input = write('ok.csv', 'a,1\n')
    expectRefused([input], /missing[/\\]dir.*no such file or directory/, backend, path.join(dir, 'missing', 'dir', `t.${backend}`))
  })

  it.runIf(process.platform !== 'win32')('an unreadable input and an unwritable output directory', (ctx) => {
    // chmod 000 does not stop root: as root, run the CLI as nobody instead (when nobody can).
    const asRoot = process.getuid?.() === 0
    if (asRoot && spawnSync(process.execPath, [BIN, '--version'], { uid: 65534, gid: 65534 }).status !== 0) ctx.skip('running as root, and nobody cannot run the CLI from this checkout')
    const locked = fs.mkdtempSync(path.join(dir, 'perm-'))
    fs.chmodSync(locked, 0o777)
    const secret = path.join(locked, 'secret.csv')
    fs.writeFileSync(secret, 'a,1\n')
    fs.chmodSync(secret, 0o000)
    const readonlyDir = fs.mkdtempSync(path.join(dir, 'ro-'))
    fs.chmodSync(readonlyDir, 0o555)
    const open = write('open.csv', 'a,1\n')
    fs.chmodSync(open, 0o644)
    fs.chmodSync(dir, 0o755) // mkdtemp makes it 0700: nobody must reach the inputs
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, [BIN, 'build', ...args, '--backend', backend], { encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    }
    const out = path.join(locked, `t.${backend}`)
    expectUsageError(run([secret, '-o', out]), /secret\.csv: cannot (open|read).*: permission denied/, expect)
    expect(fs.existsSync(out)).toBe(false)
    expect(leftoversOf(out)).toEqual([])
    const denied = path.join(readonlyDir, `t.${backend}`)
    expectUsageError(run([open, '-o', denied]), /ro-\w+.*: cannot .*: permission denied/, expect)
    expect(fs.readdirSync(readonlyDir)).toEqual([])
  })
})

describe('bad options: exit 2, one line naming the option and the reason', () => {
  const input = write('opts.csv', 'id,name\n1,a\n2,b\n')
  const lines = write('words.txt', 'x\ny\n')
  const jsonl = write('objs.jsonl', '{"k":"a"}\n')
  const cases: [string, string[], RegExp][] = [
    ['--key 0', [input, '--key', '0'], /option key must be a 1-based column number.*got 0/],
    ['--key 1.5', [input, '--key', '1.5'], /--key "1\.5" is not a column number/],
    ['--key by name without --header', [input, '--key', 'id'], /--key "id" is not a column number; pass --header/],
    ['--value 0', [input, '--value', '0'], /--value 0: columns are numbered from 1/],
    ['--value with a backwards range', [input, '--value', '3-1'], /--value 3-1: "3-1" is not a range of columns/],
    ['--value with a range of 70,000 columns', [input, '--value', '1-70000'], /--value 1-70000: .* is not a range of columns/],
    ['--value "" (no column)', [input, '--value', ''], /--value "" is not a column number/],
    ['--delimiter of two characters', [input, '--delimiter', 'ab'], /option delimiter must be one character.*"ab"/],
    ['--delimiter "', [input, '--delimiter', '"'], /option delimiter must be one character other than a quote/],
    ['an unknown --format', [input, '--format', 'xml'], /option format must be one of csv, tsv, jsonl, json, lines, got xml/],
    ['--memory too small', [input, '--memory', '31'], /option memory must be an integer number of MiB, at least 32, got 31/],
    ['--memory not a number', [input, '--memory', 'lots'], /--memory: must be an integer/],
    ['--memory beyond 2^53', [input, '--memory', '99999999999999999999'], /--memory: must be an integer/],
    ['--seed negative', [input, '--seed', '-1'], /--seed: must be an integer from 0/],
    ['an unknown --backend', [input, '--backend', 'sqlite'], /option backend must be one of pagefile, lmdb, got sqlite/],
    ['an unknown --on-duplicate', [input, '--on-duplicate', 'maybe'], /option onDuplicate must be one of error, first, last, got maybe/],
    ['--header on lines input', [lines, '--header'], /--header applies to csv and tsv input only/],
    ['--key on lines input', [lines, '--key', '1'], /--key does not apply to lines input/],
    ['--value on lines input', [lines, '--value', '2'], /--value 2 does not apply to lines input/],
    ['jsonl without --key', [jsonl], /jsonl input needs --key/],
    ['a key path with an empty step', [jsonl, '--key', 'a..b'], /--key "a\.\.b" is not a field path/],
    ['inputs whose values cannot share a table', [input, jsonl, '--key', '1'], /inputs of formats csv, jsonl give different kinds of value/],
  ]
  it.each(cases)('%s', (_what, args, pattern) => {
    const table = path.join(dir, `opt-${++counter}.pdict`)
    const r = pagedict(['build', ...args, '-o', table])
    expectUsageError(r, pattern, expect)
    expect(fs.existsSync(table)).toBe(false)
    expect(leftoversOf(table)).toEqual([])
  })

  it('-o naming a directory', () => {
    const target = path.join(dir, 'a-directory')
    fs.mkdirSync(target)
    expectUsageError(pagedict(['build', input, '-o', target]), /a-directory: cannot replace the output: is a directory/, expect)
    expect(fs.readdirSync(target)).toEqual([])
    expect(leftoversOf(target)).toEqual([])
  })

  it('-o naming a file that is not a table (LMDB backend)', () => {
    const precious = write('precious.csv', 'a,1\n')
    expectUsageError(pagedict(['build', input, '--backend', 'lmdb', '-o', precious]), /precious\.csv: exists and is not a pagedict table/, expect)
    expect(fs.readFileSync(precious, 'utf8')).toBe('a,1\n')
  })
})

describe('inputs that look odd but are not errors', () => {
  it('quotes in TSV are ordinary characters', () => {
    const table = path.join(dir, 'quotes.pdict')
    expect(pagedict(['build', write('quotes.tsv', 'k1\t"v1\nk2\tv"2\n'), '-o', table]).status).toBe(0)
    const r = pagedict(['get', table, 'k1', 'k2', '--json'])
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { key: 'k1', found: true, value: '"v1' },
      { key: 'k2', found: true, value: 'v"2' },
    ])
  })

  it('bytes that are not UTF-8 are kept as bytes, and the key is still found by its bytes', () => {
    const table = path.join(dir, 'bytes.pdict')
    expect(pagedict(['build', write('bytes.csv', Buffer.from([0x6b, 0xff, 0xfe, 0x2c, 0x76, 0x0a, 0x6b, 0x32, 0x2c, 0x80, 0x0a])), '-o', table]).status).toBe(0)
    expect(pagedict(['verify', table]).status).toBe(0)
    expect(JSON.parse(pagedict(['info', table, '--json']).stdout)).toMatchObject({ keys: 2 })
  })
})
