import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../../core/files/atomic.ts'
import type { JobRequest, JobResult, JobState } from './model.ts'

/**
 * Jobs on disk: one file per job (`<state dir>/jobs/<id>.json`), replaced atomically at each
 * state change and, while it runs, at most every few seconds with its progress. One file per
 * job keeps a write small however many jobs are kept, and a damaged file costs one job.
 * The files are 0600: a request's URL may carry a password.
 */

export interface JobRecord {
  id: string
  request: JobRequest
  state: JobState
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  bytes: number
  total: number | null
  error: { code: string; message: string } | null
  result: JobResult | null
  /** What a kind keeps to resume after a restart (temporary file names, the start time). */
  scratch: Record<string, unknown>
}

const ID = /^[a-f0-9-]{36}$/

export class JobStore {
  private readonly dir: string

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'jobs')
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
  }

  /** Every readable job, oldest first; unreadable files are reported and left for a post-mortem. */
  load(): { jobs: JobRecord[]; problems: string[] } {
    const jobs: JobRecord[] = []
    const problems: string[] = []
    for (const name of readdirSync(this.dir)) {
      if (/\.tmp-\d+$/.test(name)) {
        rmSync(join(this.dir, name), { force: true })
        continue
      }
      if (!name.endsWith('.json') || !ID.test(name.slice(0, -5))) continue
      try {
        const job = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as JobRecord
        if (job.id !== name.slice(0, -5) || typeof job.request !== 'object' || typeof job.state !== 'string') throw new Error('not a job record')
        jobs.push(job)
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`)
      }
    }
    jobs.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
    return { jobs, problems }
  }

  save(job: JobRecord): void {
    writeFileAtomic(join(this.dir, `${job.id}.json`), JSON.stringify(job))
  }

  remove(id: string): void {
    rmSync(join(this.dir, `${id}.json`), { force: true })
  }
}
