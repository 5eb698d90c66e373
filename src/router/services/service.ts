import type { FastifyInstance } from 'fastify'
import type { Logger } from '../../core/log.ts'
import type { Metrics } from '../../core/metrics.ts'
import type { CollectionName, RouterConfig } from '../model/config.ts'
import type { EditFacts, HostFacts } from '../model/facts.ts'

/**
 * A service routerd runs in-process for its guests (DHCP, DNS, and the next ones: metadata,
 * load-balancer health). Each is one entry of the list in services/index.ts: a new service is
 * a new folder and a new entry, not an edit of the engine or the API.
 */
export interface RouterService {
  /** Loads what it keeps across restarts (e.g. leases), before the first update. */
  open?(): Promise<void>
  /** Serves exactly what this config says, from now on. Updates of one service never overlap. */
  update(config: RouterConfig, facts: HostFacts, generation: number): Promise<void>
  /** What config edits are checked against that this service keeps (e.g. the stored user data). */
  editFacts?(): Partial<EditFacts>
  /** Its own API routes (e.g. GET /v1/dhcp/leases), added to routerd's control API. */
  routes?(app: FastifyInstance): void
  close(): Promise<void>
}

export interface ServiceContext {
  stateDir: string
  log: Logger
  metrics: Metrics
  /**
   * Reports what the service learnt at run time (e.g. backends' health) under its own name: the
   * engine re-applies the config in force with it (model/runtime.ts).
   */
  reportRuntime(value: unknown): Promise<void>
}

export interface ServiceEntry {
  name: string
  /** The collections it reads: an item edit elsewhere does not wake it. */
  collections: readonly CollectionName[]
  create(ctx: ServiceContext): RouterService
}
