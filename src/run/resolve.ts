/**
 * A run's job as a pool takes it: a module URL, JSON options and the context module that
 * gives jobs the scanner. A built-in job (a RunSpec such as `{ emit: 'count', key: 4 }`) is a
 * module like any other (job.ts), with its spec as options; its checks against the input
 * files run here, before any worker starts.
 */
import { PagedictError } from '../errors.js'
import { checkJson, moduleUrl } from '../pool/options.js'
import { checkOutputs } from './outputs.js'
import { type RunSpec, checkRunSpec, checkSpecFiles } from './spec.js'

export interface ResolvedJob {
  jobUrl: string
  jobOptions: unknown
  contextUrl: string
  /** The built-in job's spec, when the job was one. */
  spec: RunSpec | undefined
  /** Check the job against the input files (formats, output names); throws E_OPTION. */
  check(files: readonly string[]): void
}

/** The built-in jobs and the scanner context are modules beside this one. */
const BUILTIN_JOB_URL = new URL('./job.js', import.meta.url).href
const CONTEXT_URL = new URL('./context.js', import.meta.url).href

function optionError(option: string, message: string): PagedictError {
  return new PagedictError('E_OPTION', `${option}: ${message}`, { option })
}

/** `job` as the library's Pool takes it: a module (path or file: URL) or a RunSpec. */
export function resolveJob(job: unknown, jobOptions: unknown): ResolvedJob {
  if (typeof job === 'object' && job !== null && !(job instanceof URL)) {
    if (jobOptions !== undefined) throw optionError('jobOptions', 'is for job modules; a built-in job takes its options in `job`')
    const spec = checkRunSpec(job, 'job')
    return {
      jobUrl: BUILTIN_JOB_URL,
      jobOptions: spec,
      contextUrl: CONTEXT_URL,
      spec,
      check(files) {
        checkSpecFiles(spec, files)
        checkOutputs(spec, files)
      },
    }
  }
  if (!(job instanceof URL) && (typeof job !== 'string' || job === '')) {
    throw optionError('job', 'must be a job module (path or file: URL) or a built-in job such as { emit: "count" }')
  }
  return { jobUrl: moduleUrl(job, 'job'), jobOptions: checkJson(jobOptions ?? null, 'jobOptions'), contextUrl: CONTEXT_URL, spec: undefined, check: () => undefined }
}
