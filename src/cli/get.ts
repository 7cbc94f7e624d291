/** `pagedict get <table> [key...]`: look keys up; keys from the arguments or stdin lines. */
import type { Command } from 'commander'
import { open } from '../read/open.js'
import { EXIT_NOT_FOUND, EXIT_OK, guarded } from './errors.js'
import { tsvField, valueFields } from './render.js'
import { readStdinLines } from './stdin-lines.js'

export function registerGet(program: Command): void {
  program
    .command('get')
    .summary('look keys up in a table')
    .argument('<table>', 'the table')
    .argument('[keys...]', 'keys to look up; one per line on stdin when none are given')
    .option('--json', 'print one JSON object per key: {"key","found","value"}')
    .addHelpText(
      'after',
      `
Prints each found value (list values as tab-separated fields); with several keys, each line
starts with the key and a tab. A missing key prints nothing on stdout, a note on stderr,
and makes the exit code 1.

Examples:
  pagedict get airports.pdict 3797
  cut -f1 ids.txt | pagedict get airports.pdict --json`,
    )
    .action((table: string, keys: string[], raw: { json?: boolean }) =>
      guarded('get', async () => {
        const dict = open(table)
        const asked = keys.length > 0 ? keys : await readStdinLines()
        const values = dict.getMany(asked)
        const lines: string[] = []
        let missing = 0
        // A for loop, not forEach: getMany leaves holes for missing keys.
        for (let i = 0; i < asked.length; i++) {
          const key = asked[i]
          const value = values[i]
          if (raw.json) {
            lines.push(JSON.stringify(value === undefined ? { key, found: false } : dict.codec === 'none' ? { key, found: true } : { key, found: true, value }))
          } else if (value === undefined) {
            missing++
            process.stderr.write(`pagedict get: not found: ${key}\n`)
          } else {
            const fields = valueFields(dict.codec, value).map(tsvField)
            lines.push((asked.length > 1 ? [tsvField(key), ...fields] : fields.length > 0 ? fields : [tsvField(key)]).join('\t'))
          }
          if (raw.json && value === undefined) missing++
        }
        if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
        dict.close()
        return missing > 0 ? EXIT_NOT_FOUND : EXIT_OK
      }),
    )
}
