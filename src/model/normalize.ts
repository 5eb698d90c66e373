import type {
  EgressRule, FirewallRule, GuestNetwork, InterfaceSpec, PortForward, PortRange, PublicIp, RouterConfig,
  RuleProtocol, StaticNat, StaticRoute,
} from './config.ts'

/**
 * The config with every default filled in and every collection in canonical order (by id), so
 * renderers never branch on a missing field and the same document always renders the same bytes.
 */

export interface Ports { start: number; end: number }

export interface NInterface extends Omit<InterfaceSpec, 'addresses' | 'mac'> { mac?: string; addresses: string[] }
export interface NPublicIp extends Omit<PublicIp, 'sourceNat'> { sourceNat: boolean }
export interface NGuestNetwork extends Omit<GuestNetwork, 'dnsServers' | 'egressDefault'> {
  dnsServers: string[]
  egressDefault: 'allow' | 'deny'
}
export type NStaticNat = StaticNat
export interface NPortForward extends Omit<PortForward, 'publicPorts' | 'privatePorts' | 'sourceCidrs'> {
  publicPorts: Ports
  privatePorts: Ports
  sourceCidrs: string[]
}
export interface NMatch {
  protocol: RuleProtocol
  ports?: Ports
  icmpType?: number
  icmpCode?: number
}
export interface NFirewallRule extends NMatch { id: string; publicIp: string; sourceCidrs: string[] }
export interface NEgressRule extends NMatch { id: string; network: string; sourceCidrs: string[]; destinationCidrs: string[] }
export type NStaticRoute = StaticRoute

export interface NormalizedConfig {
  interfaces: NInterface[]
  publicIps: NPublicIp[]
  guestNetworks: NGuestNetwork[]
  staticNats: NStaticNat[]
  portForwards: NPortForward[]
  firewallRules: NFirewallRule[]
  egressRules: NEgressRule[]
  staticRoutes: NStaticRoute[]
  defaultInterface?: string
}

export const ANYWHERE = '0.0.0.0/0'

export function normalizePorts(range: PortRange): Ports {
  return { start: range.start, end: range.end ?? range.start }
}

function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

function normalizeMatch(rule: Pick<FirewallRule, 'protocol' | 'ports' | 'icmpType' | 'icmpCode'>): NMatch {
  const match: NMatch = { protocol: rule.protocol }
  if (rule.ports !== undefined) match.ports = normalizePorts(rule.ports)
  if (rule.icmpType !== undefined) match.icmpType = rule.icmpType
  if (rule.icmpCode !== undefined) match.icmpCode = rule.icmpCode
  return match
}

// Memoized on the input object (never mutated): an edit of one item among 10,000 renormalizes
// one item, and the renderer's own per-item caches (keyed on these results) stay valid.
const forwardMemo = new WeakMap<PortForward, NPortForward>()
const firewallMemo = new WeakMap<FirewallRule, NFirewallRule>()

function normalizePortForward(r: PortForward): NPortForward {
  let n = forwardMemo.get(r)
  if (n === undefined) {
    n = { ...r, publicPorts: normalizePorts(r.publicPorts), privatePorts: normalizePorts(r.privatePorts), sourceCidrs: [...(r.sourceCidrs ?? [ANYWHERE])] }
    forwardMemo.set(r, n)
  }
  return n
}

function normalizeFirewallRule(r: FirewallRule): NFirewallRule {
  let n = firewallMemo.get(r)
  if (n === undefined) {
    n = { id: r.id, publicIp: r.publicIp, ...normalizeMatch(r), sourceCidrs: [...(r.sourceCidrs ?? [ANYWHERE])] }
    firewallMemo.set(r, n)
  }
  return n
}

/** Pure. Fills defaults, lower-cases MACs and sorts every collection by id. */
export function normalizeConfig(config: RouterConfig): NormalizedConfig {
  const networks = byId(config.guestNetworks)
  const out: NormalizedConfig = {
    interfaces: byId(config.interfaces).map((i) => {
      const n: NInterface = { ...i, addresses: [...(i.addresses ?? [])] }
      if (i.mac !== undefined) n.mac = i.mac.toLowerCase()
      return n
    }),
    publicIps: byId(config.publicIps).map((p) => ({ ...p, sourceNat: p.sourceNat ?? false })),
    guestNetworks: networks.map((n) => ({ ...n, dnsServers: [...(n.dnsServers ?? [])], egressDefault: n.egressDefault ?? 'allow' })),
    staticNats: byId(config.staticNats),
    // Forwards never overlap, and the renderer orders them by port: input order cannot show.
    portForwards: config.portForwards.map(normalizePortForward),
    firewallRules: byId(config.firewallRules).map(normalizeFirewallRule),
    egressRules: byId(config.egressRules).map((r: EgressRule) => {
      const network = networks.find((n) => n.id === r.network)
      return {
        id: r.id, network: r.network, ...normalizeMatch(r),
        sourceCidrs: [...(r.sourceCidrs ?? (network ? [network.cidr] : []))],
        destinationCidrs: [...(r.destinationCidrs ?? [ANYWHERE])],
      }
    }),
    staticRoutes: byId(config.staticRoutes),
  }
  if (config.defaultInterface !== undefined) out.defaultInterface = config.defaultInterface
  return out
}
