import type { RenderContext } from '../context.ts'
import { CHAIN, ownedChain } from '../names.ts'
import { comment } from '../rule-line.ts'
import type { IpSetSpec } from '../ipset.ts'
import { cidrListArgs, protocolArgs } from './match.ts'
import { groupBy } from '../group.ts'
import { METADATA_PORTS, metadataChain, writeMetadataClients } from './metadata-clients.ts'
import { firewallParts } from './item-parts.ts'
import { renderManagementOutput } from './management-output.ts'
import { TableBuilder, type RenderedTable } from './table.ts'

/**
 * filter: what reaches the router itself, and what it forwards. INPUT and FORWARD drop by
 * policy; each starts with the established fast path so a flow's packets cost two rules.
 *
 *   INPUT → SVM-INPUT
 *      established ACCEPT, lo ACCEPT, invalid DROP, icmp ACCEPT,
 *      control dev: control ports ACCEPT,
 *      guest dev → SVM-GIN-<net>: DHCP; DNS from the guest network to its router IP;
 *                  metadata/password (80, 443, 8080) → SVM-MD-<net>: only the address + MAC pairs of its DHCP hosts,
 *      -d <public ip> ACCEPT   (router: mangle SVM-FWI already dropped whatever no rule opened)
 *      -d <public ip> → SVM-FWI-<ip>: its firewall rules, ACCEPT   (hostnet: nothing is forwarded, so INPUT is the one filter)
 *   FORWARD → SVM-FORWARD
 *      established ACCEPT, invalid DROP, DNAT ACCEPT (port forwards / static NAT, filtered in mangle),
 *      guest dev → SVM-EGR-<net>: egress rules (the opposite action of the default), then the default
 *   OUTPUT → SVM-OUTPUT (hostnet): see management-output.ts
 */

/** Which parts of filter a role owns. */
export interface FilterScope {
  /** routerd forwards for its guests (role router), and so owns FORWARD too. */
  forward: boolean
  /**
   * How a public IP's own ports open: `mangle` when mangle's SVM-FWI already dropped what no
   * firewall rule opened (router), `rules` when the firewall rules are matched here (hostnet).
   */
  publicInput: 'mangle' | 'rules'
  /** The appliance's own connections out of its management links are filtered (hostnet). */
  output: boolean
}

export const ROUTER_FILTER: FilterScope = { forward: true, publicInput: 'mangle', output: false }
export const DHCPSRVR_FILTER: FilterScope = { forward: false, publicInput: 'mangle', output: false }
export const HOSTNET_FILTER: FilterScope = { forward: false, publicInput: 'rules', output: true }

/** Pure. The filter table of a role (`scope`). */
export function renderFilter(ctx: RenderContext, sets: IpSetSpec[], scope: FilterScope): RenderedTable {
  const forwards = scope.forward
  const tb = new TableBuilder('filter')
  tb.policy('INPUT', 'DROP')
  if (forwards) tb.policy('FORWARD', 'DROP')
  tb.jumpFrom('INPUT', CHAIN.filterInput)
  if (forwards) tb.jumpFrom('FORWARD', CHAIN.filterForward)
  tb.add(CHAIN.canary, '-j', 'RETURN')

  const input = CHAIN.filterInput
  tb.chain(input, 'input')
  tb.add(input, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT')
  tb.add(input, '-i', 'lo', '-j', 'ACCEPT')
  tb.add(input, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP')
  tb.add(input, '-p', 'icmp', '-j', 'ACCEPT')
  const controlPorts = [...new Set(ctx.facts.controlPorts)].sort((a, b) => a - b)
  if (controlPorts.length > 0) {
    for (const dev of ctx.controlDevs) {
      tb.add(input, '-i', dev, '-p', 'tcp', '-m', 'multiport', '--dports', controlPorts.join(','), ...comment('control'), '-j', 'ACCEPT')
    }
  }
  const hostsByNetwork = groupBy(ctx.cfg.dhcpHosts, (h) => h.network)
  for (const g of ctx.guestNets) {
    const chain = ownedChain('GIN', g.net.id)
    tb.add(input, '-i', g.dev, '-j', chain)
    tb.chain(chain, `router services for ${g.net.id}`)
    tb.add(chain, '-p', 'udp', '-m', 'udp', '--dport', '67', '-j', 'ACCEPT')
    // Only to this network's own router address: clients of one network never use up the
    // connection slots or rate budget of another network's services.
    const self = `${g.net.routerIp}/32`
    tb.add(chain, '-s', g.net.cidr, '-d', self, '-p', 'udp', '-m', 'udp', '--dport', '53', '-j', 'ACCEPT')
    tb.add(chain, '-s', g.net.cidr, '-d', self, '-p', 'tcp', '-m', 'tcp', '--dport', '53', '-j', 'ACCEPT')
    if (g.net.metadata) {
      tb.add(chain, '-s', g.net.cidr, '-d', self, '-p', 'tcp', '-m', 'multiport', '--dports', METADATA_PORTS, '-j', metadataChain(g.net.id))
      writeMetadataClients(tb, g.net.id, hostsByNetwork.get(g.net.id) ?? [])
    }
  }
  for (const ip of ctx.cfg.publicIps) {
    if (scope.publicInput === 'mangle') {
      tb.add(input, '-d', `${ip.ip}/32`, '-j', 'ACCEPT')
      continue
    }
    const rules = ctx.firewallByIp.get(ip.ip) ?? []
    if (rules.length === 0) continue
    const chain = ownedChain('FWI', ip.ip)
    tb.add(input, '-d', `${ip.ip}/32`, '-j', chain)
    const lines = tb.chain(chain, `ports open on ${ip.ip}`)
    for (const r of rules) {
      const parts = firewallParts(r)
      for (const set of parts.sets) sets.push(set)
      lines.push(parts.line)
    }
  }
  if (scope.output) renderManagementOutput(tb, ctx)
  if (!forwards) return tb.table

  const forward = CHAIN.filterForward
  tb.chain(forward, 'forward')
  tb.add(forward, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT')
  tb.add(forward, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP')
  tb.add(forward, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT')
  const egressByNetwork = groupBy(ctx.cfg.egressRules, (r) => r.network)
  for (const g of ctx.guestNets) {
    const chain = ownedChain('EGR', g.net.id)
    tb.add(forward, '-i', g.dev, '-j', chain)
    tb.chain(chain, `egress ${g.net.id} (default ${g.net.egressDefault})`)
    tb.add(chain, '-o', g.dev, '-j', 'ACCEPT')
    const ruleAction = g.net.egressDefault === 'allow' ? 'DROP' : 'ACCEPT'
    for (const r of egressByNetwork.get(g.net.id) ?? []) {
      tb.add(chain,
        ...cidrListArgs(r.sourceCidrs, 'src', `egs:${r.id}`, sets),
        ...cidrListArgs(r.destinationCidrs, 'dst', `egd:${r.id}`, sets),
        ...protocolArgs(r), ...comment('egress', r.id), '-j', ruleAction)
    }
    tb.add(chain, ...comment('egress-default', g.net.id), '-j', g.net.egressDefault === 'allow' ? 'ACCEPT' : 'DROP')
  }
  return tb.table
}
