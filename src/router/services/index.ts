import type { Logger } from 'pino'
import { compileScopes } from './dhcp/scope.ts'
import { compileZones } from './dns/zone.ts'
import type { Metrics } from '../../core/metrics.ts'
import type { RouterConfig } from '../model/config.ts'
import type { HostFacts } from '../model/facts.ts'
import { DhcpServer, type DhcpLink } from './dhcp/server.ts'
import { DEFAULT_RATE_QPS, DnsServer, type DnsNetwork } from './dns/server.ts'

/**
 * The services routerd runs in-process for its guest networks. They follow the config in force:
 * the engine calls onConfig after every change, and updates run one after another.
 */
export class GuestServices {
  readonly dhcp: DhcpServer
  readonly dns: DnsServer
  private updating: Promise<void> = Promise.resolve()
  private readonly log: Logger

  constructor(stateDir: string, log: Logger, metrics: Metrics) {
    this.log = log.child({ component: 'services' })
    this.dhcp = new DhcpServer(stateDir, log, metrics)
    this.dns = new DnsServer(log, metrics)
  }

  async open(): Promise<void> {
    await this.dhcp.open()
  }

  onConfig(config: RouterConfig, facts: HostFacts, generation: number): void {
    const links: DhcpLink[] = []
    for (const scope of compileScopes(config, facts)) {
      const ifindex = facts.links.find((l) => l.name === scope.link)?.ifindex
      if (ifindex !== undefined) links.push({ scope, ifindex })
    }
    const networks = new Map(config.guestNetworks.map((n) => [n.id, n]))
    const dns: DnsNetwork[] = compileZones(config, generation).map((zone) => {
      const n = networks.get(zone.networkId)
      return { zone, upstreams: [...(n?.dnsServers ?? [])], rateQps: n?.dns?.rateLimitQps ?? DEFAULT_RATE_QPS }
    })
    this.updating = this.updating
      .then(() => this.dhcp.update(links))
      .catch((err: unknown) => this.log.error({ err }, 'DHCP update failed'))
      .then(() => this.dns.update(dns))
      .catch((err: unknown) => this.log.error({ err }, 'DNS update failed'))
  }

  /** Resolves once every update asked for so far has run. */
  settled(): Promise<void> {
    return this.updating
  }

  async close(): Promise<void> {
    await this.updating
    await Promise.all([this.dhcp.close(), this.dns.close()])
  }
}
