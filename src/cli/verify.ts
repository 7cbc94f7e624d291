/** `pagedict verify <table>`: check every page (or, for LMDB, every entry). Exit 0 when sound. */
import type { Command } from 'commander'
import { EXIT_OK, EXIT_USAGE, guarded } from './errors.js'

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .summary('check every page of a table; exit 0 when sound, 2 when damaged')
    .argument('<table>', 'the table')
    .option('--json', 'print the report as one JSON object')
    .action((table: string, raw: { json?: boolean }) =>
      guarded('verify', async () => {
        const { verify } = await import('../read/verify.js') // not at start-up: see run.ts
        const report = verify(table)
        if (raw.json) process.stdout.write(JSON.stringify(report) + '\n')
        else {
          const what = report.backend === 'pagefile' ? `${report.pages} pages, ${report.keys} keys` : `${report.keys} entries`
          process.stdout.write(`${table}: ${report.ok ? 'ok' : 'DAMAGED'}: ${what} (${report.checked.join(', ')})\n`)
          for (const p of report.problems) process.stdout.write(`  ${p}\n`)
        }
        return report.ok ? EXIT_OK : EXIT_USAGE
      }),
    )
}
