import { guestNetOf, type RenderContext } from '../context.ts'
import { CHAIN, METADATA_ADDRESS, ownedChain } from '../names.ts'
import { comment, ruleArgs } from '../rule-line.ts'
import type { IpSetSpec } from '../ipset.ts'
import type { NLoadBalancer } from '../../model/normalize.ts'
import { forwardParts } from './item-parts.ts'
import { lbRuntime, loadBalancerParts, writeLoadBalancer, writeLoadBalancerSourceNat } from './load-balancer.ts'
import { indexPortRules, writePortIndex, type PortIndex } from './port-buckets.ts'
import { TableBuilder, type RenderedTable } from './table.ts'

/**
 * nat: static NAT, port forwarding, hairpin and source NAT.
 *
 *   PREROUTING  → SVM-PREROUTING  -i <guest dev> -d 169.254.169.254 tcp 80 → DNAT <router ip>:80 (metadata)
 *                                 -d <public ip> → SVM-DNAT-<ip>   (static NAT, or port forwards and load balancers in port buckets)
 *   SVM-LB-<id>, SVM-LBB-<backend>   each mode-l4 load balancer (load-balancer.ts)
 *   OUTPUT      → SVM-OUTPUT      the same dispatch for the router's own connections
 *   POSTROUTING → SVM-POSTROUTING
 *      0. load balancers with sourceNat: to their backends from the router's guest address
 *      1. hairpin: guest → own public IP → guest is SNATed to the router's guest IP so replies come back through us
 *      2. static NAT: -s <vm> -o <its public dev> → SNAT <public ip>
 *      3. source NAT: -s <guest net> -o <public dev> → SNAT <that interface's source-NAT IP>
 */

/** One public IP's destination NAT: its chain's content, kept so an edit of its forwards can be rendered alone (render/edit.ts). */
export interface DnatBlock {
  /** The static NAT's rule, first in the chain. */
  staticLine: string | undefined
  forwards: PortIndex
}

/** Pure. The chain a public IP's destination NAT lives in. */
export function dnatChain(ip: string): string {
  return ownedChain('DNAT', ip)
}

/** Pure apart from writing into `tb`. Declares the IP's destination NAT chain and writes its block. */
export function writeDnatBlock(tb: TableBuilder, ip: string, block: DnatBlock): void {
  const chain = dnatChain(ip)
  const rules = tb.chain(chain, `destination NAT ${ip}`)
  if (block.staticLine !== undefined) rules.push(block.staticLine)
  writePortIndex(tb, chain, block.forwards)
}

/**
 * Pure. A dhcpsrvr's nat table: only the metadata address, reached through the option-121 route
 * its DHCP hands out (the guests' gateway is not this appliance).
 */
export function renderMetadataNat(ctx: RenderContext): RenderedTable {
  const tb = new TableBuilder('nat')
  tb.jumpFrom('PREROUTING', CHAIN.natPrerouting)
  tb.add(CHAIN.canary, '-j', 'RETURN')
  tb.chain(CHAIN.natPrerouting, 'metadata address')
  writeMetadataDnat(tb, ctx)
  return tb.table
}

/** Pure (`blocks`, when given, receives each public IP's DnatBlock). */
export function renderNat(ctx: RenderContext, sets: IpSetSpec[], blocks?: Map<string, DnatBlock>): RenderedTable {
  const tb = new TableBuilder('nat')
  tb.jumpFrom('PREROUTING', CHAIN.natPrerouting)
  tb.jumpFrom('OUTPUT', CHAIN.natOutput)
  tb.jumpFrom('POSTROUTING', CHAIN.natPostrouting)
  tb.add(CHAIN.canary, '-j', 'RETURN')
  tb.chain(CHAIN.natPrerouting, 'destination NAT dispatch')
  writeMetadataDnat(tb, ctx)
  tb.chain(CHAIN.natOutput)
  tb.chain(CHAIN.natPostrouting, 'source NAT')

  const staticByIp = new Map(ctx.cfg.staticNats.map((s) => [s.publicIp, s]))
  const balancers: NLoadBalancer[] = []
  for (const ip of ctx.cfg.publicIps) {
    const staticNat = staticByIp.get(ip.ip)
    const forwards = ctx.forwardsByIp.get(ip.ip) ?? []
    const l4 = (ctx.loadBalancersByIp.get(ip.ip) ?? []).filter((r) => r.mode === 'l4')
    if (staticNat === undefined && forwards.length === 0 && l4.length === 0) continue
    for (const r of l4) balancers.push(r)
    const chain = dnatChain(ip.ip)
    tb.add(CHAIN.natPrerouting, '-d', `${ip.ip}/32`, '-j', chain)
    tb.add(CHAIN.natOutput, '-d', `${ip.ip}/32`, '-j', chain)
    const block: DnatBlock = {
      staticLine: staticNat === undefined ? undefined : ruleArgs(...comment('snat', staticNat.id), '-j', 'DNAT', '--to-destination', staticNat.privateIp),
      forwards: indexPortRules('DNB', ip.ip, [
        ...forwards.map((r) => {
          const parts = forwardParts(r)
          for (const s of parts.sets) sets.push(s)
          return { protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line: parts.dnatLine }
        }),
        ...l4.map((r) => {
          const parts = loadBalancerParts(r)
          for (const s of parts.sets) sets.push(s)
          return { protocol: r.protocol, start: r.publicStart, end: r.publicEnd, line: parts.dispatchLine as string }
        }),
      ]),
    }
    writeDnatBlock(tb, ip.ip, block)
    blocks?.set(ip.ip, block)
  }

  const runtime = lbRuntime(ctx)
  for (const r of balancers) writeLoadBalancer(tb, r, runtime, sets)

  const post = CHAIN.natPostrouting
  writeLoadBalancerSourceNat(tb, ctx)
  for (const g of ctx.guestNets) {
    tb.add(post, '-s', g.net.cidr, '-d', g.net.cidr, '-o', g.dev, '-m', 'conntrack', '--ctstate', 'DNAT',
      ...comment('hairpin', g.net.id), '-j', 'SNAT', '--to-source', g.net.routerIp)
  }
  for (const s of ctx.cfg.staticNats) {
    const pub = ctx.publicInterfaceOfIp.get(s.publicIp)
    if (pub === undefined || guestNetOf(ctx, s.privateIp) === undefined) continue
    tb.add(post, '-s', `${s.privateIp}/32`, '-o', pub.dev, ...comment('snat', s.id), '-j', 'SNAT', '--to-source', s.publicIp)
  }
  for (const pub of ctx.publicInterfaces) {
    if (pub.sourceNatIp === undefined) continue
    for (const g of ctx.guestNets) {
      tb.add(post, '-s', g.net.cidr, '-o', pub.dev, ...comment('srcnat', pub.id), '-j', 'SNAT', '--to-source', pub.sourceNatIp)
    }
  }
  return tb.table
}

/**
 * The well-known metadata address, from each guest link to that network's router IP. Not an
 * address of ours: the control NIC already holds 169.254.0.0/16, and holding it on a guest link
 * too would make the router answer ARP for it there.
 */
function writeMetadataDnat(tb: TableBuilder, ctx: RenderContext): void {
  for (const g of ctx.guestNets) {
    if (!g.net.metadata) continue
    tb.add(CHAIN.natPrerouting, '-i', g.dev, '-d', `${METADATA_ADDRESS}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', '80',
      ...comment('metadata', g.net.id), '-j', 'DNAT', '--to-destination', `${g.net.routerIp}:80`)
  }
}
