/**
 * The one error type pagedict throws. Callers branch on `code`, never on the message text.
 * Messages name the subject (a file, a line, an option), what was found against what was
 * expected, and how to fix it.
 */
export type PagedictErrorCode =
  | 'E_MAGIC' // not a pagedict table (or a shard of another table)
  | 'E_VERSION' // written by a newer, incompatible format version
  | 'E_CHECKSUM' // a header or page checksum does not match
  | 'E_TRUNCATED' // the file is shorter or longer than its header says
  | 'E_CORRUPT' // a structural field is out of range
  | 'E_INPUT' // bad input data: a file, a line, a reason
  | 'E_DUPLICATE' // a duplicate key under --on-duplicate error
  | 'E_KEY_TOO_LONG' // a key over MAX_KEY_BYTES
  | 'E_VALUE_TOO_LONG' // a value over MAX_VALUE_BYTES
  | 'E_OPTION' // a bad option value at the public boundary
  | 'E_IO' // the file system refused (missing file, permission, disk full)
  | 'E_READONLY' // an update on a table kind that cannot be updated in place
  | 'E_JOB' // a pool job failed

export interface PagedictErrorData {
  path?: string
  line?: number
  offset?: number
  expected?: unknown
  got?: unknown
  option?: string
  cause?: unknown
}

export class PagedictError extends Error {
  readonly code: PagedictErrorCode
  readonly path?: string
  readonly line?: number
  readonly offset?: number
  readonly expected?: unknown
  readonly got?: unknown
  readonly option?: string

  constructor(code: PagedictErrorCode, message: string, data: PagedictErrorData = {}) {
    super(message, data.cause === undefined ? undefined : { cause: data.cause })
    this.name = 'PagedictError'
    this.code = code
    this.path = data.path
    this.line = data.line
    this.offset = data.offset
    this.expected = data.expected
    this.got = data.got
    this.option = data.option
  }
}

/** "file:line: reason", the one-line form the CLI prints for bad input. */
export function inputError(path: string, line: number, reason: string, code: PagedictErrorCode = 'E_INPUT'): PagedictError {
  return new PagedictError(code, `${path}:${line}: ${reason}`, { path, line })
}

/** Wrap a Node file-system error (ENOENT, EACCES, ENOSPC, ...) as E_IO naming the path. */
export function ioError(path: string, err: unknown, doing: string): PagedictError {
  const code = (err as NodeJS.ErrnoException)?.code
  const reason =
    code === 'ENOENT' ? 'no such file or directory'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOSPC' ? 'no space left on device'
    : code === 'EISDIR' ? 'is a directory'
    : (err as Error)?.message ?? String(err)
  return new PagedictError('E_IO', `${path}: cannot ${doing}: ${reason}`, { path, cause: err })
}

/**
 * The one message for a duplicate key under --on-duplicate error, for every backend:
 * "file:line: duplicate key "k" (first at line N)", naming the earlier file when it differs.
 */
export function duplicateKeyError(inputs: readonly string[], again: { input: number; line: number }, first: { input: number; line: number }, key: string): PagedictError {
  const path = inputs[again.input] ?? 'input'
  const firstPath = inputs[first.input] ?? 'input'
  const where = firstPath === path ? `line ${first.line}` : `${firstPath}:${first.line}`
  const shown = key.length > 80 ? key.slice(0, 80) + '…' : key
  return inputError(path, again.line, `duplicate key ${JSON.stringify(shown)} (first at ${where}); pass --on-duplicate first or last to keep one`, 'E_DUPLICATE')
}
