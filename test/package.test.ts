/**
 * The package as users get it: the runtime dependencies are pinned here so none creeps in
 * unnoticed, the entry point exports the documented API with its types, and the bin runs.
 */
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { pagedict } from './helpers/cli.js'

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  dependencies: Record<string, string>
  exports: Record<string, { types: string; import: string }>
  bin: Record<string, string>
  engines: { node: string }
}

describe('package', () => {
  it('has exactly the chosen runtime dependencies', () => {
    // mmap-io: the mapping; lmdb: the second backend; commander: the CLI; tinyglobby: run's globs;
    // bullmq and ioredis: the cluster (loaded only when --queue is used).
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@riaskov/mmap-io', 'bullmq', 'commander', 'ioredis', 'lmdb', 'tinyglobby'])
  })

  it('exports the documented API, with types', async () => {
    const entry = pkg.exports['.']
    const api = (await import(new URL(`../${entry.import}`, import.meta.url).href)) as Record<string, unknown>
    expect(Object.keys(api).sort()).toEqual(['PagedictError', 'Pool', 'build', 'open', 'verify'])
    const types = fs.readFileSync(new URL(`../${entry.types}`, import.meta.url), 'utf8')
    for (const name of ['build', 'open', 'Pool', 'Dict', 'BuildOptions', 'PoolOptions', 'JobContext', 'PagedictError']) expect(types).toContain(name)
  })

  it('runs its bin, and the library never loads the CLI', () => {
    const r = pagedict(['--version'])
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
    for (const file of fs.readdirSync(new URL('../src/', import.meta.url), { recursive: true }) as string[]) {
      if (!file.endsWith('.ts') || file.startsWith('cli')) continue
      const text = fs.readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8')
      expect(text, file).not.toMatch(/from 'commander'/)
    }
  })
})
