import { ApplianceError, BusyError, ConflictError, InvalidConfigError, NotFoundError, type Diagnostic } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import { withItem } from '../../core/store/items.ts'
import type { StoreProblem, StoredState } from '../../core/store/document-store.ts'
import { checkStorageConfig } from '../model/check.ts'
import type { Store, StorageConfig } from '../model/config.ts'
import type { StorageConfigStore } from '../store/config-store.ts'
import type { StoreSet } from './store-set.ts'

/**
 * The stores' desired state, as routerd keeps its config: a document with a generation, edited
 * whole or one store at a time, If-Match on the generation, every problem listed. An edit is
 * validated, then the stores are attached (mounted) and only then persisted and answered, one
 * edit at a time; an edit that fails anywhere leaves the mounts, the document and the files as
 * they were. A store jobs are using cannot be removed or moved.
 */

export interface StoresControllerOptions {
  store: StorageConfigStore
  stores: StoreSet
  log: Logger
  metrics: Metrics
  /** The stores jobs are reading or writing now. */
  storesInUse: () => ReadonlySet<string>
  /** Edits that may wait at once; more are refused with ERR_BUSY. */
  maxQueuedEdits?: number
  /** Called after each edit is in force (e.g. to check the new stores' health at once). */
  onEdited?: () => void
}

export interface StoresEditResult { generation: number }

export class StoresController {
  private state: StoredState<StorageConfig> = { generation: 0, config: { stores: [] } }
  private problems: StoreProblem[] = []
  private queue: Promise<unknown> = Promise.resolve()
  private queued = 0

  constructor(private readonly opts: StoresControllerOptions) {}

  /** Reads the stored document (the newest valid state if the newest is damaged) and attaches what it can. */
  async start(): Promise<void> {
    const opened = this.opts.store.open()
    this.problems = opened.problems
    let state = opened.state
    if (checkStorageConfig(state.config).length > 0 || opened.damaged) {
      const valid = [...opened.earlier()].find((s) => checkStorageConfig(s.config).length === 0) ?? { generation: 0, config: { stores: [] } }
      this.problems.push({ code: 'ERR_STORE_CORRUPT', message: `the stored document could not be used; generation ${valid.generation} is in force`, generation: state.generation })
      state = { generation: Math.max(opened.highestGeneration, valid.generation) + 1, config: valid.config }
      this.opts.store.replace(state)
    }
    this.state = state
    await this.opts.stores.attachAvailable(state.config.stores)
    this.opts.log.info({ generation: state.generation, stores: state.config.stores.length }, 'stores loaded')
  }

  config(): StoredState<StorageConfig> {
    return this.state
  }

  storeProblems(): readonly StoreProblem[] {
    return this.problems
  }

  findStore(id: string): Store | undefined {
    return this.state.config.stores.find((s) => s.id === id)
  }

  replaceConfig(document: unknown, ifMatch?: number): Promise<StoresEditResult> {
    return this.edit(ifMatch, () => {
      const problems = checkStorageConfig(document)
      if (problems.length > 0) throw new InvalidConfigError(problems)
      return { config: document as StorageConfig, persist: (s) => this.opts.store.saveSnapshot(s) }
    })
  }

  putStore(id: string, item: unknown, ifMatch?: number): Promise<StoresEditResult> {
    return this.edit(ifMatch, (current) => {
      const idProblem: Diagnostic[] = typeof item === 'object' && item !== null && (item as { id?: unknown }).id !== id
        ? [{ severity: 'error', path: '/id', code: 'ERR_ID_MISMATCH', message: `the body's id must be the path's "${id}"` }]
        : []
      const config = withItem(current, 'stores', id, item as Store)
      const problems = [...idProblem, ...checkStorageConfig(config).map((d) => ({ ...d, path: d.path.replace(/^\/stores\/\d+/, '') || '/' }))]
      if (problems.length > 0) throw new InvalidConfigError(problems)
      return { config, persist: (s) => this.opts.store.appendItem(s.generation, 'stores', id, item, () => s) }
    })
  }

  deleteStore(id: string, ifMatch?: number): Promise<StoresEditResult> {
    return this.edit(ifMatch, (current) => {
      if (!current.stores.some((s) => s.id === id)) throw new NotFoundError(`store ${id}`)
      return { config: withItem(current, 'stores', id, null), persist: (s) => this.opts.store.appendItem(s.generation, 'stores', id, null, () => s) }
    })
  }

  private edit(ifMatch: number | undefined, make: (current: StorageConfig) => { config: StorageConfig; persist: (s: StoredState<StorageConfig>) => void }): Promise<StoresEditResult> {
    if (this.queued >= (this.opts.maxQueuedEdits ?? 32)) return Promise.reject(new BusyError(`${this.queued} edits are already queued; retry later`))
    this.queued++
    const task = async (): Promise<StoresEditResult> => {
      if (ifMatch !== undefined && ifMatch !== this.state.generation) {
        throw new ConflictError(`If-Match generation ${ifMatch} is not the current generation ${this.state.generation}`)
      }
      const before = this.state.config
      const { config, persist } = make(before)
      this.refuseBusyStores(before, config)
      await this.opts.stores.apply(config.stores)
      const next = { generation: this.state.generation + 1, config }
      try {
        persist(next)
      } catch (err) {
        await this.opts.stores.apply(before.stores).catch((again: unknown) => this.opts.log.error({ err: again }, 'cannot restore the stores after a failed save'))
        throw new ApplianceError('ERR_STORE_WRITE', `the stores could not be saved: ${(err as Error).message}`, { cause: err })
      }
      this.state = next
      this.opts.metrics.inc('config_edits_total', 'Store edits applied')
      this.opts.log.info({ generation: next.generation, stores: config.stores.length }, 'stores edited')
      this.opts.onEdited?.()
      return { generation: next.generation }
    }
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => undefined)
    return run.finally(() => { this.queued-- })
  }

  /** A store a job is using may not be removed or pointed elsewhere under it. */
  private refuseBusyStores(before: StorageConfig, after: StorageConfig): void {
    const inUse = this.opts.storesInUse()
    const problems: Diagnostic[] = []
    for (const old of before.stores) {
      if (!inUse.has(old.id)) continue
      const now = after.stores.find((s) => s.id === old.id)
      if (now === undefined || JSON.stringify(now) !== JSON.stringify(old)) {
        problems.push({ severity: 'error', path: `/stores/${old.id}`, code: 'ERR_STORE_IN_USE', message: `store ${old.id} has running jobs: cancel them or wait` })
      }
    }
    if (problems.length > 0) throw new InvalidConfigError(problems)
  }
}
