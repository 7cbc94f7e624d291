/**
 * The layers of src/ (docs/ARCHITECTURE.md): a folder imports only folders below it, so the
 * pool can be replaced (a cluster pool beside the local one) without touching what runs on
 * it, and the library never loads the CLI. Read from the sources' import lines.
 */
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const src = new URL('../src/', import.meta.url)

/** What each folder may import besides itself and the top-level modules (errors, bytes, version). */
const ALLOWED: Record<string, string[]> = {
  format: [],
  scan: ['format'],
  pool: ['format', 'read', 'table'],
  run: ['format', 'scan', 'read', 'table', 'pool'],
  cluster: ['format', 'scan', 'read', 'table', 'build', 'pool', 'run'],
  api: ['format', 'read', 'table', 'pool', 'run', 'cluster'],
}

function importsOf(folder: string): { file: string; target: string }[] {
  const dir = new URL(`${folder}/`, src)
  if (!fs.existsSync(dir)) return []
  const out: { file: string; target: string }[] = []
  for (const file of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (!file.endsWith('.ts')) continue
    const text = fs.readFileSync(new URL(file, dir), 'utf8')
    for (const m of text.matchAll(/(?:from|import\(?)\s*'(\.[^']+)'/g)) {
      const target = path.posix.normalize(path.posix.join(folder, path.posix.dirname(file), m[1]))
      const top = target.split('/')[0]
      if (top !== folder && target.includes('/')) out.push({ file: `${folder}/${file}`, target: top })
    }
  }
  return out
}

describe('layers', () => {
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    it(`src/${folder} imports only ${allowed.join(', ') || 'the top-level modules'}`, () => {
      const bad = importsOf(folder).filter((i) => !allowed.includes(i.target))
      expect(bad).toEqual([])
    })
  }
})
