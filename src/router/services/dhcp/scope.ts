import type { RouterConfig } from '../../model/config.ts'
import { resolveLinkName, type HostFacts } from '../../model/facts.ts'
import { broadcastOf, maskOf, parseCidr, parseIpv4, type Cidr } from '../../../core/ipv4.ts'
import { METADATA_ADDRESS } from '../../render/names.ts'
import type { ClasslessRoute } from './options.ts'

/**
 * What the DHCP server needs to know about one guest network, compiled once per config from
 * the document: addresses as numbers, hosts by MAC, defaults filled in. Pure.
 */

const DEFAULT_LEASE_SECONDS = 86_400
const METADATA_ADDRESS_VALUE = parseIpv4(METADATA_ADDRESS) as number
/** The lease time that means "never expires" on the wire. */
export const INFINITE_LEASE = 0xffffffff

export interface DhcpHostEntry {
  id: string
  mac: string
  ip: number
  hostname: string | undefined
  /** A non-default NIC gets no router, DNS servers or domain (CloudStack's dhcpopts). */
  isDefault: boolean
  dnsServers: readonly number[]
  routes: readonly ClasslessRoute[]
  leaseSeconds: number
}

export interface DhcpScope {
  networkId: string
  /** Kernel link the network is on; undefined while the interface is absent. */
  link: string | undefined
  cidr: Cidr
  /** The router's address on the network: server identifier and source of replies. */
  serverId: number
  mask: number
  broadcast: number
  gateway: number | undefined
  /**
   * Classless routes every default NIC gets: the metadata address through this appliance when
   * the network's gateway is someone else (a dhcpsrvr's shared network), so guests still reach it.
   */
  routes: readonly ClasslessRoute[]
  dnsServers: readonly number[]
  domain: string | undefined
  search: readonly string[]
  ntpServers: readonly number[]
  mtu: number | undefined
  leaseSeconds: number
  range: { start: number; end: number } | undefined
  hostsByMac: ReadonlyMap<string, DhcpHostEntry>
  /** Addresses the dynamic range never hands out: every host's, the router's and the gateway's. */
  reserved: ReadonlySet<number>
  /** The relay agents this network accepts relayed messages from (their own addresses). */
  relays: ReadonlySet<number>
}

function addresses(list: readonly string[] | undefined): number[] {
  return (list ?? []).map(parseIpv4).filter((a): a is number => a !== undefined)
}

/** Pure. One scope per guest network that serves DHCP, for a config that passed checkConfig. */
export function compileScopes(config: RouterConfig, facts: HostFacts): DhcpScope[] {
  const hostsByNetwork = new Map<string, DhcpHostEntry[]>()
  const scopes: DhcpScope[] = []
  for (const h of config.dhcpHosts) {
    const ip = parseIpv4(h.ip)
    if (ip === undefined) continue
    const routes: ClasslessRoute[] = []
    for (const r of h.staticRoutes ?? []) {
      const dest = parseCidr(r.destination)
      const gateway = parseIpv4(r.gateway)
      if (dest !== undefined && gateway !== undefined) routes.push({ destination: dest.address, prefix: dest.prefix, gateway })
    }
    const entry: DhcpHostEntry = {
      id: h.id, mac: h.mac.toLowerCase(), ip, hostname: h.hostname, isDefault: h.default ?? true,
      dnsServers: addresses(h.dnsServers), routes, leaseSeconds: h.leaseSeconds ?? -1,
    }
    const list = hostsByNetwork.get(h.network)
    if (list === undefined) hostsByNetwork.set(h.network, [entry])
    else list.push(entry)
  }
  for (const n of config.guestNetworks) {
    const dhcp = n.dhcp ?? {}
    if (dhcp.enabled === false) continue
    const cidr = parseCidr(n.cidr)
    const serverId = parseIpv4(n.routerIp)
    if (cidr === undefined || serverId === undefined) continue
    const iface = config.interfaces.find((i) => i.id === n.interface)
    const servesDns = n.dns?.enabled !== false
    const gateway = dhcp.gateway === undefined ? serverId : parseIpv4(dhcp.gateway)
    const leaseSeconds = dhcp.leaseSeconds ?? DEFAULT_LEASE_SECONDS
    const hosts = hostsByNetwork.get(n.id) ?? []
    const reserved = new Set<number>([serverId, ...hosts.map((h) => h.ip)])
    if (gateway !== undefined) reserved.add(gateway)
    const rangeStart = dhcp.range === undefined ? undefined : parseIpv4(dhcp.range.start)
    const rangeEnd = dhcp.range === undefined ? undefined : parseIpv4(dhcp.range.end)
    scopes.push({
      networkId: n.id,
      link: iface === undefined ? undefined : resolveLinkName(facts, iface),
      cidr,
      serverId,
      mask: maskOf(cidr.prefix),
      broadcast: broadcastOf(cidr),
      gateway,
      routes: n.metadata?.enabled !== false && gateway !== serverId ? [{ destination: METADATA_ADDRESS_VALUE, prefix: 32, gateway: serverId }] : [],
      dnsServers: dhcp.dnsServers !== undefined ? addresses(dhcp.dnsServers) : servesDns ? [serverId] : addresses(n.dnsServers),
      domain: n.domain,
      search: dhcp.searchDomains ?? [],
      ntpServers: addresses(dhcp.ntpServers),
      mtu: dhcp.mtu ?? iface?.mtu,
      leaseSeconds,
      range: rangeStart === undefined || rangeEnd === undefined ? undefined : { start: rangeStart, end: rangeEnd },
      hostsByMac: new Map(hosts.map((h) => [h.mac, h.leaseSeconds === -1 ? { ...h, leaseSeconds } : h])),
      reserved,
      relays: new Set(addresses(dhcp.relays)),
    })
  }
  return scopes
}
