import type { Diagnostic } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { JobRecord } from './store.ts'
import type { JobRequest, JobResult } from './model.ts'

/**
 * One kind of job (download, copy, …): how its request is checked beyond the schema, which
 * stores it uses, and how it runs. Kinds are declared in a list (kinds/index.ts); the runner
 * knows none of them by name.
 */

export interface JobContext<R extends JobRequest> {
  readonly job: Readonly<JobRecord>
  readonly request: R
  /** Aborted when the job is cancelled or the daemon stops. */
  readonly signal: AbortSignal
  readonly log: Logger
  /** Where a store's files are; throws ERR_STORE_NOT_ATTACHED when it is not attached now. */
  storeRoot(id: string): string
  /** Bytes done so far, and the total when known. */
  progress(bytes: number, total?: number | null): void
  /** What the job needs to resume after a restart; persisted before this returns. */
  keep(scratch: Record<string, unknown>): void
}

export interface JobKindHandler<R extends JobRequest = JobRequest> {
  readonly kind: R['kind']
  /** Problems the schema cannot see (an unknown store, a path outside the layout), each with its path. */
  check(request: R, stores: ReadonlySet<string>): Diagnostic[]
  /** The stores the job reads or writes (they cannot be removed while it runs). */
  stores(request: R): string[]
  /** Runs the job to its result; throws an ApplianceError when it fails. Must stop promptly when `signal` aborts. */
  run(ctx: JobContext<R>): Promise<JobResult>
  /** Removes what an unfinished job left (temporary files) when it is cancelled or cannot resume. */
  cleanup?(ctx: Pick<JobContext<R>, 'job' | 'request' | 'storeRoot' | 'log'>): Promise<void>
}
