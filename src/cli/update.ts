/**
 * `pagedict put` and `pagedict delete`: in-place updates, which only LMDB tables can take.
 * A page file is compiled, never edited: they refuse it with a message that says to rebuild.
 */
import type { Command } from 'commander'
import { PagedictError } from '../errors.js'
import { CODEC_NAMES, type CodecId } from '../format/layout.js'
import { encodeValue } from '../format/values.js'
import { open } from '../read/open.js'
import { EXIT_OK, guarded, usageError } from './errors.js'
import { readStdinLines } from './stdin-lines.js'

export function registerUpdate(program: Command): void {
  program
    .command('put')
    .summary('insert or replace entries of an LMDB table')
    .argument('<table>', 'an LMDB table (build --backend lmdb)')
    .argument('[pairs...]', 'key value key value ...; TSV lines "key<TAB>value" on stdin when none are given')
    .addHelpText(
      'after',
      `
Values are given as the table holds them: a string table takes the text, a list table
tab-separated fields, a JSON table JSON text; a key-set table takes keys alone.

Examples:
  pagedict put users.lmdb u42 'Ada Lovelace'
  printf 'u43\\tAlan Turing\\n' | pagedict put users.lmdb`,
    )
    .action((table: string, args: string[]) =>
      guarded('put', async () => {
        const codec = updatableCodec(table)
        const entries: [string, Uint8Array][] = []
        if (args.length > 0) {
          const step = codec === 0 ? 1 : 2
          if (args.length % step !== 0) throw usageError('pairs', `expected key value pairs, got ${args.length} arguments`)
          for (let i = 0; i < args.length; i += step) entries.push([args[i], encode(codec, args[i + 1] ?? '', `argument ${i + 2}`)])
        } else {
          const lines = await readStdinLines()
          lines.forEach((line, i) => {
            const tab = line.indexOf('\t')
            if (codec !== 0 && tab < 0) throw new PagedictError('E_INPUT', `stdin:${i + 1}: expected key<TAB>value`, { line: i + 1 })
            entries.push(tab < 0 ? [line, encode(codec, '', '')] : [line.slice(0, tab), encode(codec, line.slice(tab + 1), `stdin:${i + 1}`)])
          })
        }
        const { putEntries } = await import('../lmdb/update.js') // not at start-up: see run.ts
        const changed = putEntries(table, entries)
        process.stderr.write(`pagedict put: ${changed} of ${entries.length} entries changed\n`)
        return EXIT_OK
      }),
    )
  program
    .command('delete')
    .summary('delete keys from an LMDB table')
    .argument('<table>', 'an LMDB table (build --backend lmdb)')
    .argument('[keys...]', 'keys to delete; one per line on stdin when none are given')
    .action((table: string, keys: string[]) =>
      guarded('delete', async () => {
        updatableCodec(table)
        const asked = keys.length > 0 ? keys : await readStdinLines()
        const { deleteKeys } = await import('../lmdb/update.js')
        const removed = deleteKeys(table, asked)
        process.stderr.write(`pagedict delete: ${removed} of ${asked.length} keys removed\n`)
        return EXIT_OK
      }),
    )
}

/** The codec of an LMDB table; refuses a page file. */
function updatableCodec(table: string): CodecId {
  const dict = open(table)
  const backend = dict.backend
  const codec = CODEC_NAMES.indexOf(dict.codec) as CodecId
  dict.close()
  if (backend !== 'lmdb') {
    throw new PagedictError('E_READONLY', `${table}: a page file is read-only; rebuild it with \`pagedict build\`, or build with --backend lmdb to update in place`, { path: table })
  }
  return codec
}

function encode(codec: CodecId, text: string, where: string): Uint8Array {
  let value: unknown = text
  if (codec === 0) value = undefined
  else if (codec === 2) value = text.split('\t')
  else if (codec === 3) {
    try {
      value = JSON.parse(text)
    } catch {
      throw new PagedictError('E_INPUT', `${where}: not JSON text: ${text.slice(0, 60)}`)
    }
  }
  return encodeValue(codec, value)
}
