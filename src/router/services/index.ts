import type { FastifyInstance } from 'fastify'
import type { Logger } from '../../core/log.ts'
import type { CollectionName, RouterConfig } from '../model/config.ts'
import type { EditFacts, HostFacts } from '../model/facts.ts'
import type { RouterService, ServiceContext, ServiceEntry } from './service.ts'

/**
 * The services routerd runs for its guest networks (its role's list, router/roles.ts). They
 * follow the config in force: the engine calls onConfig after every change, and updates run one
 * after another.
 */
export class GuestServices {
  private readonly running: { entry: ServiceEntry; service: RouterService }[]
  private updating: Promise<void> = Promise.resolve()
  private readonly log: Logger

  /** `setRuntime`: where a service's run-time facts go (the engine's setRuntime), under the service's name. */
  constructor(ctx: Omit<ServiceContext, 'reportRuntime'> & { setRuntime: (name: string, value: unknown) => Promise<unknown> }, entries: readonly ServiceEntry[]) {
    this.log = ctx.log.child({ component: 'services' })
    const { setRuntime, ...shared } = ctx
    this.running = entries.map((entry) => ({
      entry,
      service: entry.create({ ...shared, reportRuntime: async (value) => { await setRuntime(entry.name, value) } }),
    }))
  }

  async open(): Promise<void> {
    for (const { service } of this.running) await service.open?.()
  }

  /** `edited`: the one collection an item edit changed (none: anything may have changed). */
  onConfig(config: RouterConfig, facts: HostFacts, generation: number, edited?: CollectionName): void {
    for (const { entry, service } of this.running) {
      if (edited !== undefined && !entry.collections.includes(edited)) continue
      this.updating = this.updating
        .then(() => service.update(config, facts, generation))
        .catch((err: unknown) => this.log.error({ err, service: entry.name }, 'service update failed'))
    }
  }

  /** What the services keep that config edits are checked against (engine option editFacts). */
  editFacts(): EditFacts {
    return Object.assign({}, ...this.running.map(({ service }) => service.editFacts?.() ?? {})) as EditFacts
  }

  routes(app: FastifyInstance): void {
    for (const { service } of this.running) service.routes?.(app)
  }

  /** Resolves once every update asked for so far has run. */
  settled(): Promise<void> {
    return this.updating
  }

  async close(): Promise<void> {
    await this.updating
    await Promise.all(this.running.map(({ service }) => service.close()))
  }
}
