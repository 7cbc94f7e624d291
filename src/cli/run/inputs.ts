/**
 * Turning `pagedict run` arguments into data files. Globs are expanded here, not by the
 * shell, so a quoted glob works the same on every platform and shell (and long expansions
 * never hit the argument-length limit).
 *
 *   '-'               standard input, as is
 *   an existing file  itself
 *   a directory       every file under it, recursively, hidden ones skipped, sorted
 *   a glob            its matching files, sorted ("data/*.csv.gz", "logs/**\/*.jsonl")
 *   anything else     as is: the pool reports a missing file as that file's failure
 *
 * Sorting is by UTF-16 code unit (plain string comparison), not locale, so every machine
 * gets the same order; a file named twice is kept once, at its first place.
 */
import { stat } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { escapePath, glob, isDynamicPattern } from 'tinyglobby'

export async function expandInputs(args: readonly string[]): Promise<string[]> {
  const out: string[] = []
  const seen = new Set<string>()
  const add = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    out.push(file)
  }
  for (const arg of args) {
    if (arg === '-') {
      add(arg)
      continue
    }
    const kind = await kindOf(arg)
    if (kind === 'file') add(arg)
    else if (kind === 'directory') for (const f of await matches(`${escapePath(arg)}/**`)) add(f)
    else if (isDynamicPattern(arg)) {
      const found = await matches(arg)
      // A glob that matches nothing stays as it is and fails as a missing file would.
      if (found.length === 0) add(arg)
      for (const f of found) add(f)
    } else add(arg)
  }
  return out
}

async function kindOf(path: string): Promise<'file' | 'directory' | 'none'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file'
  } catch (err) {
    // Missing is an answer here (the argument may be a glob); other failures surface later,
    // when the pool opens the file and reports them as that file's error.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return 'none'
    return 'file'
  }
}

async function matches(pattern: string): Promise<string[]> {
  // Relative patterns give paths relative to the working directory; an absolute pattern
  // gives absolute paths (tinyglobby would otherwise return them relative, as ../../x).
  const files = await glob(pattern, { onlyFiles: true, dot: false, expandDirectories: false, followSymbolicLinks: true, absolute: isAbsolute(pattern) })
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}
