/**
 * How every subcommand ends on an error: one line on stderr naming the file, line and
 * reason, no stack trace, and the exit code of the contract (2: bad usage or bad input).
 * Anything that is not a PagedictError is a bug in pagedict and keeps its stack.
 */
import { PagedictError } from '../errors.js'

export const EXIT_OK = 0
/** get: some key was not found; run: some file failed. */
export const EXIT_NOT_FOUND = 1
/** Bad usage or bad input: the message says which file, line and why. */
export const EXIT_USAGE = 2

/** Run a subcommand's work, turning a PagedictError into its one-line message and exit 2. */
export async function guarded(command: string, work: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await work()
  } catch (err) {
    if (!(err instanceof PagedictError)) throw err
    process.stderr.write(`pagedict ${command}: ${err.message}\n`)
    process.exitCode = EXIT_USAGE
  }
}

export function usageError(option: string, message: string): PagedictError {
  return new PagedictError('E_OPTION', `${option}: ${message}`, { option })
}

/** Parse an integer option, checking what the message promises. */
export function integerOption(value: string | undefined, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(option, `must be an integer from ${min} to ${max}, got "${value}"`)
  }
  return n
}
