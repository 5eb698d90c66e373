import type { FastifyInstance } from 'fastify'
import { ErrorResponse, LeasesResponse } from '../../api/contract.ts'
import type { RouterConfig } from '../../model/config.ts'
import type { HostFacts } from '../../model/facts.ts'
import type { RouterService, ServiceContext, ServiceEntry } from '../service.ts'
import { compileScopes } from './scope.ts'
import { DhcpServer, type DhcpLink } from './server.ts'

/** DHCP for every guest network with DHCP on, on the link the network's interface resolves to. */
class DhcpService implements RouterService {
  private readonly server: DhcpServer

  constructor(ctx: ServiceContext) {
    this.server = new DhcpServer(ctx.stateDir, ctx.log, ctx.metrics)
  }

  open(): Promise<void> {
    return this.server.open()
  }

  update(config: RouterConfig, facts: HostFacts): Promise<void> {
    const links: DhcpLink[] = []
    for (const scope of compileScopes(config, facts)) {
      const ifindex = facts.links.find((l) => l.name === scope.link)?.ifindex
      if (ifindex !== undefined) links.push({ scope, ifindex })
    }
    return this.server.update(links)
  }

  routes(app: FastifyInstance): void {
    app.get('/v1/dhcp/leases', { schema: { response: { 200: LeasesResponse, 401: ErrorResponse } } }, async () => ({ leases: this.server.leases() }))
  }

  close(): Promise<void> {
    return this.server.close()
  }
}

export const dhcpService: ServiceEntry = {
  name: 'dhcp',
  collections: ['interfaces', 'guestNetworks', 'dhcpHosts'],
  create: (ctx) => new DhcpService(ctx),
}
