import type { RenderContext } from '../context.ts'
import { CHAIN, ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import type { TableBuilder } from './table.ts'

/**
 * filter OUTPUT of a host-network appliance (the secondary storage VM): its downloads must not
 * use the management network, where they could reach the cloud's own web services, except for
 * the internal sites the operator lists (CloudStack's allowedInternalSites).
 *
 *   OUTPUT → SVM-OUTPUT
 *      -o <management dev> tcp dports 80,443 ctstate NEW → SVM-MGO-<interface>:
 *          -d <internal site> ACCEPT        (each site, commented svm:site:<id>)
 *          REJECT, commented svm:mgmt-web:<interface>   (the client fails at once, no timeout)
 *
 * Only new connections: replies and everything else the appliance sends (DNS, NFS, the
 * management server's agent port) are not this rule's business.
 */
export const MANAGEMENT_WEB_PORTS = '80,443'

/** Pure. Adds the OUTPUT jump and chains to `tb` (nothing when there is no management link). */
export function renderManagementOutput(tb: TableBuilder, ctx: RenderContext): void {
  if (ctx.managementInterfaces.length === 0) return
  tb.jumpFrom('OUTPUT', CHAIN.filterOutput)
  tb.chain(CHAIN.filterOutput, 'output')
  for (const m of ctx.managementInterfaces) {
    const chain = ownedChain('MGO', m.id)
    tb.add(CHAIN.filterOutput, '-o', m.dev, '-p', 'tcp', '-m', 'multiport', '--dports', MANAGEMENT_WEB_PORTS, '-m', 'conntrack', '--ctstate', 'NEW', '-j', chain)
    tb.chain(chain, `web out of ${m.id}: internal sites only`)
    for (const site of ctx.cfg.internalSites) tb.add(chain, '-d', site.cidr, ...comment('site', site.id), '-j', 'ACCEPT')
    // Spelled out: iptables-save prints the default, and drift compares with what it prints.
    tb.add(chain, ...comment('mgmt-web', m.id), '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable')
  }
}
