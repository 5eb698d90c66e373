import type { FastifyInstance } from 'fastify'
import type { Logger } from '../../core/log.ts'
import type { CollectionName, RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import { dhcpService } from './dhcp/service.ts'
import { dnsService } from './dns/service.ts'
import type { RouterService, ServiceContext, ServiceEntry } from './service.ts'

/** Every in-process service routerd has, in the order they are updated. */
const SERVICES: readonly ServiceEntry[] = [dhcpService, dnsService]

/**
 * The services routerd runs for its guest networks. They follow the config in force: the
 * engine calls onConfig after every change, and updates run one after another.
 */
export class GuestServices {
  private readonly running: { entry: ServiceEntry; service: RouterService }[]
  private updating: Promise<void> = Promise.resolve()
  private readonly log: Logger

  constructor(ctx: ServiceContext, entries: readonly ServiceEntry[] = SERVICES) {
    this.log = ctx.log.child({ component: 'services' })
    this.running = entries.map((entry) => ({ entry, service: entry.create(ctx) }))
  }

  async open(): Promise<void> {
    for (const { service } of this.running) await service.open?.()
  }

  /** The collections some service reads: an item edit of another one changes no service. */
  get collections(): ReadonlySet<CollectionName> {
    return new Set(this.running.flatMap(({ entry }) => entry.collections))
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
