import { formatNetwork, parseCidr, parseIpv4 } from '../../core/ipv4.ts'
import { memoize } from '../../core/memo.ts'
import type {
  DhcpHost, EgressRule, FirewallRule, GuestNetwork, InterfaceSpec, LoadBalancer, PortForward, PortRange, PublicIp, RouterConfig,
  RuleProtocol, StaticNat, StaticRoute,
} from './config.ts'

/**
 * The config with every default filled in and every collection in canonical order (by id), so
 * renderers never branch on a missing field and the same document always renders the same bytes.
 */

export interface Ports { start: number; end: number }

export interface NInterface extends Omit<InterfaceSpec, 'addresses' | 'mac'> { mac?: string; addresses: string[] }
export interface NPublicIp extends Omit<PublicIp, 'sourceNat'> { sourceNat: boolean }
export interface NGuestNetwork extends Omit<GuestNetwork, 'dnsServers' | 'egressDefault' | 'metadata'> {
  dnsServers: string[]
  egressDefault: 'allow' | 'deny'
  /** Metadata, user data and passwords served on the router IP. */
  metadata: boolean
}
/** What the kernel admits to a network's metadata ports: a VM's address with its NIC's MAC (lower case). */
export interface NDhcpHost { network: string; ip: string; mac: string }
export type NStaticNat = StaticNat
/**
 * Ports as plain numbers rather than Ports objects, and the default source list shared: 10,000
 * forwards stay in memory as long as they are configured, and each object less is ~1 MB less.
 */
export interface NPortForward {
  id: string
  publicIp: string
  protocol: 'tcp' | 'udp'
  publicStart: number
  publicEnd: number
  privateIp: string
  privateStart: number
  privateEnd: number
  sourceCidrs: readonly string[]
}
/** Every field present (undefined when absent) so all rules share one object shape. */
export interface NMatch {
  protocol: RuleProtocol
  ports: Ports | undefined
  icmpType: number | undefined
  icmpCode: number | undefined
}
export interface NFirewallRule extends NMatch { id: string; publicIp: string; sourceCidrs: readonly string[] }
export interface NEgressRule extends NMatch { id: string; network: string; sourceCidrs: string[]; destinationCidrs: string[] }
export type NStaticRoute = StaticRoute
/** An internal site with its network in canonical form (host bits cleared). */
export interface NInternalSite { id: string; cidr: string }
export interface NLbBackend {
  ip: string
  /** Its first private port. */
  port: number
  weight: number
  /** `<load balancer id> <ip>:<port>`: how health and run-time facts name it. */
  key: string
}
export interface NLoadBalancer {
  id: string
  publicIp: string
  protocol: 'tcp' | 'udp'
  publicStart: number
  publicEnd: number
  privateStart: number
  privateEnd: number
  mode: 'l4' | 'http' | 'tls'
  algorithm: 'roundrobin' | 'leastconn' | 'source'
  /** By address (numerically), then port. */
  backends: NLbBackend[]
  /** l4: how long a client stays on its backend (stickiness source, or algorithm source), else undefined. */
  affinitySeconds: number | undefined
  sourceCidrs: readonly string[]
  sourceNat: boolean
}

export interface NormalizedConfig {
  interfaces: NInterface[]
  publicIps: NPublicIp[]
  guestNetworks: NGuestNetwork[]
  staticNats: NStaticNat[]
  portForwards: NPortForward[]
  firewallRules: NFirewallRule[]
  egressRules: NEgressRule[]
  staticRoutes: NStaticRoute[]
  /** By network id, then by address (numerically). */
  dhcpHosts: NDhcpHost[]
  loadBalancers: NLoadBalancer[]
  internalSites: NInternalSite[]
  defaultInterface?: string
}

export const ANYWHERE = '0.0.0.0/0'
/** The source list of every item that names none (shared, never changed). */
const FROM_ANYWHERE: readonly string[] = Object.freeze([ANYWHERE])

export function normalizePorts(range: PortRange): Ports {
  return { start: range.start, end: range.end ?? range.start }
}

function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

function normalizeMatch(rule: Pick<FirewallRule, 'protocol' | 'ports' | 'icmpType' | 'icmpCode'>): NMatch {
  return {
    protocol: rule.protocol,
    ports: rule.ports === undefined ? undefined : normalizePorts(rule.ports),
    icmpType: rule.icmpType,
    icmpCode: rule.icmpCode,
  }
}

// Large collections are normalized once per input object (items are never mutated: an edit
// replaces the object; core/memo.ts), and into objects of one fixed shape so the renderers'
// property reads stay monomorphic. An edit of one item among 10,000 normalizes one item.
/** Pure. One forward normalized (memoized on the item, as in normalizeConfig). */
export const normalizePortForward = memoize((x: PortForward): NPortForward => ({
  id: x.id, publicIp: x.publicIp, protocol: x.protocol,
  publicStart: x.publicPorts.start, publicEnd: x.publicPorts.end ?? x.publicPorts.start,
  privateIp: x.privateIp,
  privateStart: x.privatePorts.start, privateEnd: x.privatePorts.end ?? x.privatePorts.start,
  sourceCidrs: x.sourceCidrs === undefined ? FROM_ANYWHERE : [...x.sourceCidrs],
}))

/** How long a client keeps its backend when affinity is asked for without a timeout. */
export const DEFAULT_AFFINITY_SECONDS = 3600

/** Pure. The key health checks and run-time facts name a backend by. */
export function backendKey(lbId: string, ip: string, port: number): string {
  return `${lbId} ${ip}:${port}`
}

/** Pure. One load balancer normalized (memoized on the item). */
export const normalizeLoadBalancer = memoize((x: LoadBalancer): NLoadBalancer => {
  const privateStart = x.privatePorts.start
  const mode = x.mode ?? 'l4'
  const algorithm = x.algorithm ?? 'roundrobin'
  const sticky = x.stickiness?.kind === 'source' ? x.stickiness.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS : undefined
  return {
    id: x.id, publicIp: x.publicIp, protocol: x.protocol,
    publicStart: x.publicPorts.start, publicEnd: x.publicPorts.end ?? x.publicPorts.start,
    privateStart, privateEnd: x.privatePorts.end ?? privateStart,
    mode, algorithm,
    backends: x.backends
      .map((b) => ({ ip: b.ip, port: b.port ?? privateStart, weight: b.weight ?? 1, key: backendKey(x.id, b.ip, b.port ?? privateStart), address: parseIpv4(b.ip) ?? 0 }))
      .sort((a, b) => a.address - b.address || a.port - b.port)
      .map(({ address: _a, ...b }) => b),
    affinitySeconds: mode === 'l4' ? sticky ?? (algorithm === 'source' ? DEFAULT_AFFINITY_SECONDS : undefined) : undefined,
    sourceCidrs: x.sourceCidrs === undefined ? FROM_ANYWHERE : [...x.sourceCidrs],
    sourceNat: x.sourceNat ?? false,
  }
})

const normalizeFirewallRule = memoize((x: FirewallRule): NFirewallRule => (
  { ...normalizeMatch(x), id: x.id, publicIp: x.publicIp, sourceCidrs: x.sourceCidrs === undefined ? FROM_ANYWHERE : [...x.sourceCidrs] }))

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
    guestNetworks: networks.map(({ metadata, ...n }) => ({
      ...n, dnsServers: [...(n.dnsServers ?? [])], egressDefault: n.egressDefault ?? 'allow', metadata: metadata?.enabled ?? true,
    })),
    staticNats: byId(config.staticNats),
    // Forwards never overlap, and the renderer orders them by port: input order cannot show.
    portForwards: config.portForwards.map((r) => normalizePortForward(r)),
    firewallRules: byId(config.firewallRules).map((r) => normalizeFirewallRule(r)),
    egressRules: byId(config.egressRules).map((r: EgressRule) => {
      const network = networks.find((n) => n.id === r.network)
      return {
        ...normalizeMatch(r), id: r.id, network: r.network,
        sourceCidrs: [...(r.sourceCidrs ?? (network ? [network.cidr] : []))],
        destinationCidrs: [...(r.destinationCidrs ?? [ANYWHERE])],
      }
    }),
    staticRoutes: byId(config.staticRoutes),
    dhcpHosts: byNetworkAndAddress(config.dhcpHosts),
    loadBalancers: byId(config.loadBalancers ?? []).map((r) => normalizeLoadBalancer(r)),
    internalSites: byId(config.internalSites ?? []).map((x) => {
      const cidr = parseCidr(x.cidr)
      return { id: x.id, cidr: cidr === undefined ? x.cidr : formatNetwork(cidr) }
    }),
  }
  if (config.defaultInterface !== undefined) out.defaultInterface = config.defaultInterface
  return out
}

/** The hosts as NDhcpHost, by network id, then by address (each address parsed once). */
function byNetworkAndAddress(hosts: readonly DhcpHost[]): NDhcpHost[] {
  return hosts
    .map((h) => ({ host: { network: h.network, ip: h.ip, mac: h.mac.toLowerCase() }, address: parseIpv4(h.ip) ?? 0 }))
    .sort((a, b) => (a.host.network !== b.host.network ? (a.host.network < b.host.network ? -1 : 1) : a.address - b.address))
    .map((x) => x.host)
}
