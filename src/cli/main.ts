/**
 * The command line. Each subcommand lives in its own file and only parses its arguments;
 * the work is the library's. Exit codes: 0 done; 1 `get` found no value for some key, or
 * `run` had failed files; 2 bad usage or bad input (one line on stderr); 130 interrupted.
 */
import { Command, CommanderError } from 'commander'
import { registerBuild } from './build.js'
import { registerDump } from './dump.js'
import { EXIT_USAGE } from './errors.js'
import { registerGet } from './get.js'
import { registerInfo } from './info.js'
import { registerRun } from './run.js'
import { registerUpdate } from './update.js'
import { registerVerify } from './verify.js'
import { packageVersion } from '../version.js'

export async function main(argv: string[]): Promise<void> {
  // `pagedict dump t | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
  const program = new Command('pagedict')
    .description('Compile a big lookup table into a memory-mapped page file, and run lookup jobs over many data files on a pool of workers that share it.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  pagedict build airports.dat --format csv --key 1 -o airports.pdict
  pagedict get airports.pdict 3797
  pagedict run airports.pdict 'routes/*.csv' --key 4 --emit join -o joined.csv
  pagedict info airports.pdict --json

Exit codes: 0 done, 1 a key not found (get) or a file failed (run), 2 bad usage or input, 130 interrupted.`,
    )
  registerBuild(program)
  registerGet(program)
  registerInfo(program)
  registerVerify(program)
  registerDump(program)
  registerUpdate(program)
  registerRun(program)
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    // --help and --version end with exit code 0; every other commander error is bad usage.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE
  }
}
