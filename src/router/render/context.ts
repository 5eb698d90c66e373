import type { HostFacts } from '../model/facts.ts'
import { NO_RUNTIME_FACTS, type RuntimeFacts } from '../model/runtime.ts'
import { resolveLinkName } from '../model/facts.ts'
import { cidrContains, parseCidr, parseIpv4 } from '../../core/ipv4.ts'
import type { NFirewallRule, NGuestNetwork, NLoadBalancer, NormalizedConfig, NPortForward, NPublicIp } from '../model/normalize.ts'
import { groupBy } from './group.ts'
import { markOf } from './names.ts'

/**
 * The lookups every renderer needs, computed once from a normalized, checked config and the
 * host facts. Pure.
 */

export interface PublicInterface {
  id: string
  dev: string
  /** Connection mark and routing table number of this interface. */
  mark: number
  gateway?: string
  sourceNatIp?: string
  ips: NPublicIp[]
}

/** A link to the cloud's management network (hostnet), with the gateway its internal sites are routed through. */
export interface ManagementInterface {
  id: string
  dev: string
  gateway?: string
}

export interface GuestNet {
  net: NGuestNetwork
  dev: string
  prefix: number
}

export interface RenderContext {
  cfg: NormalizedConfig
  facts: HostFacts
  /** Facts learnt at run time (model/runtime.ts), by the service that reported them. */
  runtime: RuntimeFacts
  devOf: Map<string, string>
  publicInterfaces: PublicInterface[]
  publicInterfaceOfIp: Map<string, PublicInterface>
  guestNets: GuestNet[]
  controlDevs: string[]
  managementInterfaces: ManagementInterface[]
  defaultInterface?: PublicInterface
  forwardsByIp: Map<string, NPortForward[]>
  firewallByIp: Map<string, NFirewallRule[]>
  /** Load balancers of every mode, by public IP, each IP's by id. */
  loadBalancersByIp: Map<string, NLoadBalancer[]>
}

/** Pure. Builds the context; interfaces absent from the host are left out (check.ts reports them). */
export function buildContext(cfg: NormalizedConfig, facts: HostFacts, runtime: RuntimeFacts = NO_RUNTIME_FACTS): RenderContext {
  const devOf = new Map<string, string>()
  for (const iface of cfg.interfaces) {
    const dev = resolveLinkName(facts, iface)
    if (dev !== undefined) devOf.set(iface.id, dev)
  }
  const publicInterfaces: PublicInterface[] = []
  const publicInterfaceOfIp = new Map<string, PublicInterface>()
  cfg.interfaces.filter((i) => i.role === 'public').forEach((iface, k) => {
    const dev = devOf.get(iface.id)
    if (dev === undefined) return
    const ips = cfg.publicIps.filter((p) => p.interface === iface.id)
    const pub: PublicInterface = { id: iface.id, dev, mark: markOf(k), ips }
    if (iface.gateway !== undefined) pub.gateway = iface.gateway
    const snat = ips.find((p) => p.sourceNat)
    if (snat !== undefined) pub.sourceNatIp = snat.ip
    publicInterfaces.push(pub)
    for (const p of ips) publicInterfaceOfIp.set(p.ip, pub)
  })
  const guestNets: GuestNet[] = []
  for (const net of cfg.guestNetworks) {
    const dev = devOf.get(net.interface)
    const cidr = parseCidr(net.cidr)
    if (dev !== undefined && cidr !== undefined) guestNets.push({ net, dev, prefix: cidr.prefix })
  }
  const controlDevs = cfg.interfaces.filter((i) => i.role === 'control').flatMap((i) => devOf.get(i.id) ?? [])
  const managementInterfaces = cfg.interfaces.filter((i) => i.role === 'management').flatMap((i) => {
    const dev = devOf.get(i.id)
    if (dev === undefined) return []
    return [i.gateway === undefined ? { id: i.id, dev } : { id: i.id, dev, gateway: i.gateway }]
  })
  const ctx: RenderContext = {
    cfg, facts, runtime, devOf, publicInterfaces, publicInterfaceOfIp, guestNets, controlDevs, managementInterfaces,
    forwardsByIp: groupBy(cfg.portForwards, (r) => r.publicIp),
    firewallByIp: groupBy(cfg.firewallRules, (r) => r.publicIp),
    loadBalancersByIp: groupBy(cfg.loadBalancers, (r) => r.publicIp),
  }
  const chosen = cfg.defaultInterface !== undefined
    ? publicInterfaces.find((p) => p.id === cfg.defaultInterface)
    : publicInterfaces.find((p) => p.gateway !== undefined)
  if (chosen !== undefined) ctx.defaultInterface = chosen
  return ctx
}

/** Pure. The guest network holding `ip`, if any. */
export function guestNetOf(ctx: RenderContext, ip: string): GuestNet | undefined {
  const address = parseIpv4(ip)
  if (address === undefined) return undefined
  return ctx.guestNets.find((g) => {
    const cidr = parseCidr(g.net.cidr)
    return cidr !== undefined && cidrContains(cidr, address)
  })
}
