import { randomUUID } from 'node:crypto'
import { ApplianceError, errorCode, InvalidConfigError, NotFoundError, type Diagnostic } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { schemaDiagnostics } from '../../core/schema.ts'
import { redactUrl } from '../download/url.ts'
import type { JobContext, JobKindHandler } from './kind.ts'
import { FINISHED_STATES, JobRequest, type Job, type JobState } from './model.ts'
import type { JobRecord, JobStore } from './store.ts'

/**
 * Runs jobs: at most `maxConcurrent` at once, the rest waiting in order. Every state change is
 * persisted before it is visible; progress is persisted every few seconds. At start, jobs that
 * were waiting or running when the daemon stopped are queued again and resume (a kind keeps
 * what it needs in `scratch`). Cancelling a waiting job ends it at once; a running one is
 * aborted and its temporary files removed.
 */

export interface JobRunnerOptions {
  store: JobStore
  kinds: readonly JobKindHandler[]
  log: Logger
  metrics: Metrics
  maxConcurrent: number
  keepFinished: number
  /** The stores configured now (ids). */
  configuredStores: () => ReadonlySet<string>
  /** Where an attached store's files are (undefined: not attached). */
  storeRoot: (id: string) => string | undefined
}

interface Running { controller: AbortController; cancelled: boolean; samples: { at: number; bytes: number }[]; savedAt: number }

const PROGRESS_SAVE_MS = 3000
const RATE_WINDOW_MS = 5000

export class JobRunner {
  private readonly jobs = new Map<string, JobRecord>()
  private readonly waiting: string[] = []
  private readonly running = new Map<string, Running>()
  private readonly kinds: ReadonlyMap<string, JobKindHandler>
  private stopped = false
  private loadProblems: string[] = []

  constructor(private readonly opts: JobRunnerOptions) {
    this.kinds = new Map(opts.kinds.map((k) => [k.kind, k]))
  }

  /** Loads the persisted jobs and queues again those that had not finished. */
  start(): void {
    const { jobs, problems } = this.opts.store.load()
    this.loadProblems = problems
    for (const p of problems) this.opts.log.warn({ problem: p }, 'job file unreadable')
    for (const job of jobs) {
      this.jobs.set(job.id, job)
      if (!FINISHED_STATES.has(job.state)) {
        this.opts.log.info({ job: job.id, kind: job.request.kind, state: job.state, bytes: job.bytes }, 'job queued again after a restart')
        this.waiting.push(job.id)
      }
    }
    this.pump()
  }

  /** Stops taking jobs and aborts the running ones without ending them: they resume at the next start. */
  stop(): void {
    this.stopped = true
    for (const r of this.running.values()) r.controller.abort(new ApplianceError('ERR_SHUTTING_DOWN', 'storaged is stopping'))
  }

  problems(): readonly string[] {
    return this.loadProblems
  }

  /** Checks and queues a job; answers its id (state NOT_DOWNLOADED until a slot frees). */
  submit(body: unknown): Job {
    const schema = schemaDiagnostics(JobRequest, body)
    if (schema.length > 0) throw new InvalidConfigError(this.kindDiagnostics(body, schema))
    const request = body as JobRequest
    const kind = this.kinds.get(request.kind)
    if (kind === undefined) throw new InvalidConfigError([{ severity: 'error', path: '/kind', code: 'ERR_JOB_KIND', message: `no job kind ${request.kind}` }])
    const problems = kind.check(request, this.opts.configuredStores())
    if (problems.length > 0) throw new InvalidConfigError(problems)
    const job: JobRecord = {
      id: randomUUID(), request, state: 'NOT_DOWNLOADED', createdAt: new Date().toISOString(), startedAt: null, finishedAt: null,
      bytes: 0, total: null, error: null, result: null, scratch: {},
    }
    this.opts.store.save(job)
    this.jobs.set(job.id, job)
    this.waiting.push(job.id)
    this.opts.metrics.inc('jobs_submitted_total', 'Jobs accepted', { kind: request.kind })
    this.opts.log.info({ job: job.id, kind: request.kind }, 'job accepted')
    this.pump()
    return this.view(job)
  }

  /** A union's schema errors name every branch; keep those of the branch the body's kind names. */
  private kindDiagnostics(body: unknown, all: Diagnostic[]): Diagnostic[] {
    const kind = typeof body === 'object' && body !== null ? (body as { kind?: unknown }).kind : undefined
    const handler = typeof kind === 'string' ? this.kinds.get(kind) : undefined
    if (handler === undefined) return [{ severity: 'error', path: '/kind', code: 'ERR_JOB_KIND', message: `kind must be one of ${[...this.kinds.keys()].join(', ')}` }]
    const branch = JobRequest.anyOf.find((s) => s.properties.kind.const === kind)
    return branch === undefined ? all : schemaDiagnostics(branch, body)
  }

  get(id: string): Job {
    const job = this.jobs.get(id)
    if (job === undefined) throw new NotFoundError(`job ${id}`)
    return this.view(job)
  }

  list(): Job[] {
    return [...this.jobs.values()].map((j) => this.view(j))
  }

  /** Ends a job: a waiting one at once, a running one once it has stopped and cleaned up. */
  async cancel(id: string): Promise<Job> {
    const job = this.jobs.get(id)
    if (job === undefined) throw new NotFoundError(`job ${id}`)
    if (FINISHED_STATES.has(job.state)) return this.view(job)
    const running = this.running.get(id)
    if (running !== undefined) {
      running.cancelled = true
      running.controller.abort(new ApplianceError('ERR_JOB_CANCELLED', 'the job was cancelled'))
      await this.whenFinished(id)
      return this.view(job)
    }
    this.waiting.splice(this.waiting.indexOf(id), 1)
    await this.cleanup(job)
    this.finish(job, 'ABANDONED', { code: 'ERR_JOB_CANCELLED', message: 'the job was cancelled before it started' }, null)
    return this.view(job)
  }

  /** The stores running or waiting jobs use. */
  storesInUse(): ReadonlySet<string> {
    const out = new Set<string>()
    for (const id of [...this.running.keys(), ...this.waiting]) {
      const job = this.jobs.get(id)
      if (job !== undefined) for (const s of this.kinds.get(job.request.kind)?.stores(job.request) ?? []) out.add(s)
    }
    return out
  }

  counts(): Record<JobState, number> {
    const out = { NOT_DOWNLOADED: 0, DOWNLOAD_IN_PROGRESS: 0, DOWNLOADED: 0, DOWNLOAD_ERROR: 0, ABANDONED: 0, UNKNOWN: 0 }
    for (const j of this.jobs.values()) out[j.state]++
    return out
  }

  private readonly finishWaiters = new Map<string, (() => void)[]>()

  private whenFinished(id: string): Promise<void> {
    return new Promise((resolve) => this.finishWaiters.set(id, [...(this.finishWaiters.get(id) ?? []), resolve]))
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.opts.maxConcurrent && this.waiting.length > 0) {
      const id = this.waiting.shift() as string
      const job = this.jobs.get(id)
      if (job !== undefined) void this.runOne(job)
    }
    this.opts.metrics.set('jobs_running', 'Jobs running now', this.running.size)
    this.opts.metrics.set('jobs_waiting', 'Jobs waiting for a slot', this.waiting.length)
  }

  private context(job: JobRecord, running: Running): JobContext<JobRequest> {
    const log = this.opts.log.child({ job: job.id, kind: job.request.kind })
    return {
      job, request: job.request, signal: running.controller.signal, log,
      storeRoot: (id) => this.root(id),
      progress: (bytes, total) => {
        job.bytes = bytes
        if (total !== undefined) job.total = total
        const now = Date.now()
        running.samples.push({ at: now, bytes })
        while (running.samples.length > 2 && (running.samples[0] as { at: number }).at < now - RATE_WINDOW_MS) running.samples.shift()
        if (now - running.savedAt >= PROGRESS_SAVE_MS) {
          running.savedAt = now
          this.save(job)
        }
      },
      keep: (scratch) => {
        job.scratch = { ...job.scratch, ...scratch }
        this.save(job)
      },
    }
  }

  private root(id: string): string {
    const root = this.opts.storeRoot(id)
    if (root === undefined) throw new ApplianceError('ERR_STORE_NOT_ATTACHED', `store ${id} is not attached`)
    return root
  }

  private async runOne(job: JobRecord): Promise<void> {
    const kind = this.kinds.get(job.request.kind)
    const running: Running = { controller: new AbortController(), cancelled: false, samples: [], savedAt: Date.now() }
    this.running.set(job.id, running)
    job.state = 'DOWNLOAD_IN_PROGRESS'
    job.startedAt ??= new Date().toISOString()
    this.save(job)
    this.opts.metrics.set('jobs_running', 'Jobs running now', this.running.size)
    const started = Date.now()
    try {
      if (kind === undefined) throw new ApplianceError('ERR_JOB_KIND', `no job kind ${job.request.kind}`)
      const result = await kind.run(this.context(job, running))
      this.finish(job, 'DOWNLOADED', null, result)
    } catch (err) {
      if (this.stopped && !running.cancelled) {
        // Stopping: the job stays in progress on disk and resumes at the next start.
        this.save(job)
      } else {
        const code = running.cancelled ? 'ERR_JOB_CANCELLED' : errorCode(err) ?? 'ERR_JOB_FAILED'
        const message = running.cancelled ? 'the job was cancelled' : (err as Error).message
        if (!running.cancelled) this.opts.log.warn({ job: job.id, kind: job.request.kind, err }, 'job failed')
        await this.cleanup(job)
        this.finish(job, running.cancelled ? 'ABANDONED' : 'DOWNLOAD_ERROR', { code, message }, null)
      }
    } finally {
      this.running.delete(job.id)
      this.opts.metrics.inc('job_seconds_total', 'Seconds jobs ran', { kind: job.request.kind }, (Date.now() - started) / 1000)
      for (const resolve of this.finishWaiters.get(job.id) ?? []) resolve()
      this.finishWaiters.delete(job.id)
      this.pump()
    }
  }

  private async cleanup(job: JobRecord): Promise<void> {
    const kind = this.kinds.get(job.request.kind)
    if (kind?.cleanup === undefined) return
    const log = this.opts.log.child({ job: job.id, kind: job.request.kind })
    await kind.cleanup({ job, request: job.request, storeRoot: (id) => this.root(id), log })
      .catch((err: unknown) => log.warn({ err }, 'cannot remove what the job left'))
  }

  private finish(job: JobRecord, state: JobState, error: JobRecord['error'], result: JobRecord['result']): void {
    job.state = state
    job.error = error
    job.result = result
    job.finishedAt = new Date().toISOString()
    job.scratch = {}
    this.save(job)
    this.opts.metrics.inc('jobs_finished_total', 'Jobs ended, by kind and state', { kind: job.request.kind, state })
    this.opts.log.info({ job: job.id, kind: job.request.kind, state, error: error?.code }, 'job ended')
    this.prune()
  }

  /** Forgets the oldest finished jobs beyond the number kept. */
  private prune(): void {
    const finished = [...this.jobs.values()].filter((j) => FINISHED_STATES.has(j.state))
    for (const old of finished.slice(0, Math.max(0, finished.length - this.opts.keepFinished))) {
      this.jobs.delete(old.id)
      this.opts.store.remove(old.id)
    }
  }

  private save(job: JobRecord): void {
    try {
      this.opts.store.save(job)
    } catch (err) {
      this.opts.log.error({ job: job.id, err }, 'cannot persist job')
    }
  }

  private view(job: JobRecord): Job {
    const running = this.running.get(job.id)
    const samples = running?.samples ?? []
    const first = samples[0]
    const last = samples[samples.length - 1]
    const rate = first !== undefined && last !== undefined && last.at > first.at ? ((last.bytes - first.bytes) * 1000) / (last.at - first.at) : 0
    return {
      id: job.id, kind: job.request.kind, state: job.state, request: maskRequest(job.request),
      createdAt: job.createdAt, startedAt: job.startedAt, finishedAt: job.finishedAt,
      bytes: job.bytes, total: job.total, ratePerSecond: Math.round(rate),
      percent: job.total !== null && job.total > 0 ? Math.min(100, Math.round((job.bytes * 1000) / job.total) / 10) : job.state === 'DOWNLOADED' ? 100 : null,
      error: job.error, result: job.result,
    }
  }
}

/** A request as answered and logged: a URL's credentials and secret-looking query values are masked. */
export function maskRequest(request: JobRequest): JobRequest {
  return request.kind === 'download' ? { ...request, url: redactUrl(request.url) } : request
}
