/** The package's version, read once from package.json (for build metadata and --version). */
import fs from 'node:fs'

let version: string | undefined

export function packageVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    version = pkg.version
  }
  return version
}
