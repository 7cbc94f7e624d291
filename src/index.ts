/**
 * pagedict's library: build a table, open it, run jobs over data files on a pool of workers
 * that share it. This file only re-exports; each piece lives in its own module.
 */
export { build } from './build/index.js'
export type { BuildOptions, BuildReport, Entry, EntriesBuildOptions } from './build/index.js'
export type { InputFormat, OnDuplicate, BackendChoice } from './build/options.js'
export { open } from './read/open.js'
export type { Dict, DictInfo, Key, BackendName, ValueLocation } from './read/dict.js'
export type { Value } from './format/values.js'
export { verify } from './read/verify.js'
export type { VerifyReport } from './read/verify.js'
export { Pool } from './api/pool.js'
export type { PoolOptions } from './api/pool.js'
export type { PoolResult, PoolProgress } from './pool/types.js'
export type { Job, JobContext } from './run/context.js'
export type { RunSpec } from './run/spec.js'
export { PagedictError } from './errors.js'
export type { PagedictErrorCode } from './errors.js'
