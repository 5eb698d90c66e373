import type { Logger } from 'pino'
import { compileScopes } from '../dhcp/scope.ts'
import type { Metrics } from '../metrics.ts'
import type { RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import { DhcpServer, type DhcpLink } from './dhcp-server.ts'

/**
 * The services routerd runs in-process for its guest networks. They follow the config in force:
 * the engine calls onConfig after every change, and updates run one after another.
 */
export class GuestServices {
  readonly dhcp: DhcpServer
  private updating: Promise<void> = Promise.resolve()
  private readonly log: Logger

  constructor(stateDir: string, log: Logger, metrics: Metrics) {
    this.log = log.child({ component: 'services' })
    this.dhcp = new DhcpServer(stateDir, log, metrics)
  }

  async open(): Promise<void> {
    await this.dhcp.open()
  }

  onConfig(config: RouterConfig, facts: HostFacts): void {
    const links: DhcpLink[] = []
    for (const scope of compileScopes(config, facts)) {
      const ifindex = facts.links.find((l) => l.name === scope.link)?.ifindex
      if (ifindex !== undefined) links.push({ scope, ifindex })
    }
    this.updating = this.updating
      .then(() => this.dhcp.update(links))
      .catch((err: unknown) => this.log.error({ err }, 'DHCP update failed'))
  }

  /** Resolves once every update asked for so far has run. */
  settled(): Promise<void> {
    return this.updating
  }

  async close(): Promise<void> {
    await this.updating
    await this.dhcp.close()
  }
}
