import {
  broadcastOf, formatNetwork, networkOf, parseCidr, parseIpv4, reservedKind, reservedOverlap, type Cidr,
} from '../../../core/ipv4.ts'
import type { CollectionItem, CollectionName, InterfaceSpec, RouterConfig } from '../config.ts'
import { resolveLinkName, type HostFacts } from '../facts.ts'
import { parseNetworkCidr, type ParsedNetwork } from './fields.ts'

/**
 * What the section builders read of the document's index (check/index.ts ConfigIndex, which
 * builds each section on first use): declared here so the builders do not depend on the index.
 */
export interface IndexedDocument {
  readonly config: RouterConfig
  readonly facts: HostFacts | undefined
  scan<C extends CollectionName>(collection: C, fn: (item: CollectionItem<C>, index: number) => void): void
  readonly guestNetworks: GuestNetworkSection
  readonly publicIps: PublicIpSection
  networkContaining(address: number): { index: number } | undefined
}

/**
 * The sections of the index (index.ts): what several domain checks need from one collection or
 * more, computed once and in document order, so that "the first item holding X" means what the
 * whole check always meant. Each builder is pure and visits items through `ix.scan`, which counts.
 */

export interface LinkSection {
  links: (string | undefined)[]
  firstClaim: Map<string, number>
}

export interface PublicIpEntry { index: number; sourceNat: boolean; cidr: Cidr }

export interface PublicIpSection {
  /** Per item: why its ip cannot be a public address (the message of ERR_ADDRESS_RESERVED), when it cannot. */
  refused: (string | undefined)[]
  /** The first item holding each ip that is not refused, in document order; later ones are duplicates. */
  byIp: Map<string, PublicIpEntry>
  /** The first item that is not refused with sourceNat on, per interface id. */
  sourceNatByInterface: Map<string, number>
}

export interface NetworkEntry {
  /** The CIDR when it names a network (host bits clear), else why not (the message of ERR_BAD_CIDR). */
  parsed: ParsedNetwork
  /** The reserved block a well-formed CIDR overlaps. */
  reserved: string | undefined
  /** The CIDR parsed as an address with a prefix, host bits or not: what DHCP settings and hosts are checked against. */
  loose: Cidr | undefined
  router: number | undefined
}

export interface GuestNetworkSection {
  items: NetworkEntry[]
  /** The networks with a usable CIDR, in document order: where guest addresses live. */
  valid: { id: string; cidr: Cidr; index: number }[]
  /** The first network on each interface id. */
  byInterface: Map<string, number>
  ids: Set<string>
  /** Per network id, the last network with it (a Map built in order keeps the last): what DHCP hosts refer to. */
  byId: Map<string, number>
}

export interface OwnAddressSection {
  /** Every address the router holds and what holds it (e.g. "the router IP of /guestNetworks/0"). */
  owners: Map<number, string>
  /** Interface addresses already held when their turn came, keyed "i/j": the holder. */
  takenInterfaceAddresses: Map<string, string>
  /** Accepted public IPs the router cannot hold: the holder, or the guest network the address is inside. */
  publicIpConflicts: Map<number, { owner: string } | { guestNetwork: number }>
}

/** The sections an index has built. */
export interface Sections {
  interfaceById?: Map<string, InterfaceSpec>
  links?: LinkSection
  publicIps?: PublicIpSection
  publicIpsByInterface?: Map<string, PublicIpEntry[]>
  guestNetworks?: GuestNetworkSection
  ownAddresses?: OwnAddressSection
  connected?: Cidr[]
  routeCidrs?: ParsedNetwork[]
}

export function indexInterfaceIds(ix: IndexedDocument): Map<string, InterfaceSpec> {
  const map = new Map<string, InterfaceSpec>()
  ix.scan('interfaces', (i) => { map.set(i.id, i) })
  return map
}

export function indexLinks(ix: IndexedDocument): LinkSection {
  const firstClaim = new Map<string, number>()
  const links: (string | undefined)[] = []
  ix.scan('interfaces', (iface, i) => {
    const link = ix.facts === undefined || (iface.mac === undefined && iface.name === undefined) ? undefined : resolveLinkName(ix.facts, iface)
    if (link !== undefined && !firstClaim.has(link)) firstClaim.set(link, i)
    links.push(link)
  })
  return { links, firstClaim }
}

export function indexPublicIps(ix: IndexedDocument): PublicIpSection {
  const section: PublicIpSection = { refused: [], byIp: new Map(), sourceNatByInterface: new Map() }
  ix.scan('publicIps', (p, i) => {
    const address = parseIpv4(p.ip)
    const reserved = address === undefined ? undefined : reservedKind(address)
    const subnet = address === undefined ? undefined : { address, prefix: p.prefixLength }
    const refused = reserved !== undefined ? `${p.ip} is ${reserved}, not a public address`
      : subnet !== undefined && subnet.prefix < 31 && (subnet.address === networkOf(subnet) || subnet.address === broadcastOf(subnet))
        ? `${p.ip} is the network or broadcast address of ${formatNetwork(subnet)}`
        : undefined
    section.refused.push(refused)
    if (refused !== undefined) return
    if (subnet !== undefined && !section.byIp.has(p.ip)) section.byIp.set(p.ip, { index: i, sourceNat: p.sourceNat ?? false, cidr: subnet })
    if (p.sourceNat === true && !section.sourceNatByInterface.has(p.interface)) section.sourceNatByInterface.set(p.interface, i)
  })
  return section
}

export function indexPublicIpsByInterface(ix: IndexedDocument): Map<string, PublicIpEntry[]> {
  const map = new Map<string, PublicIpEntry[]>()
  for (const entry of ix.publicIps.byIp.values()) {
    const iface = ix.config.publicIps[entry.index]?.interface ?? ''
    const list = map.get(iface)
    if (list === undefined) map.set(iface, [entry])
    else list.push(entry)
  }
  return map
}

export function indexGuestNetworks(ix: IndexedDocument): GuestNetworkSection {
  const section: GuestNetworkSection = { items: [], valid: [], byInterface: new Map(), ids: new Set(), byId: new Map() }
  ix.scan('guestNetworks', (n, i) => {
    const parsed = parseNetworkCidr(n.cidr)
    const reserved = 'cidr' in parsed ? reservedOverlap(parsed.cidr) : undefined
    section.items.push({ parsed, reserved, loose: parseCidr(n.cidr), router: parseIpv4(n.routerIp) })
    if ('cidr' in parsed && reserved === undefined) section.valid.push({ id: n.id, cidr: parsed.cidr, index: i })
    if (!section.byInterface.has(n.interface)) section.byInterface.set(n.interface, i)
    section.ids.add(n.id)
    section.byId.set(n.id, i)
  })
  return section
}

/**
 * Who holds each of the router's own addresses, in the order they are claimed: the router IP
 * of each usable guest network (a later network's wins), then interface addresses, then public
 * IPs outside every guest network; an address already held is a conflict of the later claim.
 */
export function indexOwnAddresses(ix: IndexedDocument): OwnAddressSection {
  const section: OwnAddressSection = { owners: new Map(), takenInterfaceAddresses: new Map(), publicIpConflicts: new Map() }
  const { owners } = section
  for (const n of ix.guestNetworks.valid) {
    const router = ix.guestNetworks.items[n.index]?.router
    if (router !== undefined) owners.set(router, `the router IP of /guestNetworks/${n.index}`)
  }
  ix.scan('interfaces', (iface, i) => iface.addresses?.forEach((a, j) => {
    const cidr = parseCidr(a)
    if (cidr === undefined) return
    const owner = owners.get(cidr.address)
    if (owner !== undefined) section.takenInterfaceAddresses.set(`${i}/${j}`, owner)
    else owners.set(cidr.address, `an address of /interfaces/${i}`)
  }))
  for (const { index, cidr } of ix.publicIps.byIp.values()) {
    const owner = owners.get(cidr.address)
    const guest = ix.networkContaining(cidr.address)
    if (owner !== undefined) section.publicIpConflicts.set(index, { owner })
    else if (guest !== undefined) section.publicIpConflicts.set(index, { guestNetwork: guest.index })
    else owners.set(cidr.address, `public IP /publicIps/${index}`)
  }
  return section
}

export function indexConnected(ix: IndexedDocument): Cidr[] {
  const connected = [...ix.guestNetworks.valid.map((n) => n.cidr), ...[...ix.publicIps.byIp.values()].map((p) => p.cidr)]
  ix.scan('interfaces', (iface) => {
    for (const a of iface.addresses ?? []) {
      const cidr = parseCidr(a)
      if (cidr) connected.push(cidr)
    }
  })
  return connected
}

export function indexRouteCidrs(ix: IndexedDocument): ParsedNetwork[] {
  const parsed: ParsedNetwork[] = []
  ix.scan('staticRoutes', (r) => { parsed.push(parseNetworkCidr(r.cidr)) })
  return parsed
}
