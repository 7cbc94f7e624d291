/**
 * Hostile keys through the command line (issue 6). test/store.test.ts shows the library build
 * reseeding when keys crafted for a given seed pile onto one page; this closes the gaps left:
 * `--seed` on the command line (a seed an attacker may know) still cannot make the spill, and
 * so the probe, long; `info` reports the bound; the seed the table ends up with is recorded,
 * and rebuilding with it reproduces the layout without reseeding; every crafted key and every
 * miss in the flooded range is answered.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { pdhash64 } from '../src/format/hash.js'
import { MAX_SPILL_PAGES } from '../src/format/layout.js'
import { pagedict } from './helpers/cli.js'
import { tmpDir } from './helpers/tmp.js'

const dir = tmpDir('keys')

/** `count` keys whose high hash half under `seed` lies in the lowest 1/1024 of its range. */
function craft(seed: number, count: number, prefix: string): string[] {
  const out: string[] = []
  const key = Buffer.alloc(32)
  for (let i = 0; out.length < count; i++) {
    const len = key.write(`${prefix}${i}`, 'latin1')
    if (pdhash64(key, 0, len, seed % 2 ** 32, Math.floor(seed / 2 ** 32)) < 2 ** 32 / 1024) out.push(key.toString('latin1', 0, len))
  }
  return out
}

interface Info {
  keys: number
  pages: number
  max_spill: number
  seed: number
  build: { seed_given: boolean; reseeds: number; seed: number }
}

describe('keys crafted to collide under a --seed given on the command line', () => {
  const seed = 123_456_789
  const keys = craft(seed, 12_000, 'h')
  const input = path.join(dir, 'crafted.txt')
  fs.writeFileSync(input, keys.join('\n') + '\n')
  const table = path.join(dir, 'crafted.pdict')

  it('the build reseeds, and info reports a short spill and the seed actually used', () => {
    const r = pagedict(['build', input, '--seed', String(seed), '--json', '-o', table])
    expect(r.status, r.stderr).toBe(0)
    const info = JSON.parse(pagedict(['info', table, '--json']).stdout) as Info
    expect(info.keys).toBe(keys.length)
    expect(info.build.seed_given).toBe(true)
    expect(info.build.reseeds).toBeGreaterThanOrEqual(1)
    expect(info.seed).not.toBe(seed)
    expect(info.build.seed).toBe(info.seed)
    // Under the given seed these keys need ~45 pages of spill; the reseeded table's longest
    // probe is a few pages, far inside the bound every reader enforces.
    expect(info.max_spill).toBeLessThanOrEqual(4)
    expect(info.max_spill).toBeLessThanOrEqual(MAX_SPILL_PAGES)
    expect(pagedict(['verify', table]).status).toBe(0)
  })

  it('every crafted key is found and every crafted miss is answered', () => {
    const misses = craft(seed, 200, 'miss-')
    const asked = [...keys.filter((_, i) => i % 20 === 0), ...misses]
    const r = pagedict(['get', table, '--json'], { input: asked.join('\n') + '\n' })
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; found: boolean })
    expect(got.length).toBe(asked.length)
    expect(got.filter((g) => g.found).map((g) => g.key)).toEqual(asked.slice(0, asked.length - misses.length))
  })

  it('rebuilding with the recorded seed reproduces the layout without reseeding', () => {
    const info = JSON.parse(pagedict(['info', table, '--json']).stdout) as Info
    const again = path.join(dir, 'again.pdict')
    expect(pagedict(['build', input, '--seed', String(info.seed), '-o', again]).status).toBe(0)
    const second = JSON.parse(pagedict(['info', again, '--json']).stdout) as Info
    expect(second.build.reseeds).toBe(0)
    expect({ seed: second.seed, pages: second.pages, max_spill: second.max_spill }).toEqual({ seed: info.seed, pages: info.pages, max_spill: info.max_spill })
  })
})
