import type { RouterConfig } from '../../model/config.ts'
import type { RouterService, ServiceContext, ServiceEntry } from '../service.ts'
import { DEFAULT_RATE_QPS, DnsServer, type DnsNetwork } from './server.ts'
import { compileZones } from './zone.ts'

/** DNS on each guest network's router address: the network's own names, the rest forwarded. */
class DnsService implements RouterService {
  private readonly server: DnsServer

  constructor(ctx: ServiceContext) {
    this.server = new DnsServer(ctx.log, ctx.metrics)
  }

  update(config: RouterConfig, _facts: unknown, generation: number): Promise<void> {
    const networks = new Map(config.guestNetworks.map((n) => [n.id, n]))
    const dns: DnsNetwork[] = compileZones(config, generation).map((zone) => {
      const n = networks.get(zone.networkId)
      return { zone, upstreams: [...(n?.dnsServers ?? [])], rateQps: n?.dns?.rateLimitQps ?? DEFAULT_RATE_QPS }
    })
    return this.server.update(dns)
  }

  close(): Promise<void> {
    return this.server.close()
  }
}

export const dnsService: ServiceEntry = {
  name: 'dns',
  collections: ['interfaces', 'guestNetworks', 'dhcpHosts'],
  create: (ctx) => new DnsService(ctx),
}
