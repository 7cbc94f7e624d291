import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { fileWriter, tmpDir } from './helpers/tmp.js'
import { PagedictError } from '../src/errors.js'
import { JsonObjectScanner, scanJsonObject } from '../src/scan/json-object.js'

const dir = tmpDir('json')
const file = fileWriter(dir)

interface Member {
  key: string
  text: string
  line: number
}

async function scan(path: string, opts: { chunkSize?: number; maxValueBytes?: number } = {}): Promise<Member[]> {
  const out: Member[] = []
  await scanJsonObject(path, (key, keyLength, value, vs, ve, line) => out.push({ key: key.toString('utf8', 0, keyLength), text: value.toString('utf8', vs, ve), line }), opts)
  return out
}

/** Deterministic nested JSON: objects, arrays, escapes, unicode, numbers, literals. */
function generated(n: number): Record<string, unknown> {
  let x = 99
  const rnd = (m: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    return x % m
  }
  const strings = ['plain', 'quote " inside', 'back\\slash', 'brace } and ] and ,', 'tab\tnl\n', 'é日本🙂', '', '\u0001ctl']
  const value = (depth: number): unknown => {
    switch (depth > 3 ? rnd(5) : rnd(8)) {
      case 0: return strings[rnd(strings.length)]
      case 1: return rnd(2000) - 1000
      case 2: return (rnd(100000) - 50000) / 7
      case 3: return [true, false, null][rnd(3)]
      case 4: return 1e21 * (rnd(3) + 1)
      case 5: return Array.from({ length: rnd(5) }, () => value(depth + 1))
      default: return Object.fromEntries(Array.from({ length: rnd(4) }, (_, i) => [strings[rnd(strings.length)] + i, value(depth + 1)]))
    }
  }
  const obj: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) obj[`key ${i} ${strings[i % strings.length]}`] = value(0)
  return obj
}

async function errorOf(p: Promise<unknown>): Promise<PagedictError> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(PagedictError)
  return err as PagedictError
}

describe('scanJsonObject', () => {
  const obj = generated(300)
  const compact = JSON.stringify(obj)
  const pretty = JSON.stringify(obj, null, 2)

  it.each([1, 2, 7, 4096, 1 << 20])('yields every member like JSON.parse with %i-byte chunks', async (chunkSize) => {
    for (const text of chunkSize < 8 ? [compact] : [compact, pretty]) {
      const members = await scan(file(`gen-${chunkSize}.json`, text), { chunkSize })
      expect(members.map((m) => m.key)).toEqual(Object.keys(obj))
      expect(Object.fromEntries(members.map((m) => [m.key, JSON.parse(m.text)]))).toEqual(obj)
    }
  })

  it('resumes correctly when a block ends at any byte', () => {
    // Two blocks split at every position: escapes, string ends, nested brackets and
    // scalars all get cut somewhere.
    const text = Buffer.from('{"k\\"1": "a\\"b\\\\", "n": [1, {"x": "]}\\u00e9"}], "s": -12.5e3, "t": true}')
    const want = [['k"1', '"a\\"b\\\\"'], ['n', '[1, {"x": "]}\\u00e9"}]'], ['s', '-12.5e3'], ['t', 'true']]
    for (let k = 0; k <= text.length; k++) {
      const got: string[][] = []
      const scanner = new JsonObjectScanner('split.json', (key, kl, v, vs, ve) => got.push([key.toString('utf8', 0, kl), v.toString('utf8', vs, ve)]))
      const first = Buffer.from(text.subarray(0, k))
      const used = scanner.feed(first, 0, first.length, false)
      const second = Buffer.concat([first.subarray(used), text.subarray(k)])
      expect(scanner.feed(second, 0, second.length, true)).toBe(second.length)
      expect(got).toEqual(want)
    }
  })

  it('reports the line of each key and keeps a value as its text', async () => {
    const text = '\ufeff{\n  "a": 1,\n  "b": {\n    "c": [1, 2]\n  },\n  "d\\u00e9\\"": "x"\n}\n'
    const members = await scan(file('lines.json', text), { chunkSize: 3 })
    expect(members).toEqual([
      { key: 'a', text: '1', line: 2 },
      { key: 'b', text: '{\n    "c": [1, 2]\n  }', line: 3 },
      { key: 'dé"', text: '"x"', line: 6 },
    ])
  })

  it('reads gzip input and accepts an empty object or an empty file', async () => {
    expect((await scan(file('gz.bin', gzipSync(pretty)), { chunkSize: 500 })).length).toBe(300)
    expect(await scan(file('empty-object.json', ' {\n}\n'))).toEqual([])
    expect(await scan(file('empty.json', ''))).toEqual([])
  })

  it('scans a value much larger than a chunk in one pass', async () => {
    const big = { huge: Array.from({ length: 20000 }, (_, i) => ({ i, s: 'v'.repeat(i % 20) })), after: true }
    const members = await scan(file('big.json', JSON.stringify(big)), { chunkSize: 1024 })
    expect(members.map((m) => m.key)).toEqual(['huge', 'after'])
    expect(JSON.parse(members[0].text)).toEqual(big.huge)
  })

  it.each([
    ['[1, 2]', 1, "expected '{'"],
    ['{"a" 1}', 1, "expected ':' after the key"],
    ['{"a": 1,}', 1, "expected a key string after ','"],
    ['{"a": 1\n "b": 2}', 2, "expected ',' or '}' after a value"],
    ['{"a": }', 1, 'expected a value'],
    ['{\n"a": 1\n', 3, 'unexpected end of input: the object is not closed'],
    ['{"a": "open\n', 1, 'unexpected end of input inside the value that starts here'],
    ['{"a\n": 1}', 1, 'newline inside a key string'],
    ['{"a": 1} x', 1, 'unexpected data after the object'],
    ['{1: 2}', 1, "expected a key string or '}'"],
    ['{"a": tru}', 1, 'invalid JSON value'],
    ['{"a": 1,\n"b": [1,\n2,}\n}', 2, 'invalid JSON value'],
    ['{"a": 1,\n"b": ["x",\n"\u0001"]}', 3, 'invalid JSON value'],
    ['{"a": {"x": 1]}', 1, 'invalid JSON value'],
  ])('rejects %j at line %i: %s', async (text, line, reason) => {
    const path = file('bad.json', text)
    for (const chunkSize of [1, 1 << 20]) {
      const err = await errorOf(scan(path, { chunkSize }))
      expect(err.code).toBe('E_INPUT')
      expect(err.message.startsWith(`${path}:${line}: ${reason}`)).toBe(true)
    }
  })

  it('rejects a value over the size limit with E_VALUE_TOO_LONG', async () => {
    const path = file('long-value.json', `{"ok": 1,\n"big": "${'z'.repeat(5000)}"}`)
    const err = await errorOf(scan(path, { chunkSize: 64, maxValueBytes: 1000 }))
    expect(err.code).toBe('E_VALUE_TOO_LONG')
    expect(err.message).toBe(`${path}:2: value is more than 1000 bytes`)
    expect((await scan(path, { maxValueBytes: 6000 })).length).toBe(2)
  })

  it('rejects an endless key with E_KEY_TOO_LONG instead of buffering it', async () => {
    const err = await errorOf(scan(file('long-key.json', `{"${'k'.repeat(10000)}": 1}`), { chunkSize: 100 }))
    expect(err.code).toBe('E_KEY_TOO_LONG')
  })
})
