import { cidrContains, cidrsOverlap, formatNetwork, parseCidr, type Cidr } from '../../core/ipv4.ts'
import type { RenderContext } from './context.ts'
import { MARK_MASK } from './names.ts'

/**
 * Desired links, addresses, routes and policy rules as keyed sets (netifd vlist style): the
 * planner diffs them against what `ip -json` reports and emits only the differences.
 *
 * Policy routing, so a reply leaves by the interface its connection came in on:
 *   1000       lookup main suppress_prefixlength 0   connected and static routes win over any default
 *   1100 + k   fwmark <mark k> lookup <table k>      connections marked in mangle by their public interface
 *   1200 + k   from <public ip of k> lookup <table k> the router's own replies from that interface's IPs
 *   table k:   default via <gateway k> dev <dev k>
 */

export interface DesiredLink { dev: string; mtu?: number }
export interface DesiredAddress { dev: string; cidr: string }
export interface DesiredRoute { table: number | 'main'; dst: string; via?: string; dev?: string }
export interface DesiredRule { priority: number; selector: string[]; table: number | 'main'; suppressPrefixLength?: number }

export interface DesiredNet {
  links: DesiredLink[]
  addresses: DesiredAddress[]
  routes: DesiredRoute[]
  rules: DesiredRule[]
  /** Links whose IPv4 addresses we own: anything on them not desired is removed (link-local left alone). */
  managedDevs: string[]
}

const RULE_PRIORITY = { suppressMain: 1000, fwmark: 1100, fromIp: 1200 } as const

/** Pure. Renders the desired network state. */
export function renderNet(ctx: RenderContext): DesiredNet {
  const links: DesiredLink[] = []
  const addresses: DesiredAddress[] = []
  for (const iface of ctx.cfg.interfaces) {
    const dev = ctx.devOf.get(iface.id)
    if (dev === undefined) continue
    links.push(iface.mtu === undefined ? { dev } : { dev, mtu: iface.mtu })
    for (const a of iface.addresses) addresses.push({ dev, cidr: a })
  }
  // The source-NAT IP goes first so it becomes the interface's primary address.
  const publicIps = [...ctx.cfg.publicIps].sort((a, b) => Number(b.sourceNat) - Number(a.sourceNat))
  for (const p of publicIps) {
    const pub = ctx.publicInterfaceOfIp.get(p.ip)
    if (pub !== undefined) addresses.push({ dev: pub.dev, cidr: `${p.ip}/${p.prefixLength}` })
  }
  for (const g of ctx.guestNets) addresses.push({ dev: g.dev, cidr: `${g.net.routerIp}/${g.prefix}` })

  const routes: DesiredRoute[] = []
  const rules: DesiredRule[] = []
  const def = ctx.defaultInterface
  if (def?.gateway !== undefined) routes.push({ table: 'main', dst: 'default', via: def.gateway, dev: def.dev })
  for (const r of ctx.cfg.staticRoutes) {
    const cidr = parseCidr(r.cidr)
    routes.push({ table: 'main', dst: cidr ? formatNetwork(cidr) : r.cidr, via: r.via })
  }
  // An internal site off the management link goes through that link's gateway (localgw), as
  // CloudStack routes its allowedInternalSites; one on the link, or inside a static route's
  // network (the operator's own route wins), gets none.
  const routed = ctx.cfg.staticRoutes.flatMap((r) => parseCidr(r.cidr) ?? [])
  for (const m of ctx.managementInterfaces) {
    if (m.gateway === undefined) continue
    const connected = ctx.cfg.interfaces.find((i) => i.id === m.id)?.addresses.flatMap((a) => parseCidr(a) ?? []) ?? []
    for (const site of ctx.cfg.internalSites) {
      const cidr = parseCidr(site.cidr)
      if (cidr === undefined || connected.some((c) => cidrsOverlap(c, cidr)) || routed.some((r) => cidrContainsNetwork(r, cidr))) continue
      routes.push({ table: 'main', dst: site.cidr, via: m.gateway, dev: m.dev })
    }
  }
  if (ctx.publicInterfaces.length > 0) {
    rules.push({ priority: RULE_PRIORITY.suppressMain, selector: [], table: 'main', suppressPrefixLength: 0 })
  }
  ctx.publicInterfaces.forEach((pub, k) => {
    if (pub.gateway === undefined) return
    routes.push({ table: pub.mark, dst: 'default', via: pub.gateway, dev: pub.dev })
    rules.push({ priority: RULE_PRIORITY.fwmark + k, selector: ['fwmark', `0x${pub.mark.toString(16)}/${MARK_MASK}`], table: pub.mark })
    for (const ip of pub.ips) rules.push({ priority: RULE_PRIORITY.fromIp + k, selector: ['from', ip.ip], table: pub.mark })
  })
  return { links, addresses, routes, rules, managedDevs: links.map((l) => l.dev) }
}

/** Whether network `outer` holds all of `inner`. */
function cidrContainsNetwork(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && cidrContains(outer, inner.address)
}
