/** `pagedict info <table>`: what the table holds and how it was built. */
import type { Command } from 'commander'
import { open } from '../read/open.js'
import { EXIT_OK, guarded } from './errors.js'

export function registerInfo(program: Command): void {
  program
    .command('info')
    .summary('show what a table holds and how it was built')
    .argument('<table>', 'the table')
    .option('--json', 'print one JSON object')
    .action((table: string, raw: { json?: boolean }) =>
      guarded('info', () => {
        const dict = open(table)
        const info = dict.info()
        dict.close()
        if (raw.json) {
          process.stdout.write(JSON.stringify(info) + '\n')
          return EXIT_OK
        }
        const width = Math.max(...Object.keys(info).map((k) => k.length))
        for (const [k, v] of Object.entries(info)) {
          process.stdout.write(`${k.padEnd(width)}  ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`)
        }
        return EXIT_OK
      }),
    )
}
