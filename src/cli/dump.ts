/** `pagedict dump <table>`: every entry, as TSV or JSONL, in the table's own order. */
import type { Command } from 'commander'
import { open } from '../read/open.js'
import { EXIT_OK, guarded, usageError } from './errors.js'
import { tsvField, valueFields } from './render.js'

export function registerDump(program: Command): void {
  program
    .command('dump')
    .summary('write every entry of a table as TSV or JSONL')
    .argument('<table>', 'the table')
    .option('--format <format>', 'tsv (key, then the value fields; \\t \\n \\r \\\\ escaped) or jsonl ({"key","value"})', 'tsv')
    .action((table: string, raw: { format: string }) =>
      guarded('dump', async () => {
        if (raw.format !== 'tsv' && raw.format !== 'jsonl') throw usageError('--format', `must be tsv or jsonl, got "${raw.format}"`)
        const dict = open(table)
        const out = process.stdout
        let pending: string[] = []
        const flush = async (): Promise<void> => {
          if (pending.length === 0) return
          const text = pending.join('')
          pending = []
          if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve))
        }
        for (const [key, value] of dict) {
          if (raw.format === 'jsonl') pending.push(JSON.stringify(dict.codec === 'none' ? { key } : { key, value }) + '\n')
          else pending.push([tsvField(key), ...valueFields(dict.codec, value).map(tsvField)].join('\t') + '\n')
          if (pending.length >= 4096) await flush()
        }
        await flush()
        dict.close()
        return EXIT_OK
      }),
    )
}
