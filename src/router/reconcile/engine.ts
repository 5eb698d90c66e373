import { BusyError, ConflictError, errorCode, InvalidConfigError, NotFoundError, type Diagnostic, type RestoreRejectedError } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { MemoryRelease } from '../../core/memory-release.ts'
import type { Metrics } from '../../core/metrics.ts'
import type { Runner } from '../../core/exec.ts'
import { readFacts } from '../kernel/facts.ts'
import { readRuleCounters } from '../kernel/rule-counters.ts'
import { SgDropReader } from '../secgroup/counters.ts'
import { applySysctls } from '../kernel/sysctl.ts'
import { checkConfig } from '../model/check.ts'
import { COLLECTION_NAMES, type CollectionItem, type CollectionName, type RouterConfig } from '../model/config.ts'
import type { EditFacts, HostFacts } from '../model/facts.ts'
import { findItem, withItem } from '../model/items.ts'
import { validateConfig, validateItem } from '../model/parse.ts'
import { roleAllows, roleDiagnostics, type RoleName } from '../model/roles.ts'
import { NO_RUNTIME_FACTS, type RuntimeFacts } from '../model/runtime.ts'
import { renderRouter } from '../render/index.ts'
import type { ConfigStore, StoredState, StoreProblem } from '../store/config-store.ts'
import type { EngineStatus, SubsystemStatus } from '../api/contract.ts'
import { ROLES } from '../roles.ts'
import { chooseStartState } from '../store/recover.ts'
import { applyRendered, detectDrift, type AppliedState, type ApplyReport } from './apply.ts'
import { writePostMortem } from './post-mortem.ts'
import { routerStages } from './stages/index.ts'
import type { StageContext } from './stages/stage.ts'

/**
 * The one place with state. Every change (API edit, start-up apply, drift repair) runs through
 * one queue, so the kernel has a single writer. An edit is validated, applied and only then
 * persisted and acknowledged: a document the kernel refuses is never stored, and the state in
 * force stays the previous one.
 */

/**
 * A large apply leaves tens of MB of garbage (request body, restore text, snapshot JSON): the
 * engine asks for a full collection shortly after the answer (memory-release.ts). A second
 * later, not at once: until the answer is flushed the request still holds its body, and a
 * collection then keeps ~6 MB more pages (measured with bench/memory-probe.ts).
 */
const LARGE_APPLY_RULES = 2000
/** A document this large (items over all collections) leaves as much garbage even when it writes few rules (e.g. 4,096 DHCP hosts). */
const LARGE_DOCUMENT_ITEMS = 2000
const DEFAULT_MAX_QUEUED_EDITS = 32
/** The body of a DELETE: distinct from any JSON value a PUT can carry (null included). */
const DELETE = Symbol('delete')

export interface EngineOptions {
  runner: Runner
  store: ConfigStore
  log: Logger
  metrics: Metrics
  stateDir: string
  controlPorts: number[]
  /** Edits (API changes) that may wait in the queue at once; more are refused with ERR_BUSY (default 32). */
  maxQueuedEdits?: number
  /** How often the kernel is compared with the applied state (0 = never). */
  driftCheckMs: number
  /**
   * Told the config in force and the host facts at start, after every stored change and after
   * the facts are read again: the in-process services (DHCP, DNS) follow the config at once.
   * `edited` is the one collection an item edit changed (none: anything may have).
   */
  onConfig?: (config: RouterConfig, facts: HostFacts, generation: number, edited?: CollectionName) => void
  /** Asked for a full collection after work that leaves much garbage (none: no such requests). */
  memory?: MemoryRelease
  /** What this instance is for: the collections it takes, the tables it renders, the sysctls it sets (default router). */
  role?: RoleName
  /** What edits are checked against besides the kernel's facts (the stored user data blobs); not the stored config at start. */
  editFacts?: () => EditFacts
  /**
   * A document taken as generation 1 when the store holds none: the boot line's (systemvm-boot
   * writes it). Checked as a PUT is; refused, it is logged and the router starts empty. A store
   * that holds a config keeps it: after the first boot the orchestrator's config wins.
   */
  initialConfig?: unknown
}

export interface EditResult { generation: number; warnings: Diagnostic[]; report: ApplyReport }

export class Engine {
  private generation = 0
  private config!: RouterConfig
  private applied: AppliedState | undefined
  private appliedGeneration = 0
  private facts!: HostFacts
  private queue: Promise<unknown> = Promise.resolve()
  private lastError: EngineStatus['lastError'] = null
  private lastApply: EngineStatus['lastApply'] = null
  private readonly stages = routerStages()
  private readonly subsystems: Record<string, SubsystemStatus> = Object.fromEntries(this.stages.filter((s) => s.status)
    .map((s) => [s.name, { appliedGeneration: 0, lastError: null, lastDurationMs: null }]))
  private drift = { checks: 0, repairs: 0, lastProblems: [] as string[] }
  private sgDrops: SgDropReader | undefined
  private sgDropSeries = new Set<string>()
  private storeProblems: StoreProblem[] = []
  private timer: NodeJS.Timeout | undefined
  private retryMs = 1000
  private queuedEdits = 0
  private readonly log: Logger

  private readonly role: RoleName
  private runtime: RuntimeFacts = NO_RUNTIME_FACTS

  constructor(private readonly opts: EngineOptions) {
    this.log = opts.log.child({ component: 'reconcile' })
    this.role = opts.role ?? 'router'
  }

  /** Loads the stored config and applies it (whole tables) before anything is served. */
  async start(): Promise<void> {
    // The stored state is validated like a PUT before it can reach the kernel.
    const opened = this.opts.store.open()
    this.facts = await readFacts(this.opts.runner, this.opts.controlPorts)
    const chosen = chooseStartState(opened, (config) => validateConfig(config, this.facts, this.role))
    if (chosen.rewrite) this.opts.store.replace(chosen.state)
    this.storeProblems = chosen.problems
    for (const problem of chosen.problems) {
      // A cut torn tail is what a crash leaves: nothing acknowledged was lost.
      if (problem.code === 'ERR_STORE_TORN_TAIL') this.log.warn({ problem }, 'stored config problem')
      else this.log.error({ problem }, 'stored config problem')
    }
    const stored = chosen.state.generation === 0 && this.opts.initialConfig !== undefined
      ? this.takeInitial(this.opts.initialConfig) ?? chosen.state
      : chosen.state
    this.generation = stored.generation
    this.config = stored.config
    await applySysctls(this.opts.runner, ROLES[this.role].sysctls)
    await this.exclusive(() => this.applyFull('start'))
      .catch((err: unknown) => this.log.error({ err }, 'start-up apply failed; will retry'))
    // The services serve the stored config even when the kernel refused it for now.
    this.facts ??= await readFacts(this.opts.runner, this.opts.controlPorts)
    this.notify()
    if (this.opts.driftCheckMs > 0) this.scheduleCheck(this.opts.driftCheckMs)
  }

  /** The initial document as generation 1, stored; undefined (and logged) when it does not validate. */
  private takeInitial(document: unknown): StoredState | undefined {
    const valid = validateConfig(document, this.facts, this.role)
    if (!valid.ok) {
      this.log.error({ problems: valid.diagnostics.filter((d) => d.severity === 'error') }, 'initial config refused')
      return undefined
    }
    const state = { generation: 1, config: valid.config }
    this.opts.store.replace(state)
    this.log.info({ generation: 1 }, 'initial config taken')
    return state
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  getConfig(): { generation: number; config: RouterConfig } {
    return { generation: this.generation, config: this.config }
  }

  /**
   * Readiness, apart from liveness: the desired generation (or a later one an edit is storing)
   * is in the kernel. False before the first apply, after an apply that failed at start or in
   * a drift repair (the kernel's state is then not the desired one), until a retry succeeds.
   */
  readiness(): { ready: boolean; desiredGeneration: number; appliedGeneration: number } {
    const ready = this.applied !== undefined && this.appliedGeneration >= this.generation
    return { ready, desiredGeneration: this.generation, appliedGeneration: this.appliedGeneration }
  }

  status(): EngineStatus {
    return {
      ready: this.readiness().ready,
      desiredGeneration: this.generation, appliedGeneration: this.appliedGeneration,
      lastError: this.lastError, lastApply: this.lastApply, drift: { ...this.drift },
      subsystems: structuredClone(this.subsystems),
      store: { problems: [...this.storeProblems] },
    }
  }

  /** Validates, applies and persists a whole document. */
  replaceConfig(document: unknown, ifMatch?: number): Promise<EditResult> {
    return this.admitEdit(async () => {
      this.checkGeneration(ifMatch)
      let result = validateConfig(document, this.editFacts(), this.role)
      if (!result.ok && result.diagnostics.some((d) => d.code === 'ERR_INTERFACE_NOT_FOUND')) {
        // A NIC may have been plugged in since the facts were read: look again before refusing.
        this.facts = await readFacts(this.opts.runner, this.opts.controlPorts)
        result = validateConfig(document, this.editFacts(), this.role)
      }
      if (!result.ok) throw new InvalidConfigError(result.diagnostics)
      const generation = this.generation + 1
      // The snapshot is written while the kernel applies (the disk and the restore process work
      // at once) and becomes the stored state only once the kernel has it.
      const applying = this.applyConfig(result.config, generation, 'replace')
      const staging = this.opts.store.stageSnapshot({ generation, config: result.config })
      let report: ApplyReport
      try {
        report = await applying
      } catch (err) {
        await staging.then((s) => s.abort(), () => undefined)
        throw err
      }
      try {
        (await staging).commit()
      } catch (err) {
        return await this.undoUnstored(err, generation)
      }
      this.commit(result.config, generation)
      let items = 0
      for (const name of COLLECTION_NAMES) items += result.config[name].length
      if (items >= LARGE_DOCUMENT_ITEMS) this.opts.memory?.soon()
      return { generation, warnings: result.warnings, report }
    })
  }

  /** Validates, applies and persists one item (added or replaced). A body that is not an item (null included) is invalid. */
  editItem<C extends CollectionName>(collection: C, id: string, item: unknown, ifMatch?: number): Promise<EditResult> {
    return this.changeItem(collection, id, item, ifMatch)
  }

  /** Removes one item, applies and persists. */
  deleteItem<C extends CollectionName>(collection: C, id: string, ifMatch?: number): Promise<EditResult> {
    return this.changeItem(collection, id, DELETE, ifMatch)
  }

  private changeItem<C extends CollectionName>(collection: C, id: string, body: unknown, ifMatch?: number): Promise<EditResult> {
    return this.admitEdit(async () => {
      this.checkGeneration(ifMatch)
      const item = body === DELETE ? null : body
      const deleting = body === DELETE
      const existing = findItem(this.config, collection, id)
      if (!roleAllows(this.role, collection)) throw new NotFoundError(`a ${this.role} has no ${collection}`)
      if (deleting && existing === undefined) throw new NotFoundError(`${collection}/${id}`)
      const index = existing === undefined ? this.config[collection].length : this.config[collection].indexOf(existing as never)
      const path = `/${collection}/${index}`
      if (!deleting) {
        const problems = validateItem(collection, item, path, id)
        if (problems.length > 0) throw new InvalidConfigError(problems)
      }
      const next = withItem(this.config, collection, id, item as CollectionItem<C> | null)
      // An interface's role is the one thing an item edit can bring outside the daemon's role.
      const outsideRole = collection === 'interfaces' ? roleDiagnostics(next, this.role) : []
      if (outsideRole.length > 0) throw new InvalidConfigError(outsideRole)
      if (collection === 'interfaces') this.facts = await readFacts(this.opts.runner, this.opts.controlPorts)
      // Only the edited item and what it conflicts with or what refers to it (the old version's referrers too) are checked.
      const diagnostics = checkConfig(next, this.editFacts(), { collection, index, previous: existing, removed: deleting })
      if (diagnostics.some((d) => d.severity === 'error')) throw new InvalidConfigError(diagnostics)
      const generation = this.generation + 1
      const report = await this.applyConfig(next, generation, deleting ? 'delete' : 'put')
      try {
        this.opts.store.appendItem(generation, collection, id, item, () => ({ generation, config: next }))
      } catch (err) {
        return await this.undoUnstored(err, generation)
      }
      this.commit(next, generation, collection)
      return { generation, warnings: diagnostics, report }
    })
  }

  /**
   * Takes a fact learnt at run time (model/runtime.ts; e.g. backends' health from a service)
   * and re-applies the config in force with it: the kernel follows without a new generation,
   * and drift is checked against this rendering. If the kernel refuses, the fact is not taken.
   */
  setRuntime(name: string, value: unknown): Promise<ApplyReport> {
    return this.exclusive(async () => {
      const before = this.runtime
      this.runtime = { ...before, [name]: value }
      try {
        return await this.applyConfig(this.config, this.generation, 'runtime')
      } catch (err) {
        this.runtime = before
        throw err
      }
    })
  }

  /** Compares the kernel with the applied state; repairs with a full apply if they differ. */
  checkDrift(): Promise<string[]> {
    return this.exclusive(async () => {
      this.drift.checks++
      this.opts.metrics.inc('drift_checks_total', 'Drift checks run')
      const problems = this.applied === undefined ? ['nothing applied yet'] : await detectDrift(this.stages, this.stageContext(), this.applied)
      this.drift.lastProblems = problems.slice(0, 50)
      if (problems.length > 0) {
        this.log.warn({ problems: problems.slice(0, 20), count: problems.length }, 'kernel state drifted; repairing')
        this.drift.repairs++
        this.opts.metrics.inc('drift_repairs_total', 'Full applies forced by drift')
        await this.applyFull('drift')
      }
      return problems
    })
  }

  /**
   * Publishes counters that live in the kernel (packets dropped by source-address validation)
   * as metrics; read-only, so it does not wait for the edit queue. Called at each scrape.
   */
  async publishKernelCounters(): Promise<void> {
    if (this.role === 'secgroup') return this.publishSecGroupDrops()
    const [dropped, metadata] = await Promise.all([
      readRuleCounters(this.opts.runner, 'raw', 'antispoof'), readRuleCounters(this.opts.runner, 'filter', 'metadata-spoof'),
    ])
    for (const [network, packets] of dropped) {
      this.opts.metrics.setCounter('spoofed_packets_dropped_total', 'Packets from a guest link whose source is outside its network (BCP 38)', packets, { network })
    }
    for (const [network, packets] of metadata) {
      this.opts.metrics.setCounter('metadata_spoofed_dropped_total', "Packets to the metadata and password ports whose address and MAC are no DHCP host's of the network", packets, { network })
    }
  }

  /** Role secgroup: drops per port and reason (secgroup/counters.ts); series of ports gone are removed. */
  private async publishSecGroupDrops(): Promise<void> {
    const rendered = this.applied?.rendered.secgroup
    if (rendered === undefined) return
    const ports = [...new Set(rendered.counters.map((c) => c.port))]
    const { byPort } = await (this.sgDrops ??= new SgDropReader(this.opts.runner)).read(rendered.counters, ports)
    const name = 'security_group_dropped_packets_total'
    const published = new Set<string>()
    for (const [port, reasons] of byPort) {
      for (const [reason, packets] of reasons) {
        this.opts.metrics.setCounter(name, "Packets a VM port's security-group rules dropped, by port and reason", packets, { port, reason })
        published.add(`${port}\n${reason}`)
      }
    }
    for (const key of this.sgDropSeries) {
      const [port = '', reason = ''] = key.split('\n')
      if (!published.has(key)) this.opts.metrics.remove(name, { port, reason })
    }
    this.sgDropSeries = published
  }

  /** What differs between the desired state and the kernel, without repairing (svmctl diff). */
  diff(): Promise<string[]> {
    return this.exclusive(async () => (this.applied === undefined ? ['nothing applied yet'] : detectDrift(this.stages, this.stageContext(), this.applied)))
  }

  /** The kernel took a generation the store could not keep: put the stored one back, then fail. */
  private async undoUnstored(err: unknown, generation: number): Promise<never> {
    this.log.error({ err, generation }, 'cannot store the config; restoring the previous state in the kernel')
    await this.applyConfig(this.config, this.generation, 'store-failed').catch((undoErr: unknown) => {
      // The kernel holds neither the stored config nor a known state: not ready, and the next
      // check replaces the owned state whole with the stored config.
      this.log.error({ err: undoErr, generation }, 'cannot restore the stored config in the kernel; a full apply follows')
      this.applied = undefined
      this.appliedGeneration = 0
      this.scheduleCheck(this.retryMs)
    })
    throw err
  }

  /** The facts an edit is checked against: the kernel's, and what the daemon stores besides the config. */
  private editFacts(): HostFacts {
    return this.opts.editFacts === undefined ? this.facts : { ...this.facts, ...this.opts.editFacts() }
  }

  private checkGeneration(ifMatch: number | undefined): void {
    if (ifMatch !== undefined && ifMatch !== this.generation) {
      throw new ConflictError(`If-Match generation ${ifMatch} is not the current generation ${this.generation}`)
    }
  }

  /** `edited`: the one collection an item edit changed (the services hear only of what they read). */
  private commit(config: RouterConfig, generation: number, edited?: CollectionName): void {
    this.config = config
    this.generation = generation
    this.opts.metrics.set('desired_generation', 'Generation of the stored config', generation)
    this.notify(edited)
  }

  private notify(edited?: CollectionName): void {
    try {
      this.opts.onConfig?.(this.config, this.facts, this.generation, edited)
    } catch (err) {
      this.log.error({ err }, 'a service did not take the new config')
    }
  }

  private async applyFull(reason: string): Promise<void> {
    this.facts = await readFacts(this.opts.runner, this.opts.controlPorts)
    this.applied = undefined
    await this.applyConfig(this.config, this.generation, reason)
    // Links may have been re-created (new interface indexes): the services rebind.
    if (reason !== 'start') this.notify()
  }

  private async applyConfig(config: RouterConfig, generation: number, reason: string): Promise<ApplyReport> {
    if (this.facts === undefined) this.facts = await readFacts(this.opts.runner, this.opts.controlPorts)
    // From the rendering in force when there is one: an item edit then renders only what it touches.
    const rendered = renderRouter(config, this.facts, this.role, this.runtime, this.applied?.rendered)
    const started = performance.now()
    try {
      const { state, report } = await applyRendered(this.stages, this.stageContext(), this.applied, rendered)
      const ms = performance.now() - started
      this.applied = state
      this.appliedGeneration = generation
      this.lastError = null
      this.retryMs = 1000
      this.lastApply = { ...report, at: new Date().toISOString() }
      for (const [name, ms] of Object.entries(report.durationsMs)) {
        this.subsystems[name] = { appliedGeneration: generation, lastError: null, lastDurationMs: Math.round(ms) }
      }
      this.opts.metrics.inc('applies_total', 'Applies to the kernel', { kind: report.kind, reason })
      this.opts.metrics.observe('apply_seconds', 'Time to apply a change to the kernel', ms / 1000, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
      this.opts.metrics.set('applied_generation', 'Generation in force in the kernel', generation)
      this.opts.metrics.set('iptables_rules', 'Rules in owned chains', rendered.tables.reduce((n, t) => n + [...t.chains.values()].reduce((m, r) => m + r.length, 0), 0))
      this.log.info({ generation, reason, kind: report.kind, chains: report.chainsWritten, rules: report.rulesWritten, netOps: report.netOps, ms: Math.round(ms) }, 'applied')
      if (report.rulesWritten >= LARGE_APPLY_RULES) this.opts.memory?.soon()
      return report
    } catch (err) {
      this.opts.metrics.inc('apply_failures_total', 'Applies the kernel refused or that failed', { reason })
      const rejected = errorCode(err) === 'ERR_KERNEL_REJECTED' ? (err as RestoreRejectedError) : undefined
      this.lastError = {
        code: errorCode(err) ?? 'ERR_INTERNAL', message: (err as Error).message, at: new Date().toISOString(),
        ...(rejected ? { line: rejected.line } : {}),
      }
      const tool = rejected?.tool ?? (err as { file?: string }).file ?? ''
      const failed = this.stages.find((stage) => stage.status && stage.owns(tool))
      if (failed !== undefined) (this.subsystems[failed.name] as SubsystemStatus).lastError = this.lastError
      this.log.error({ err, generation, reason }, 'apply failed; previous state kept')
      if (rejected) {
        writePostMortem(this.opts.stateDir, rejected)
      } else {
        // The kernel's state is unknown (e.g. a tool crashed): the next apply replaces whole tables.
        this.applied = undefined
        this.scheduleCheck(this.retryMs)
        this.retryMs = Math.min(this.retryMs * 2, 60_000)
      }
      throw err
    }
  }

  private stageContext(): StageContext {
    return { runner: this.opts.runner, log: this.log }
  }

  private scheduleCheck(ms: number): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.checkDrift()
        .catch((err: unknown) => this.log.error({ err }, 'drift check failed'))
        .finally(() => { if (this.opts.driftCheckMs > 0 && this.timer === undefined) this.scheduleCheck(this.opts.driftCheckMs) })
    }, ms)
    this.timer.unref()
  }

  /**
   * Queues an edit from the API, or refuses it at once (ERR_BUSY, 429) when `maxQueuedEdits`
   * edits are already waiting: a client that pushes faster than the kernel takes changes gets
   * told so, instead of growing the queue (and the bodies it holds) without bound.
   */
  private admitEdit<T>(task: () => Promise<T>): Promise<T> {
    const bound = this.opts.maxQueuedEdits ?? DEFAULT_MAX_QUEUED_EDITS
    if (this.queuedEdits >= bound) {
      this.opts.metrics.inc('api_busy_total', 'Edits refused because the edit queue was full')
      return Promise.reject(new BusyError(`${this.queuedEdits} edits are already queued; retry later`))
    }
    this.queuedEdits++
    return this.exclusive(task).finally(() => { this.queuedEdits-- })
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => undefined)
    return run
  }
}
