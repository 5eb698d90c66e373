import { resolveInStore } from '../../layout/safe-path.ts'
import { removeTemps } from '../../install/files.ts'
import type { JobContext } from '../kind.ts'
import type { JobRequest } from '../model.ts'

/**
 * Removes the temporary file a job noted in its scratch (`destDir`, `temp`) before it was cut
 * short: by a failure, a cancel or a restart of the daemon.
 */
export async function removeKeptTemp(ctx: Pick<JobContext<JobRequest>, 'job' | 'storeRoot'>, store: string): Promise<void> {
  const { destDir, temp } = ctx.job.scratch as { destDir?: string; temp?: string | null }
  if (typeof destDir !== 'string' || typeof temp !== 'string') return
  await removeTemps(await resolveInStore(ctx.storeRoot(store), destDir), [temp])
}
